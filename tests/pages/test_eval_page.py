"""The Eval page through Streamlit's AppTest, on the tiny random Llama: an adapter trained here
with checkpoints, a chat, a real evaluation process, a comparison and a promotion."""

import json
import os
import shutil
import signal
import time

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from model.metadata import write_metadata
from model.review import REVIEW_RULE_FILE, ReviewRule, ReviewThresholds, write_review_rule
from model.schema import CATEGORIES
from tests.conftest import REPO_ROOT
from tests.training.test_data_checks_hostile import JARGON
from tests.training.test_evaluate_checks import MESSES, TOO_MANY_ROWS, messy_csv, too_many_rows_csv
from tests.ui.test_eval_helpers import readable_adapter
from training import eval_jobs
from training.choose_review_rule import RULE_DATA
from training.config import TrainConfig
from training.evaluate import load_rows
from training.finetune_lora import setup
from training.jobs import JobState, read_job, stop_job
from training.layout import JOB_FILE, METRICS_FILE, evals_root
from ui import resources
from ui.errors import plain
from ui.eval_views import CSV_ADVICE, SERVER_FILE, UPLOAD

EMAIL = "From: Anna <anna@example.org>\nSubject: Cancel\n\nPlease cancel my booking BK-12345."
EVAL_ROWS = [
    ("anna@example.com", "New member", "Please add Tom Berg, tom@example.com", "add_user", "", ""),
    ("ben@example.com", "Password", "I forgot my password. My username is bennyb", "reset_password", "bennyb", ""),
    ("cara@example.com", "Cancel", "Please cancel booking BK-12345", "cancel_booking", "", "BK-12345"),
    ("dan@example.com", "Move", "Move BK-54321 to Saturday 10am", "modify_booking", "", "BK-54321"),
    ("eve@example.com", "Hello", "When does the summer party start?", "other", "", ""),
]


@pytest.fixture(scope="module")
def runs_dir(tiny_base_dir, tmp_path_factory):
    """A runs folder with one tiny run: checkpoint-2, checkpoint-4 and its final adapter."""
    runs = tmp_path_factory.mktemp("runs")
    train = runs.parent / "ten.csv"
    pd.read_csv(REPO_ROOT / "training/data/train.csv", keep_default_na=False).head(10).to_csv(train, index=False)
    setup(TrainConfig(base_model=str(tiny_base_dir), train_file=str(train), val_file="", out_dir=str(runs / "tiny"),
                      batch_size=4, max_steps=4, logging_steps=1, save_steps=2, learning_rate=1e-3, lora_r=4,
                      lora_alpha=8))
    return runs


