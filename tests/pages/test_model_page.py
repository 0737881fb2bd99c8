"""The Active model page, through Streamlit's AppTest: the adapter, and agreement from decisions
made on real demo tickets in the store (and the inbox's warning when it drops)."""

import os
import shutil

from streamlit.testing.v1 import AppTest

from core.settings import load_settings
from model.metadata import DEFAULT_ADAPTER
from model.review import REVIEW_RULE_FILE, read_review_rule
from support.intake import fetch_eml_dir
from support.states import State
from support.store import TicketStore
from testbed.app import demo_inbox, triage_as_labelled
from tests.conftest import REPO_ROOT
from training import layout
from ui.inbox_plans import REJECT_REASONS
from ui.resources import desk_settings


def test_model_page_explains_a_missing_adapter(tmp_path, monkeypatch):
    monkeypatch.setenv("ACEDESK_ADAPTER", str(tmp_path / "none"))
    monkeypatch.setenv("ACEDESK_DATA_DIR", str(tmp_path))
    app = AppTest.from_file(str(REPO_ROOT / "pages/model.py"), default_timeout=60).run()
    assert not app.exception
    assert "No adapter" in app.info[0].value


def model_page(tmp_path, monkeypatch, adapter) -> AppTest:
    monkeypatch.setenv("ACEDESK_ADAPTER", str(adapter))
    monkeypatch.setenv("ACEDESK_DATA_DIR", str(tmp_path / "data"))
    app = AppTest.from_file(str(REPO_ROOT / "pages/model.py"), default_timeout=60).run()
    assert not app.exception
    return app


def test_the_model_page_says_when_the_adapters_answers_are_ready(tmp_path, monkeypatch):
    app = model_page(tmp_path, monkeypatch, DEFAULT_ADAPTER)
    rule = read_review_rule(DEFAULT_ADAPTER)
    [line] = [m.value for m in app.markdown if m.value.startswith("**Ready**")]
    assert f"at least {rule.thresholds.confidence:.0%} likely" in line and "chosen on training/data/dev.csv" in line
    assert any("which chose nothing: ready accuracy" in caption.value for caption in app.caption)


def test_an_adapter_nobody_chose_a_rule_for_is_flagged_and_a_broken_rule_named(tmp_path, monkeypatch):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    shutil.copy2(DEFAULT_ADAPTER / "acedesk.json", adapter)
    app = model_page(tmp_path, monkeypatch, adapter)
    assert "not chosen for this adapter" in app.warning[0].value and "choose_review_rule" in app.warning[0].value
    (adapter / REVIEW_RULE_FILE).write_text("{")
    app = model_page(tmp_path, monkeypatch, adapter)
    assert "review rule cannot be read" in app.error[0].value


def test_damaged_metrics_or_metadata_beside_the_adapter_never_take_the_page_down(tmp_path, monkeypatch):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    shutil.copy2(DEFAULT_ADAPTER / "acedesk.json", adapter)
    (adapter / layout.TRAIN_METRICS).write_text("{half")
    (adapter / layout.EVAL_METRICS).write_text("[1, 2]")
    app = model_page(tmp_path, monkeypatch, adapter)
    assert not [header for header in app.subheader if header.value in ("Training", "Evaluation")]
    (adapter / "acedesk.json").write_text("[]")
    app = model_page(tmp_path, monkeypatch, adapter)
    assert "metadata cannot be read" in app.error[0].value and "holds list" in app.error[0].value


def test_the_app_opens_on_the_inbox(tmp_path, monkeypatch):
    monkeypatch.setenv("ACEDESK_DATA_DIR", str(tmp_path))
    app = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=60).run()
    assert not app.exception
    assert app.title[0].value == "Inbox"


# -- agreement: the operator's verdict on the model -------------------------------------------------

ANNA_CANCELS, SARAH_RESET = "01-anna-cancel-injured.eml", "04-sarah-forgot-password.eml"
PIOTR_ADDS_SON, LENA_ASKS_ABOUT_FEES = "03-piotr-add-son-tk_2009.eml", "20-lena-cancellation-fee-question.eml"


