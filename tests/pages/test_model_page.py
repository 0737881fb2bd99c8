"""The Active model page, through Streamlit's AppTest."""

from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT


def test_model_page_explains_a_missing_adapter(tmp_path, monkeypatch):
    monkeypatch.setenv("ACEDESK_ADAPTER", str(tmp_path / "none"))
    monkeypatch.setenv("ACEDESK_DATA_DIR", str(tmp_path))
    app = AppTest.from_file(str(REPO_ROOT / "pages/model.py"), default_timeout=60).run()
    assert not app.exception
    assert "No adapter" in app.info[0].value


def test_the_app_opens_on_the_inbox(tmp_path, monkeypatch):
    monkeypatch.setenv("ACEDESK_DATA_DIR", str(tmp_path))
    app = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=60).run()
    assert not app.exception
    assert app.title[0].value == "Inbox"
