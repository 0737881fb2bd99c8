"""The placeholder app, driven through Streamlit's AppTest with the tiny model."""

from streamlit.testing.v1 import AppTest

from model.schema import CATEGORIES
from tests.conftest import REPO_ROOT


def test_pasted_email_is_triaged_and_shown(tiny_base_dir, monkeypatch):
    monkeypatch.setenv("ACEDESK_BASE_MODEL", str(tiny_base_dir))
    monkeypatch.setenv("ACEDESK_ADAPTER", "")
    app = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=120)
    app.run()
    assert not app.exception
    app.text_area[0].set_value("I forgot my password, my username is tk_2009")
    app.button[0].click()
    app.run()
    assert not app.exception
    assert app.metric[0].value in CATEGORIES
    assert app.text_area[1].value  # the proposed reply


def test_model_page_explains_a_missing_adapter(tmp_path, monkeypatch):
    monkeypatch.setenv("ACEDESK_ADAPTER", str(tmp_path / "none"))
    app = AppTest.from_file(str(REPO_ROOT / "pages/1_Model.py")).run()
    assert not app.exception
    assert "No adapter" in app.info[0].value