@pytest.fixture
def app(runs_dir, tiny_base_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ACEDESK_BASE_MODEL", str(tiny_base_dir))
    monkeypatch.setenv("ACEDESK_ADAPTER", "")
    monkeypatch.setenv("ACEDESK_RUNS_DIR", str(runs_dir))
    monkeypatch.setenv("ACEDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ACEDESK_THREADS", "1")
    app = AppTest.from_file(str(REPO_ROOT / "pages/eval.py"), default_timeout=120).run()
    assert not app.exception
    yield app
    resources.cached_triager.clear()


def fake_adapter(folder, base_model):
    """An adapter folder the catalog lists; its weights are never loaded (its base is missing)."""
    readable_adapter(folder)  # a config and weights the page can read: an unreadable one is not offered
    write_metadata(folder, str(base_model), "plain", {})
    return folder


def by_label(widgets, label):
    return next(widget for widget in widgets if widget.label == label)


def choose_adapter(app, path):
    by_label(app.selectbox, "Adapter or checkpoint").set_value(str(path)).run()
    assert not app.exception


def shows_its_own_finished_evaluation(app, runs_dir):
    """Waits for the evaluation this test started (other tests' evaluations may show figures
    meanwhile), then checks the page shows its figures and opens "Results of" on it."""
    deadline = time.monotonic() + 240
    while eval_jobs.running_job(runs_dir) is not None and time.monotonic() < deadline:
        time.sleep(1)
    app.run()
    assert app.metric and not app.exception
    assert by_label(app.selectbox, "Results of").value == app.session_state["eval_shown_run"]


def test_every_checkpoint_and_the_final_adapter_can_be_chosen(app, runs_dir):
    adapters = by_label(app.selectbox, "Adapter or checkpoint")
    labels = adapters.options  # as shown
    assert labels[0].startswith("No adapter")
    assert [label.split(" · ")[0] for label in labels if label.startswith("tiny")] == [
        "tiny / checkpoint-2", "tiny / checkpoint-4", "tiny / adapter (final)"]
    choose_adapter(app, runs_dir / "tiny/checkpoint-2")
    assert by_label(app.selectbox, "Base model").value == by_label(app.selectbox, "Base model").options[0]
    newer = fake_adapter(runs_dir / "newer/adapter", "some-base")  # a training run writes a new adapter
    try:
        app.run()
        assert by_label(app.selectbox, "Adapter or checkpoint").value == str(runs_dir / "tiny/checkpoint-2")
        assert len(by_label(app.selectbox, "Adapter or checkpoint").options) == len(labels) + 1
    finally:
        shutil.rmtree(newer.parent)


def test_chat_shows_the_triage_raw_output_and_latency(app, runs_dir):
    choose_adapter(app, runs_dir / "tiny/checkpoint-4")
    app.chat_input[0].set_value(EMAIL).run()
    assert not app.exception
    answer = app.chat_message[1].markdown[0].value
    assert answer.split("**")[1] in CATEGORIES and f" s · {plain('tiny / checkpoint-4')}" in answer
    raw = app.chat_message[1].code[-1].value
    assert raw.startswith('{"category":"')
    app.chat_input[0].set_value("forgot my password, username tk_2009").run()
    assert len(app.chat_message) == 4  # both turns stay


def test_a_model_that_cannot_load_says_what_to_do(app, runs_dir, tmp_path):
    broken = fake_adapter(runs_dir / "broken/adapter", tmp_path / "no-such-model")
    try:
        app.run()
        choose_adapter(app, broken)
        app.chat_input[0].set_value("cancel BK-12345").run()
        assert not app.exception
        assert f"Could not load {plain('broken / adapter (final)')}" in app.error[0].value
        assert "Check that the base model exists" in app.error[0].value

        choose_adapter(app, runs_dir / "tiny/checkpoint-2")
        by_label(app.selectbox, "Base model").set_value(str(tmp_path / "no-such-model")).run()
        app.chat_input[0].set_value("cancel BK-12345").run()
        assert not app.exception
        assert "This adapter was trained on" in app.error[0].value
    finally:
        shutil.rmtree(broken.parent)


def test_an_evaluation_runs_with_progress_and_shows_metrics_and_wrong_rows(app, runs_dir, tmp_path):
    data = tmp_path / "data" / "five.csv"  # in the app's data folder: a typed path may only point there
    data.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(EVAL_ROWS, columns=["sender", "subject", "body", "category", "username", "booking_id"]).to_csv(
        data, index=False)
    choose_adapter(app, runs_dir / "tiny/checkpoint-2")
    by_label(app.radio, "Labelled data").set_value(SERVER_FILE).run()
    by_label(app.text_input, "Path of a CSV file in the data folders").set_value(str(data)).run()
    by_label(app.button, f"Evaluate {plain('tiny / checkpoint-2')}").click().run()
    assert not app.exception and not app.error
    progress = [element.text for element in app.get("progress")]
    assert progress and "of 5 rows" in progress[0]

    deadline = time.monotonic() + 240
    while not app.metric and time.monotonic() < deadline:
        time.sleep(1)
        app.run()
    assert not app.exception and not app.error
    assert by_label(app.metric, "Category accuracy").value != "—"
    assert any(header.value.startswith("Rows it got wrong:") and header.value.endswith("of 5")
               for header in app.subheader)
    folder = next(evals_root(runs_dir).glob("*-tiny-checkpoint-2-five-csv"))
    metrics = json.loads((folder / METRICS_FILE).read_text())
    assert metrics["n"] == 5 and metrics["config"]["adapter"] == str((runs_dir / "tiny/checkpoint-2").resolve())
    assert "ready_accuracy" in metrics and metrics["risk_coverage"][-1]["coverage"] == 1.0
    assert len(app.get("vega_lite_chart")) == 2  # the confusion matrix and the risk-coverage plot


def test_unusable_data_says_what_to_do(app, tmp_path):
    by_label(app.radio, "Labelled data").set_value(SERVER_FILE).run()
    typed = by_label(app.text_input, "Path of a CSV file in the data folders")
    typed.set_value(str(tmp_path / "data" / "missing.csv")).run()
    next(button for button in app.button if button.label.startswith("Evaluate")).click().run()
    assert not app.exception
    assert "no such file" in app.error[0].value and "Choose a CSV with the columns" in app.error[0].value


@pytest.mark.parametrize("typed", ["/etc/passwd", "/etc/../tmp/x.csv", "../../../../etc/shadow.csv",
                                   "training/data/../../../secrets.csv"])
def test_a_typed_path_outside_the_data_folders_is_refused(app, typed):
    by_label(app.radio, "Labelled data").set_value(SERVER_FILE).run()
    by_label(app.text_input, "Path of a CSV file in the data folders").set_value(typed).run()
    next(button for button in app.button if button.label.startswith("Evaluate")).click().run()
    assert not app.exception
    assert "not a .csv file" in app.error[0].value or "Only CSV files in the data folders" in app.error[0].value


def test_two_evaluations_side_by_side(app, runs_dir, tmp_path):
    for name, accuracy in (("first", 0.5), ("second", 0.75)):
        folder = evals_root(runs_dir) / f"2026-{name}"
        folder.mkdir(parents=True)
        (folder / JOB_FILE).write_text(json.dumps({"pid": 999_999_999, "created": 0.0, "started_at": time.time(),
                                                   "extra": {"adapter_label": name, "data_label": "five.csv",
                                                             "total_rows": 4}}))
        (folder / METRICS_FILE).write_text(json.dumps({
            "n": 4, "category_accuracy": accuracy, "macro_f1": accuracy, "config": {"data": "five.csv"},
            "confusion_matrix": {"labels": list(CATEGORIES), "matrix": [[1, 0, 0, 0, 0]] * 4 + [[0] * 5]}}))
    app.run()
    assert not app.exception
    table = app.dataframe[-1].value
    accuracy = table[table["metric"] == "Category accuracy"].iloc[0]
    assert (accuracy["first"], accuracy["second"], accuracy["change"], accuracy["better"]) == (
        "0.500", "0.750", "+0.250", "second")


def test_promoting_a_checkpoint_makes_it_the_inbox_model(app, runs_dir, tmp_path):
    checkpoint = runs_dir / "tiny/checkpoint-4"
    choose_adapter(app, checkpoint)
    # a checkpoint nobody chose a review rule for: promoting it is allowed, and says what "Ready" will mean
    assert any("No review rule was chosen for this adapter" in caption.value for caption in app.caption)
    assert any(button.label == "Choose its review rule" for button in app.button)
    by_label(app.button, "Promote to the inbox").click().run()
    assert not app.exception
    saved = json.loads((tmp_path / "data/active_model.json").read_text())
    assert saved == {"adapter": str(checkpoint.resolve()), "base_model": None}
    assert f"The inbox now uses {plain('tiny / checkpoint-4')}" in app.success[0].value
    assert any("This is the model the inbox uses" in caption.value for caption in app.caption)


def test_an_adapters_review_rule_is_chosen_by_a_job_of_its_own_and_then_shown(app, runs_dir):
    checkpoint = runs_dir / "tiny/checkpoint-2"
    choose_adapter(app, checkpoint)
    by_label(app.button, "Choose its review rule").click().run()
    assert not app.exception
    job = eval_jobs.latest_rule_choice(checkpoint, runs_dir)
    try:
        assert job.state == JobState.RUNNING and job.total_rows == len(load_rows(RULE_DATA))
        assert "choose_review_rule" in " ".join(read_job(job.folder).command)
        # the page shows its progress while it runs
        assert app.get("progress") and "Choosing its review rule on the dev set" in app.get("progress")[0].proto.text
    finally:
        stop_job(job.folder, grace_s=1.0)
    app.run()
    assert any("did not finish (stopped)" in caption.value for caption in app.caption)
    rule = checkpoint / REVIEW_RULE_FILE
    write_review_rule(checkpoint, ReviewRule(ReviewThresholds(0.77, 0.1), 1.0, {"on": "some labelled rows"}))
    try:
        app.run()
        assert any("at least 77% likely" in caption.value and "chosen on some labelled rows" in caption.value
                   for caption in app.caption)
        assert not any(button.label == "Choose its review rule" for button in app.button)
    finally:
        rule.unlink()


def test_the_model_server_is_a_model_source_for_the_chat_and_evaluations(runs_dir, tiny_base_dir, tmp_path,
                                                                         monkeypatch):
    # issue 15.4; the scripted server stands in for llama.cpp, which tests/model/test_served.py runs for real
    from tests.model.test_served import _answer, _event, _Stub
    from ui.eval_views import SERVED

    replies = [_event({"cancel": -0.05, "other": -3.0}), _answer('cancel_booking","booking_id":"BK-12345"}')]
    stub = _Stub(replies * 2)  # the chat's mail, then the evaluation's one row
    with stub.serving() as url:
        for name, value in (("ACEDESK_BASE_MODEL", str(tiny_base_dir)), ("ACEDESK_ADAPTER", ""),
                            ("ACEDESK_RUNS_DIR", str(runs_dir)), ("ACEDESK_DATA_DIR", str(tmp_path / "data")),
                            ("ACEDESK_MODEL_URL", url)):
            monkeypatch.setenv(name, value)
        app = AppTest.from_file(str(REPO_ROOT / "pages/eval.py"), default_timeout=120).run()
        adapters = by_label(app.selectbox, "Adapter or checkpoint")
        assert adapters.options[-1].startswith(f"The model server ({url})")
        adapters.set_value(SERVED).run()
        assert not app.exception
        app.chat_input[0].set_value("Please cancel my booking BK-12345").run()
        assert not app.exception and not app.error
        answer = app.chat_message[1].markdown[0].value
        assert answer.startswith("**cancel_booking**") and plain(f"the model server {url}") in answer
        assert stub.requests[0]["max_tokens"] == 1  # the category step went to the server

        data = tmp_path / "data" / "one.csv"
        data.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(EVAL_ROWS[2:3], columns=["sender", "subject", "body", "category", "username",
                                              "booking_id"]).to_csv(data, index=False)
        by_label(app.radio, "Labelled data").set_value(SERVER_FILE).run()
        by_label(app.text_input, "Path of a CSV file in the data folders").set_value(str(data)).run()
        by_label(app.button, f"Evaluate {plain(f'the model server {url}')}").click().run()
        assert not app.exception and not app.error
        folder = next(evals_root(runs_dir).glob("*-the-model-server-*-one-csv"))
        job = json.loads((folder / JOB_FILE).read_text())
        assert "--model-url-from-env" in job["command"] and url not in json.dumps(job["command"])  # never in ps
        deadline = time.monotonic() + 120
        while not (folder / METRICS_FILE).exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        metrics = json.loads((folder / METRICS_FILE).read_text())
        assert metrics["n"] == 1 and metrics["category_accuracy"] == 1.0 and metrics["config"]["model_url"] == url
    resources.cached_triager.clear()


def test_a_wrong_setting_is_named_without_its_value(tmp_path, monkeypatch):
    monkeypatch.setenv("ACEDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ACEDESK_SMTP_HOST", "smtp.example.org")  # without ACEDESK_SMTP_FROM
    monkeypatch.setenv("ACEDESK_SMTP_PASSWORD", "hunter2-smtp")
    app = AppTest.from_file(str(REPO_ROOT / "pages/eval.py"), default_timeout=60).run()
    assert not app.exception
    [error] = [element.value for element in app.error]
    assert "A setting is wrong" in error and "ACEDESK" in error and "SMTP" in error and "hunter2-smtp" not in error


def finished_evaluation(runs_dir, name, metrics, started_at):
    """An app-started evaluation whose process is gone, with ``metrics`` as its metrics.json."""
    folder = evals_root(runs_dir) / name
    folder.mkdir(parents=True)
    (folder / JOB_FILE).write_text(json.dumps({"pid": 999_999_999, "created": 0.0, "started_at": started_at,
                                               "extra": {"adapter_label": name, "data_label": "five.csv",
                                                         "total_rows": 4}}))
    (folder / METRICS_FILE).write_text(json.dumps(metrics))
    return folder


def test_damaged_evaluation_files_show_as_far_as_they_can_never_a_traceback(app, runs_dir):
    later = time.time() + 3600  # the newest two: shown and compared
    strings = finished_evaluation(runs_dir, "2026-strings", {
        "n": "4", "category_accuracy": "0.5", "macro_f1": float("nan"), "latency_median_s": "slow",
        "config": ["not", "an", "object"], "per_category": {"other": "x"}, "baselines": {"tfidf_logreg": "x"},
        "confusion_matrix": {"labels": list(CATEGORIES), "matrix": [[1]]}, "risk_coverage": "abc"}, later)
    huge = finished_evaluation(runs_dir, "2026-huge", {
        "n": 10**400, "category_accuracy": 0.75, "config": {"data": "[five](http://evil.example).csv"},
        "per_category": [1, 2], "confusion_matrix": [1]}, later + 1)
    (huge / "predictions.csv").write_text("category\nother\n")  # no prediction columns at all
    app.run()
    by_label(app.selectbox, "First").set_value(str(strings))
    by_label(app.selectbox, "Second").set_value(str(huge)).run()
    assert not app.exception
    assert [error.value for error in app.error] == []
    table = app.dataframe[-1].value.set_index("metric")
    assert (table.loc["Category accuracy", "first"], table.loc["Category accuracy", "second"]) == ("—", "0.750")
    warning = next(w.value for w in app.warning if "not directly comparable" in w.value)
    assert "[five](http" not in warning  # the file's words as text, no link


def test_a_damaged_promotion_says_which_model_the_inbox_uses_instead(app, tmp_path):
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data/active_model.json").write_text('{"adapter": "/etc/passwd", "base_model": null}')
    app.run()
    assert not app.exception
    assert "The promoted model is not used" in app.warning[0].value and "outside the shipped adapters" in \
        app.warning[0].value


def test_the_datas_own_words_in_an_error_are_text(app, tmp_path):
    (tmp_path / "data").mkdir(exist_ok=True)
    path = tmp_path / "data/labels.csv"
    pd.DataFrame([{"sender": "a@example.org", "subject": "Hi", "body": "Hello", "category": "[x](http://evil.example)",
                   "username": "", "booking_id": ""}]).to_csv(path, index=False)
    by_label(app.radio, "Labelled data").set_value(SERVER_FILE).run()
    by_label(app.text_input, "Path of a CSV file in the data folders").set_value(str(path)).run()
    next(button for button in app.button if button.label.startswith("Evaluate")).click().run()
    assert not app.exception
    assert "unknown categories" in app.error[0].value and "[x](http" not in app.error[0].value


def test_an_adapter_leading_outside_or_cut_off_is_not_offered_and_the_page_says_why(app, runs_dir, tmp_path):
    """Before, both were offered: the linked one answered the chat from outside the runs folder and its
    promotion was announced though the inbox refused it; the cut-off one was promoted, and failed the inbox."""
    outside = tmp_path / "elsewhere"
    shutil.copytree(runs_dir / "tiny", outside)
    (runs_dir / "linked").symlink_to(outside)
    cut = runs_dir / "cut/adapter"
    shutil.copytree(runs_dir / "tiny/adapter", cut)
    (cut / "adapter_model.safetensors").write_bytes(b"")
    choose_adapter(app, runs_dir / "tiny/checkpoint-2")
    try:
        app.run()
        assert not app.exception
        offered = by_label(app.selectbox, "Adapter or checkpoint").options
        assert not any(label.startswith(("linked /", "cut /")) for label in offered)
        [note] = [caption.value for caption in app.caption if caption.value.startswith("⚠️ Not offered")]
        assert "leads to" in note and "outside the shipped adapters and the runs folder" in note and "its weights cannot be read" in note

        (runs_dir / "tiny/checkpoint-2/adapter_config.json").rename(tmp_path / "config-aside.json")
        app.run()  # the chosen checkpoint damaged (or deleted) since it was chosen
        assert not app.exception
        assert any("cannot be used now" in warning.value and "Showing the inbox" in warning.value
                   for warning in app.warning)
    finally:
        if (tmp_path / "config-aside.json").exists():
            (tmp_path / "config-aside.json").rename(runs_dir / "tiny/checkpoint-2/adapter_config.json")
        (runs_dir / "linked").unlink()
        shutil.rmtree(cut.parent)


def test_a_second_evaluation_waits_for_the_first(app, runs_dir, tmp_path):
    """Before, each click in any tab started one more process holding a model on the inbox's CPU."""
    data = tmp_path / "data" / "five.csv"
    data.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(EVAL_ROWS, columns=["sender", "subject", "body", "category", "username", "booking_id"]).to_csv(
        data, index=False)
    by_label(app.radio, "Labelled data").set_value(SERVER_FILE).run()
    by_label(app.text_input, "Path of a CSV file in the data folders").set_value(str(data)).run()
    evaluate = next(button.label for button in app.button if button.label.startswith("Evaluate"))
    by_label(app.button, evaluate).click().run()
    other_tab = AppTest.from_file(str(REPO_ROOT / "pages/eval.py"), default_timeout=120).run()
    try:
        by_label(other_tab.radio, "Labelled data").set_value(SERVER_FILE).run()
        by_label(other_tab.text_input, "Path of a CSV file in the data folders").set_value(str(data)).run()
        by_label(other_tab.button, evaluate).click().run()
        assert not other_tab.exception
        assert any(warning.value.startswith("Not started: the evaluation of ") and "is still running" in
                   warning.value for warning in other_tab.warning)
    finally:
        for run in eval_jobs.list_runs(runs_dir):
            if run.state == JobState.RUNNING:
                os.kill(read_job(run.folder).pid, signal.SIGKILL)  # as the OOM killer would
    deadline = time.monotonic() + 30
    while any(run.state == JobState.RUNNING for run in eval_jobs.list_runs(runs_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    app.run()
    assert not app.exception
    assert app.error[0].value.startswith("This evaluation ended with an error: the process")  # said, never hung
    assert eval_jobs.running_job(runs_dir) is None  # and a new one may start


HOSTILE_FOLDER = "a` [click](evil.example) `b"
"""A run folder made by hand: its backticks closed the page's code spans and the link was live."""


def test_a_hand_made_run_folders_name_is_text_wherever_the_page_shows_it(app, runs_dir, tmp_path):
    hostile = fake_adapter(runs_dir / HOSTILE_FOLDER / "adapter", tmp_path / "no-such-model")
    try:
        app.run()
        choose_adapter(app, hostile)
        app.chat_input[0].set_value("cancel BK-12345").run()  # its base is missing: the load error names it
        assert not app.exception
        shown = {"caption": [caption.value for caption in app.caption], "button": [button.label for button in app.button],
                 "error": [error.value for error in app.error]}
        assert any(plain(str(hostile)) in caption for caption in shown["caption"])
        assert any(label.startswith(f"Evaluate {plain(HOSTILE_FOLDER)}") for label in shown["button"])
        assert any(error.startswith(f"Could not load {plain(HOSTILE_FOLDER)}") for error in shown["error"])
        assert not [text for texts in shown.values() for text in texts if "](evil" in text], shown
    finally:
        shutil.rmtree(hostile.parent)


def test_an_uploads_name_is_text_and_a_refused_start_keeps_no_copy(app, runs_dir):
    """Before: the progress bar (every session's) showed an upload's name as live markdown, and an
    upload refused because another evaluation ran was kept under evals/uploads all the same."""
    import psutil

    this_process = psutil.Process()  # alive: the page takes its evaluation for a running one
    busy = evals_root(runs_dir) / "2026-busy"
    busy.mkdir(parents=True)
    (busy / JOB_FILE).write_text(json.dumps({
        "pid": this_process.pid, "created": this_process.create_time(), "started_at": time.time(),
        "extra": {"adapter_label": "tiny / adapter", "data_label": "[x](evil.example).csv", "total_rows": 4}}))
    kept = evals_root(runs_dir) / "uploads"
    before = set(kept.glob("*")) if kept.exists() else set()
    try:
        app.run()
        [progress] = [element.proto.text for element in app.get("progress")]
        assert progress.startswith(plain("tiny / adapter on [x](evil.example).csv")) and "](evil" not in progress
        by_label(app.radio, "Labelled data").set_value(UPLOAD).run()
        labelled = pd.DataFrame(EVAL_ROWS, columns=["sender", "subject", "body", "category", "username", "booking_id"])
        app.file_uploader(key="eval_upload").upload("[y](evil.example).csv", labelled.to_csv(index=False).encode(),
                                                    "text/csv").run()
        next(button for button in app.button if button.label.startswith("Evaluate")).click().run()
        assert not app.exception
        assert any(warning.value.startswith("Not started: ") for warning in app.warning)
        assert (set(kept.glob("*")) if kept.exists() else set()) == before
    finally:
        shutil.rmtree(busy)


def test_an_adapters_own_training_mails_are_said_to_measure_nothing(app, runs_dir):
    """Before: a copy of the training file was scored like new mail (accuracy, macro-F1) with no word of it."""
    trained = pd.read_csv(runs_dir.parent / "ten.csv", keep_default_na=False, dtype=str)  # tiny's train_file
    trained["subject"] = trained["subject"].str.upper()  # renamed and re-cased, still the same mails
    choose_adapter(app, runs_dir / "tiny/checkpoint-2")
    by_label(app.radio, "Labelled data").set_value(UPLOAD).run()
    app.file_uploader(key="eval_upload").upload("fresh-mails.csv", trained.to_csv(index=False).encode(), "text/csv")
    by_label(app.number_input, "Rows to evaluate (0 = all)").set_value(2).run()
    by_label(app.button, f"Evaluate {plain('tiny / checkpoint-2')}").click().run()
    assert not app.exception and not app.error
    said = f"2 of 2 rows are mails this adapter was trained on ({plain('ten.csv')})"
    assert any(warning.value.startswith(said) for warning in app.warning)

    shows_its_own_finished_evaluation(app, runs_dir)
    assert any(warning.value.startswith(said) for warning in app.warning)  # beside its figures, in any later visit


def test_a_long_chat_of_huge_pastes_keeps_a_bounded_session(app, monkeypatch):
    """Before: every turn was kept and redrawn whole: after 100 pastes of 1 MB the session held
    100 MB of text and each rerun sent all of it to the browser."""
    from model.schema import TriageResult
    from ui import eval_chat, eval_views

    class Instant:  # the chat's bookkeeping is under test, not the model
        def triage(self, email):
            return TriageResult("other", response="Thanks", raw_answer="{}")

    monkeypatch.setattr(eval_views, "load_model", lambda *args: Instant())
    huge = "cancel BK-12345 " + "a" * 1_000_000
    for _ in range(eval_chat.CHAT_TURNS_KEPT + 5):
        app.chat_input[0].set_value(huge).run()
    assert not app.exception
    turns = app.session_state["eval_chat"]
    assert len(turns) == eval_chat.CHAT_TURNS_KEPT
    assert all(len(turn["text"]) < eval_chat.SHOWN_TEXT_CHARS + 100 for turn in turns)
    app.run()
    assert len(app.chat_message) == 2 * eval_chat.CHAT_TURNS_KEPT
    cut = len(huge) - eval_chat.SHOWN_TEXT_CHARS
    assert app.chat_message[0].code[0].value.endswith(f"({cut:,} more characters not shown)")


def test_a_csv_of_one_mail_repeated_is_said_to_be_one_mail_at_its_start_and_beside_its_figures(app, runs_dir):
    """Before: 3 copies of one mail (one re-cased) were scored as 3 mails with no word of it."""
    repeated = pd.DataFrame([EVAL_ROWS[2]] * 3, columns=["sender", "subject", "body", "category", "username",
                                                         "booking_id"])
    repeated.loc[1, "body"] = repeated.loc[1, "body"].upper()  # the same mail however copied (text_keys)
    choose_adapter(app, runs_dir / "tiny/checkpoint-4")
    by_label(app.radio, "Labelled data").set_value(UPLOAD).run()
    app.file_uploader(key="eval_upload").upload("three.csv", repeated.to_csv(index=False).encode(), "text/csv")
    by_label(app.button, f"Evaluate {plain('tiny / checkpoint-4')}").click().run()
    assert not app.exception and not app.error
    said = "3 rows are 1 distinct mail:"
    assert any(warning.value.startswith(said) for warning in app.warning)

    shows_its_own_finished_evaluation(app, runs_dir)
    assert any(warning.value.startswith(said) for warning in app.tabs[1].warning)  # beside its figures


def recorded_evaluation(runs_dir, name, started_at, **request):
    """A finished app-started evaluation of 4 rows whose job.json records ``request``'s fields."""
    folder = finished_evaluation(runs_dir, name, {"n": 4, "category_accuracy": 0.5, "config": {"data": "five.csv"}},
                                 started_at)
    job = json.loads((folder / JOB_FILE).read_text())
    job["extra"].update(request)
    (folder / JOB_FILE).write_text(json.dumps(job))
    return folder


def test_the_compare_tab_repeats_what_a_runs_figures_cannot_say(app, runs_dir):
    """Before: a run scored on its adapter's own training mails showed the warning in its results
    only; compared side by side, its figures read like any other's."""
    later = time.time() + 7200
    trained = recorded_evaluation(runs_dir, "2026-trained", later, trained_rows=4, trained_on=["ten.csv"])
    repeated = recorded_evaluation(runs_dir, "2026-repeated", later + 1, distinct_rows=2)
    try:
        app.run()
        by_label(app.selectbox, "First").set_value(str(trained))
        by_label(app.selectbox, "Second").set_value(str(repeated)).run()
        assert not app.exception
        said = [warning.value for warning in app.tabs[2].warning]
        assert any(text.startswith(f"First: 4 of 4 rows are mails this adapter was trained on ({plain('ten.csv')})")
                   for text in said), said
        assert any(text.startswith("Second: 4 rows are 2 distinct mails:") for text in said), said
    finally:
        shutil.rmtree(trained)
        shutil.rmtree(repeated)


def test_results_open_on_an_evaluation_of_the_chosen_adapter_or_say_it_has_none(app, runs_dir):
    """Before: after choosing another adapter, "Results of" still opened on this session's last
    evaluation of the adapter chosen before, its figures read as the new choice's."""
    first, second = runs_dir / "tiny/checkpoint-2", runs_dir / "tiny/checkpoint-4"
    later = time.time() + 10_800
    of_first = recorded_evaluation(runs_dir, "2026-of-first", later, adapter=str(first.resolve()))
    of_second = recorded_evaluation(runs_dir, "2026-of-second", later + 1, adapter=str(second.resolve()))
    try:
        choose_adapter(app, second)
        app.session_state["eval_shown_run"] = str(of_second)  # as when this session evaluated it
        app.run()
        assert by_label(app.selectbox, "Results of").value == str(of_second)
        choose_adapter(app, first)
        assert by_label(app.selectbox, "Results of").value == str(of_first)
        choose_adapter(app, runs_dir / "tiny/adapter")  # never evaluated
        assert any(info.value.startswith(f"{plain('tiny / adapter (final)')} has no evaluation yet")
                   for info in app.tabs[1].info)
        assert any(caption.value.startswith("Not an evaluation of the chosen model") for caption in app.tabs[1].caption)
    finally:
        shutil.rmtree(of_first)
        shutil.rmtree(of_second)


@pytest.fixture
def no_evaluation_left(runs_dir):
    """Whatever a test started (a refusal that did not happen) is ended before the next test."""
    yield
    for run in eval_jobs.list_runs(runs_dir):
        if run.state == JobState.RUNNING:
            stop_job(run.folder)


@pytest.mark.parametrize(("how", "said"), [
    *MESSES,
    ("workbook", "is a zip archive (an Excel .xlsx workbook is one), not a CSV: save it as \"CSV UTF-8\""),
    ("too many rows", TOO_MANY_ROWS),
], ids=[*(how for how, _ in MESSES), "workbook", "too many rows"])
def test_a_messy_upload_is_refused_in_the_training_checks_sentence_and_starts_nothing(app, runs_dir,
                                                                                   no_evaluation_left, how, said):
    """Before: codec words ("'utf-8' codec can't decode…"), 'Category ' read as a missing column, and
    'category' beside 'category ', a workbook renamed .csv (kept, then refused in codec words) or
    100,001 rows started an evaluation."""
    content = {"workbook": b"PK\x03\x04 an Excel workbook", "too many rows": too_many_rows_csv()}.get(how)
    evaluations_before = {run.folder for run in eval_jobs.list_runs(runs_dir)}
    kept = evals_root(runs_dir) / "uploads"
    kept_before = set(kept.glob("*")) if kept.exists() else set()
    by_label(app.radio, "Labelled data").set_value(UPLOAD).run()
    app.file_uploader(key="eval_upload").upload("labels.csv", content or messy_csv(how), "text/csv").run()
    next(button for button in app.button if button.label.startswith("Evaluate")).click().run()
    assert not app.exception
    [error] = [error.value for error in app.error if error.value.endswith(CSV_ADVICE)]  # not an older run's
    assert plain(said) in error and not any(word in error for word in JARGON), error
    assert {run.folder for run in eval_jobs.list_runs(runs_dir)} == evaluations_before
    assert (set(kept.glob("*")) if kept.exists() else set()) == kept_before