def decided_desk(tmp_path, monkeypatch, **environment) -> TicketStore:
    """Four demo tickets, triaged with their labels and decided in the store: three kept the model's
    answer, one changed its category."""
    for name in [name for name in os.environ if name.startswith("ACEDESK_")]:
        monkeypatch.delenv(name)
    for name, value in {"ACEDESK_DATA_DIR": str(tmp_path / "data"), "ACEDESK_ADAPTER": str(tmp_path / "none"),
                        **environment}.items():
        monkeypatch.setenv(name, value)
    store = TicketStore(tmp_path / "data" / "acedesk.sqlite3")
    fetch_eml_dir(store, demo_inbox(tmp_path / "mail", [ANNA_CANCELS, SARAH_RESET, PIOTR_ADDS_SON,
                                                         LENA_ASKS_ABOUT_FEES]))
    triage_as_labelled(store, confidence=0.99)
    anna, piotr, sarah, lena = (ticket.id for ticket in store.tickets())
    store.save_approval(anna, {}, None, "operator")
    store.save_approval(sarah, {"fields": {"category": "other"}}, None, "operator")
    store.move(piotr, State.REJECTED, "operator", reason="duplicate of another ticket")
    store.move(lena, State.REJECTED, "operator", reason=REJECT_REASONS[0])
    return store


def test_the_agreement_view_per_week_and_category_with_the_ready_view_and_frequent_corrections(tmp_path,
                                                                                             monkeypatch):
    decided_desk(tmp_path, monkeypatch)
    app = AppTest.from_file(str(REPO_ROOT / "pages/model.py"), default_timeout=60).run()
    assert not app.exception, app.exception
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics == {"Agreement, last 7 days": "75%", "Agreement, all decisions": "75%",
                       "Ready view error rate": "25%"}
    [week] = app.dataframe[0].value.to_dict("records")
    assert {key: value for key, value in week.items() if key != "week"} == {
        "add_user": "100% (1)", "cancel_booking": "100% (1)", "other": "100% (1)", "reset_password": "0% (1)",
        "all categories": "75% (4)"}
    assert app.dataframe[1].value.to_dict("records") == [{"correction": "reset_password → other", "times": 1}]
    assert app.get("arrow_vega_lite_chart") or app.get("vega_lite_chart")


def test_no_decisions_yet_is_said_in_place_of_the_view(tmp_path, monkeypatch):
    monkeypatch.setenv("ACEDESK_ADAPTER", str(tmp_path / "none"))
    monkeypatch.setenv("ACEDESK_DATA_DIR", str(tmp_path))
    app = AppTest.from_file(str(REPO_ROOT / "pages/model.py"), default_timeout=60).run()
    assert not app.exception
    assert "No decided tickets yet" in app.info[1].value and not app.metric


def test_the_inbox_warns_when_recent_agreement_drops_below_the_set_level(tmp_path, monkeypatch):
    decided_desk(tmp_path, monkeypatch, ACEDESK_AGREEMENT_ALERT="0.8", ACEDESK_AGREEMENT_MIN_DECISIONS="4")
    app = AppTest.from_file(str(REPO_ROOT / "pages/inbox.py"), default_timeout=90).run()
    assert not app.exception, app.exception
    [warning] = [element.value for element in app.warning if "accepted the model's" in element.value]
    assert "in 75% of the last 7 days' 4 decisions, below 80%" in warning

    monkeypatch.setenv("ACEDESK_AGREEMENT_MIN_DECISIONS", "5")  # four decisions say too little
    load_settings.cache_clear()
    desk_settings.clear()
    app = AppTest.from_file(str(REPO_ROOT / "pages/inbox.py"), default_timeout=90).run()
    assert not [element for element in app.warning if "accepted the model's" in element.value]


def test_a_wrong_setting_is_named_without_its_value(tmp_path, monkeypatch):
    monkeypatch.setenv("ACEDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ACEDESK_SMTP_HOST", "smtp.example.org")  # without ACEDESK_SMTP_FROM
    monkeypatch.setenv("ACEDESK_SMTP_PASSWORD", "hunter2-smtp")
    app = AppTest.from_file(str(REPO_ROOT / "pages/model.py"), default_timeout=60).run()
    assert not app.exception
    [error] = [element.value for element in app.error]
    assert "A setting is wrong" in error and "ACEDESK" in error and "SMTP" in error and "hunter2-smtp" not in error


def test_a_damaged_promotion_is_named_and_the_default_shown(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "data/active_model.json").write_text('{"adapter": "/etc", "base_model": null}')
    app = model_page(tmp_path, monkeypatch, DEFAULT_ADAPTER)
    warning = app.warning[0].value
    assert warning.startswith("The promoted model is not used") and "outside the shipped adapters" in warning
    assert f"**Adapter:** `{DEFAULT_ADAPTER}`" in app.markdown[0].value  # what the inbox really runs
    (tmp_path / "data/active_model.json").write_text("{")
    app = model_page(tmp_path, monkeypatch, DEFAULT_ADAPTER)
    assert "cannot be read" in app.warning[0].value
