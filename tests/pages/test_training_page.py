"""The Training page through Streamlit's AppTest: the form, the data checks, a real tiny run
started from the form, reattaching to a running run and stopping it, and a run on base data +
the operator's corrections from a store of decided demo tickets."""

import dataclasses
import io
import json
import re
import shutil
import subprocess
import sys
import time
import tomllib

import pandas as pd
import psutil
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from support.intake import fetch_eml_dir
from support.states import State
from support.store import TicketStore
from testbed.app import demo_inbox, triage_as_labelled
from tests.conftest import REPO_ROOT
from training import corrections, layout, runs, uploads
from training.config import TrainConfig
from training.jobs import JobState
from ui.errors import TEXT_BREAK, plain
from ui.training_data import PREVIEW_CELL_CHARS, _shortened
from ui.training_form import ELSEWHERE, GROUPS

WAIT_S = 240  # a tiny run takes ~10 s alone; this CPU may be busy with a real training


@pytest.fixture
def runs_root(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    monkeypatch.setenv("ACEDESK_RUNS_DIR", str(root))
    monkeypatch.setenv("ACEDESK_DATA_DIR", str(tmp_path / "data"))
    yield root
    runs.stop_run(root, grace_s=5)  # never leave a test's process behind


@pytest.fixture
def ten_rows_csv():
    rows = pd.read_csv(REPO_ROOT / "training/data/train.csv", keep_default_na=False).head(10)
    return rows.to_csv(index=False).encode()


def open_page() -> AppTest:
    # Through dashboard.py, as the app runs it (a page run on its own would find pages/training.py
    # when it imports the training package).
    app = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=120).run()
    app.switch_page("pages/training.py").run()
    assert not app.exception, app.exception
    return app


def texts(app: AppTest) -> str:
    elements = [*app.error, *app.warning, *app.info, *app.success, *app.markdown, *app.caption, *app.subheader]
    return "\n".join(str(element.value) for element in elements)


def as_read(shown: str) -> str:
    """Markdown of ``plain`` text as its reader sees it: the escapes and text breaks gone."""
    return re.sub(r"\\(.)", r"\1", shown.replace(TEXT_BREAK, ""))


def wait_until_no_active_run(root):
    deadline = time.monotonic() + WAIT_S
    while runs.active_run(root) is not None:
        assert time.monotonic() < deadline, "the run did not end"
        time.sleep(0.3)


def test_every_config_field_has_an_input_or_a_reason_not_to():
    grouped = [name for names in GROUPS.values() for name in names]
    assert sorted(grouped + list(ELSEWHERE)) == sorted(field.name for field in dataclasses.fields(TrainConfig))


def test_the_form_starts_with_the_config_defaults_and_follows_the_preset(runs_root):
    app = open_page()
    assert app.title[0].value == "Training"
    assert app.selectbox(key="preset").value.name == "default.yaml"
    assert app.text_input(key="hp_base_model").value == "gemma-3-270m"
    assert app.number_input(key="hp_max_train_samples").value == 1600
    assert app.number_input(key="hp_learning_rate").value == pytest.approx(3e-4)
    assert app.number_input(key="hp_lora_top_layers").value == 12
    assert app.selectbox(key="hp_dtype").value == "auto"
    assert "Adapt only the last N" in app.number_input(key="hp_lora_top_layers").help
    assert not app.button(key="start").disabled
    assert app.selectbox(key="train_csv").value.name == "train.csv" and not app.error
    assert len(re.findall(r"\*\*[\d,]+ rows\*\*", texts(app))) == 2  # training and validation
    assert "No runs yet" in texts(app)

    app.number_input(key="hp_max_steps").set_value(7).run()
    app.selectbox(key="preset").select(runs.CONFIG_DIR / "continued.yaml").run()
    assert app.number_input(key="hp_max_steps").value == 200  # the new preset's, not the typed 7
    assert app.number_input(key="hp_category_weight").value == 5.0


def test_a_bad_csv_shows_what_is_wrong_and_nothing_starts(runs_root, ten_rows_csv):
    app = open_page()
    bad = ten_rows_csv.replace(b",cancel_booking,", b",refund,", 1)
    app.file_uploader(key="train_upload").upload("members.csv", bad, "text/csv").run()
    assert not app.exception
    assert any("category the model does not know ('refund')" in as_read(error.value) for error in app.error)
    assert f"Using the upload **{plain('members.csv')}**" in texts(app)

    app.button(key="start").click().run()
    assert any("members" in error.value and "has errors" in error.value for error in app.error)
    assert runs.list_runs(runs_root) == []

    app.file_uploader(key="train_upload").set_value(("broken.csv", b"just,some\ncolumns,here\n", "text/csv")).run()
    assert any("lacks the column(s)" in as_read(error.value) for error in app.error)


def test_a_renamed_reshuffled_copy_of_the_test_split_is_refused_before_anything_starts(runs_root):
    """The page refused training/data/test.csv by its path only: uploaded under another name,
    shuffled and upper-cased, it trained."""
    test_split = pd.read_csv(REPO_ROOT / "training/data/test.csv", keep_default_na=False, dtype=str)
    copy = test_split.sample(frac=1, random_state=5).assign(body=lambda frame: frame["body"].str.upper())
    app = open_page()
    app.file_uploader(key="train_upload").upload("members.csv", copy.to_csv(index=False).encode(), "text/csv").run()
    assert not app.exception
    [error] = [as_read(error.value) for error in app.error]
    assert re.fullmatch(r"rows 1, 2, 3, 4, 5 and 295 more of members-\w{8}\.csv are emails of test\.csv, which "
                        r"models are measured on: .* Remove them or pick another file\.", error), error

    app.button(key="start").click().run()
    assert any("has errors (shown under Data)" in error.value for error in app.error)
    assert runs.list_runs(runs_root) == []


def test_a_run_starts_from_the_form_shows_progress_and_ends_in_the_list(runs_root, ten_rows_csv, tiny_base_dir):
    app = open_page()
    app.file_uploader(key="train_upload").upload("ten.csv", ten_rows_csv, "text/csv")
    app.file_uploader(key="val_upload").upload("ten.csv", ten_rows_csv, "text/csv")
    app.text_input(key="hp_base_model").set_value(str(tiny_base_dir))
    app.text_input(key="hp_run_name").set_value("tiny")
    for name, value in {"max_train_samples": 0, "max_steps": 4, "batch_size": 4, "logging_steps": 1,
                        "eval_steps": 2, "save_steps": 2, "threads": 1, "lora_r": 4, "lora_alpha": 8,
                        "lora_top_layers": 0}.items():
        app.number_input(key=f"hp_{name}").set_value(value)
    app.button(key="start").click().run()

    assert not app.exception and not app.error, [error.value for error in app.error]
    assert "Started **" in app.success[0].value and "-tiny" in as_read(app.success[0].value)
    assert app.subheader[0].value.startswith("Running: ")
    assert app.get("progress")[0].text == "Loading the base model and preparing the data..."
    assert app.button(key="stop_run")
    assert app.button(key="start").disabled

    wait_until_no_active_run(runs_root)
    app.run()
    assert not app.exception
    assert app.button(key="start").disabled is False
    [row] = app.dataframe[-1].value.to_dict("records")
    assert row["state"] == "finished" and row["steps"] == "4/4" and row["examples"] == 10
    assert "`checkpoint-2`, `checkpoint-4`" in texts(app)
    assert app.get("vega_lite_chart")  # the loss curves


def test_a_reopened_page_reattaches_to_the_running_run_and_stops_it(runs_root, tmp_path, tiny_base_dir):
    csv = tmp_path / "ten.csv"
    pd.read_csv(REPO_ROOT / "training/data/train.csv", keep_default_na=False).head(10).to_csv(csv, index=False)
    slow = TrainConfig(base_model=str(tiny_base_dir), train_file=str(csv), val_file="", max_steps=100_000,
                       batch_size=4, logging_steps=1, save_steps=100_000, threads=1, lora_r=4, lora_alpha=8)
    run = runs.launch_run(slow, runs_root, "slow")  # as if started from a tab that was closed since
    deadline = time.monotonic() + WAIT_S
    while not runs.run_status(run).losses:
        assert time.monotonic() < deadline, "the run did not log a step"
        time.sleep(0.3)

    app = open_page()
    assert app.subheader[0].value == f"Running: {plain(run.name)}"
    [progress] = app.get("progress")
    assert re.fullmatch(r"Step \d+ of 100000 · about .+ left", progress.text)
    assert app.metric[0].label == "Loss" and app.metric[0].value != "–"
    assert app.button(key="start").disabled
    assert f"One run at a time: {plain(run.name)} is running" in texts(app)

    app.button(key="stop_run").click().run()
    assert not app.exception
    assert f"Stopped **{plain(run.name)}**" in app.info[0].value
    assert runs.active_run(runs_root) is None and runs.load_run(run.folder).state == JobState.STOPPED
    assert app.dataframe[-1].value.to_dict("records")[0]["state"] == "stopped"


def test_a_failed_run_says_why_and_what_to_do_without_a_traceback(runs_root):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = runs_root / "20260101-000000-broken"
    folder.mkdir(parents=True)
    (folder / layout.JOB_FILE).write_text(json.dumps({"pid": dead.pid, "created": 1.0, "started_at": 1.0}))
    (folder / layout.RUN_CONFIG).write_text("base_model: nowhere/model\n")
    (folder / layout.RUN_LOG).write_text('Traceback (most recent call last):\n  File "x.py", line 1, in <module>\n'
                                        "OSError: nowhere/model is not a local folder and is not a valid model "
                                        "identifier\n")
    app = open_page()
    assert not app.exception
    [error] = [as_read(error.value) for error in app.error]
    assert error.startswith("OSError: nowhere/model is not a local folder")
    assert "Check the base model" in error
    assert "Traceback" not in texts(app)


def test_a_command_line_run_in_progress_is_pointed_out(runs_root):
    folder = runs_root / "continued"
    folder.mkdir(parents=True)
    (folder / "progress.jsonl").write_text(json.dumps(
        {"time": time.time(), "event": "log", "step": 5, "max_steps": 320, "loss": 0.4, "eta_s": 900.0}) + "\n")
    app = open_page()
    assert any("continued is training from the command line" in warning.value for warning in app.warning)
    assert not app.button(key="start").disabled  # not the app's run: warned about, not locked out
    assert "**continued**: running" in texts(app)


def test_base_data_and_operator_corrections_in_one_click_with_the_newest_held_out(runs_root, ten_rows_csv,
                                                                                  tiny_base_dir, tmp_path):
    store = TicketStore(tmp_path / "data" / "acedesk.sqlite3")
    fetch_eml_dir(store, demo_inbox(tmp_path / "mail"))
    triage_as_labelled(store, confidence=0.99)
    for ticket in store.tickets():
        reason = "machine mail (auto-reply, bounce, newsletter)" if ticket.machine_mail else None
        if reason:
            store.move(ticket.id, State.REJECTED, "operator", reason=reason)
        else:
            store.save_approval(ticket.id, {}, None, "operator")
    app = open_page()
    app.file_uploader(key="train_upload").upload("ten.csv", ten_rows_csv, "text/csv")
    app.file_uploader(key="val_upload").upload("ten.csv", ten_rows_csv, "text/csv")
    app.toggle(key="with_corrections").set_value(True).run()
    assert not app.exception, app.exception
    assert "**31 decided tickets** (pseudonymised): 24 join the training data; the newest 7" in texts(app)
    preview = [frame.value for frame in app.dataframe if "decided_at" in frame.value.columns][-1]
    assert len(preview) == 20 and not preview["sender"].str.contains("Anna Berg|anna.berg").any()
    assert "Add the operator's corrections" in app.toggle(key="with_corrections").label

    app.text_input(key="hp_base_model").set_value(str(tiny_base_dir))
    for name, value in {"max_train_samples": 0, "max_steps": 2, "batch_size": 4, "logging_steps": 1,
                        "eval_steps": 2, "save_steps": 2, "threads": 1, "lora_r": 4, "lora_alpha": 8,
                        "lora_top_layers": 0}.items():
        app.number_input(key=f"hp_{name}").set_value(value)
    app.button(key="start").click().run()
    assert not app.exception and not app.error, [error.value for error in app.error]
    run = runs.active_run(runs_root) or runs.list_runs(runs_root)[0]
    held_out = corrections.held_out_for(run.config)
    assert held_out is not None and len(pd.read_csv(held_out)) == 7
    wait_until_no_active_run(runs_root)
    assert runs.load_run(run.folder).metrics["train_examples"] == 10 + 24


def test_corrections_left_out_of_training_are_counted_and_said_why(runs_root, tmp_path):
    # 14 decided spams from one sender: the newest 10 count, so the page's figures add up to 14
    from tests.support.test_corrections import flood_store

    flood_store(tmp_path / "data", ["Prize Desk <win@prize.example>"] * 14)
    app = open_page()
    app.toggle(key="with_corrections").set_value(True).run()
    assert not app.exception, app.exception
    said = texts(app)
    assert "**14 decided tickets** (pseudonymised): 5 join the training data; the newest 5" in said
    assert "4 left out: anyone can mail the club, so a mail counts once (its newest decision), a sender at most " \
           "10 times, and a ticket split off another's mail not at all." in said


def test_a_wrong_setting_is_named_without_its_value(tmp_path, monkeypatch):
    monkeypatch.setenv("ACEDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ACEDESK_SMTP_HOST", "smtp.example.org")  # without ACEDESK_SMTP_FROM
    monkeypatch.setenv("ACEDESK_SMTP_PASSWORD", "hunter2-smtp")
    app = AppTest.from_file(str(REPO_ROOT / "pages/training.py"), default_timeout=60).run()
    assert not app.exception
    [error] = [element.value for element in app.error]
    assert "A setting is wrong" in error and "ACEDESK" in error and "SMTP" in error and "hunter2-smtp" not in error


ODD_PROGRESS = {
    "step-text": {"event": "log", "step": "12", "max_steps": 100, "loss": 0.5},
    "step-null": {"event": "log", "step": None, "max_steps": 100, "loss": 0.5},
    "step-list": {"event": "eval", "step": [1], "max_steps": 100, "eval_loss": 0.5},
    "step-huge": {"event": "log", "step": 10**400, "max_steps": 100},
    "text-figures": {"event": "log", "step": 3, "max_steps": "100", "loss": "low", "tokens_per_s": "fast",
                     "epoch": "one", "learning_rate": [1], "eta_s": "soon"},
    "error-number": {"event": "failed", "error": 42},
}


def test_runs_whose_files_hold_odd_values_are_listed_and_each_shows_its_details(runs_root):
    """A step stored as text, null, a list or beyond every float, a figure that is text, an error that is a
    number, final metrics or hyperparameters of another kind, a lock naming no folder: each took the page down."""
    for name, event in ODD_PROGRESS.items():
        (runs_root / name).mkdir(parents=True)
        (runs_root / name / layout.PROGRESS_FILE).write_text(json.dumps({"time": time.time(), **event}) + "\n")
    finished = runs_root / "odd-metrics"
    (finished / layout.FINAL_ADAPTER).mkdir(parents=True)
    (finished / layout.PROGRESS_FILE).write_text(json.dumps({"time": 100.0, "event": "saved"}) + "\n")
    (finished / layout.FINAL_ADAPTER / layout.TRAIN_METRICS).write_text(
        json.dumps({"wall_seconds": "long", "train_loss": {"a": 1}, "eval_loss": "x", "train_examples": [10]}))
    (finished / layout.FINAL_ADAPTER / "acedesk.json").write_text(json.dumps({"hyperparameters": ["lora_r"]}))
    (runs_root / layout.ACTIVE_RUN_FILE).write_text(json.dumps({"run": 5}))

    app = open_page()
    assert not app.exception, app.exception
    listed = app.dataframe[-1].value.to_dict("records")
    assert {row["run"] for row in listed} == {*ODD_PROGRESS, "odd-metrics"}
    by_name = {row["run"]: row for row in listed}
    assert by_name["step-text"]["steps"] == "0/100" and by_name["odd-metrics"]["time"] == "0 s"
    for index in range(len(listed)):
        app.selectbox(key="run_details").set_value(app.selectbox(key="run_details").options[index]).run()
        assert not app.exception, (index, app.exception)
        if app.selectbox(key="run_details").value.name == "error-number":
            assert any(error.value.startswith("42 ") for error in app.error)  # the failed run's error, as text


def test_a_preset_the_form_cannot_show_is_named_not_raised(runs_root, tmp_path, monkeypatch):
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "default.yaml").write_text("dtype: float16\n")
    monkeypatch.setattr(runs, "CONFIG_DIR", configs)
    app = open_page()
    assert not app.exception, app.exception
    assert [error.value for error in app.error] == [(
        "default.yaml is not a valid training config (dtype is 'float16', not one of auto, float32, bfloat16). "
        "Fix the file or start from another config.")]


def test_continuing_from_an_adapter_outside_the_project_or_a_crafted_one_is_refused_by_name(runs_root, tmp_path):
    shipped = REPO_ROOT / "model/adapters/gemma-3-270m-triage"
    outside, crafted = tmp_path / "elsewhere" / "adapter", runs_root / "20260101-000000-crafted" / "adapter"
    for folder in (outside, crafted):
        folder.mkdir(parents=True)
        for name in ("adapter_config.json", "adapter_model.safetensors", "acedesk.json"):
            (folder / name).write_bytes((shipped / name).read_bytes())
    (crafted / "adapter_config.json").write_text("[1, 2]")
    app = open_page()
    for folder, said in ((outside, "is not one of the project's adapters"),
                         (crafted, "its adapter_config.json holds a list, not a JSON object")):
        app.text_input(key="hp_init_adapter").set_value(str(folder))
        app.button(key="start").click().run()
        assert not app.exception, app.exception
        assert any(said in as_read(error.value) for error in app.error), [error.value for error in app.error]
    assert runs.list_runs(runs_root) == [] and runs.active_run(runs_root) is None  # nothing started


def test_an_upload_that_is_no_csv_and_a_setting_that_would_crash_the_run_are_refused_in_words(runs_root,
                                                                                               ten_rows_csv):
    """Before: a workbook renamed .csv was kept under uploads/ and shown as a codec error, and
    logging_steps 0 (or a seed of -1, threads -4, ...) started a run that failed seconds later."""
    import io
    import zipfile

    workbook = io.BytesIO()
    with zipfile.ZipFile(workbook, "w") as zipped:
        zipped.writestr("xl/workbook.xml", "<workbook/>")
    app = open_page()
    app.file_uploader(key="train_upload").upload("members.csv", workbook.getvalue(), "text/csv").run()
    assert not app.exception
    assert any(plain("members.csv is a zip archive (an Excel .xlsx workbook is one), not a CSV") in error.value
               and "`training/data/train.csv` from the list stays picked" in error.value for error in app.error)
    assert not layout.uploads_dir(runs_root).exists() or not list(layout.uploads_dir(runs_root).iterdir())

    app.file_uploader(key="train_upload").upload("ten.csv", ten_rows_csv, "text/csv").run()
    app.number_input(key="hp_logging_steps").set_value(0)
    app.number_input(key="hp_seed").set_value(-1)
    app.button(key="start").click().run()
    assert not app.exception
    assert any("logging_steps is 0; it must be at least 1" in as_read(error.value) for error in app.error), \
        [error.value for error in app.error]
    assert runs.list_runs(runs_root) == [] and runs.active_run(runs_root) is None


def test_an_uploads_name_is_text_and_its_preview_cells_are_short(runs_root, ten_rows_csv):
    """Before: the name's link was live in the caption and the error, and a 10 MB cell went to the
    browser in the preview on every rerun (10,008,128 bytes of dataframe; now 8,628)."""
    rows = pd.read_csv(io.BytesIO(ten_rows_csv), keep_default_na=False)
    rows.loc[0, "body"] = "A" * 10_000_000
    app = open_page()
    app.file_uploader(key="train_upload").upload("[x](evil.example).csv", rows.to_csv(index=False).encode(),
                                                 "text/csv").run()
    assert not app.exception
    assert f"Using the upload **{plain('[x](evil.example).csv')}**" in texts(app) and "](evil" not in texts(app)
    longest = max(len(str(cell)) for frame in app.dataframe for cell in frame.value.to_numpy().ravel())
    assert longest == PREVIEW_CELL_CHARS
    app.file_uploader(key="train_upload").upload("[y](evil.example).csv", b"PK\x03\x04 a workbook", "text/csv").run()
    assert any("zip archive" in error.value for error in app.error) and "](evil" not in texts(app)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=PREVIEW_CELL_CHARS + 20), st.integers()), min_size=1, max_size=5))
def test_a_preview_cell_is_cut_to_a_readable_length_and_says_so(cells):
    shown = _shortened(pd.DataFrame({"cell": cells}))["cell"].tolist()
    for before, after in zip(cells, shown, strict=True):
        if isinstance(before, str) and len(before) > PREVIEW_CELL_CHARS:
            assert len(after) == PREVIEW_CELL_CHARS and after.endswith("…") and before.startswith(after[:-1])
        else:
            assert after == before


def test_streamlit_takes_no_upload_far_beyond_what_the_pages_accept():
    """Streamlit's default (200 MB) held a whole upload in memory before the page could refuse it."""
    config = tomllib.loads((REPO_ROOT / ".streamlit/config.toml").read_text())
    streamlit_cap = config["server"]["maxUploadSize"] * 1024 * 1024  # Streamlit's "MB"
    assert uploads.MAX_UPLOAD_BYTES <= streamlit_cap < 1.1 * uploads.MAX_UPLOAD_BYTES  # the page says why, in words
    largest = max(path.stat().st_size for path in (REPO_ROOT / "training/data").glob("*.csv"))
    assert largest < streamlit_cap  # the Eval page's labelled CSVs fit too


def test_a_csvs_cells_a_run_folders_name_and_a_runs_error_are_text_not_live_markdown(runs_root, ten_rows_csv,
                                                                                     tmp_path):
    """Before: a category cell "[click](http://evil.example)" was a live link in the data check's error
    (and in the Start error of a typed extra file); a command-line run folder named with a link, and
    a failed run's own words, were live in its details."""
    link = "[click](http://evil.example)"
    rows = pd.read_csv(io.BytesIO(ten_rows_csv), keep_default_na=False, dtype=str)
    rows.loc[0, "category"] = link
    extra = tmp_path / "extra.csv"
    rows.to_csv(extra, index=False)
    folder = runs_root / "[run](evil.example)"
    folder.mkdir(parents=True)
    (folder / layout.PROGRESS_FILE).write_text(json.dumps(
        {"time": 100.0, "event": "failed", "error": "**bold** [see](http://evil.example)"}) + "\n")

    app = open_page()
    app.file_uploader(key="train_upload").upload("m.csv", rows.to_csv(index=False).encode(), "text/csv").run()
    assert not app.exception, app.exception
    assert any(f"category the model does not know ('{link}')" in as_read(error.value) for error in app.error)
    assert f"**{plain(folder.name)}**: failed" in texts(app)
    assert any(as_read(error.value).startswith("**bold** [see](http://evil.example) ") for error in app.error)

    app.file_uploader(key="train_upload").upload("ten.csv", ten_rows_csv, "text/csv")
    app.text_input(key="hp_extra_train_file").set_value(str(extra))
    app.button(key="start").click().run()
    assert not app.exception, app.exception
    assert any(f"('{link}')" in as_read(error.value) for error in app.error), [error.value for error in app.error]
    assert "](http" not in texts(app) and "](evil" not in texts(app) and "**bold**" not in texts(app)
    assert runs.list_runs(runs_root) == [runs.load_run(folder)]  # nothing started


def test_rows_left_out_for_max_length_are_said_in_the_runs_details(runs_root):
    """The run wrote a ``dropped`` event (and a run.log line) that the page never showed: the run
    looked as if it had trained on every row."""
    folder = runs_root / "short"
    folder.mkdir(parents=True)
    message = "12 of 40 training examples are longer than max_length 64 and are left out"
    events = [{"event": "dropped", "split": "training", "dropped": 12, "rows": 40, "max_length": 64,
               "message": message},
              {"event": "started", "step": 0, "max_steps": 4}, {"event": "finished", "step": 4}, {"event": "saved"}]
    (folder / layout.PROGRESS_FILE).write_text("".join(json.dumps({"time": 100.0, **event}) + "\n"
                                                       for event in events))
    app = open_page()
    assert not app.exception, app.exception
    assert f"{plain(message)}: raise max_length to train on them too." in [caption.value for caption in app.caption]


STAND_IN = "import time\nprint('training (stand-in)', flush=True)\ntime.sleep(120)\n"
"""A process launch_run starts instead of the training: it runs until stopped, at no training's cost."""


def test_a_running_runs_deleted_folder_is_said_and_stop_still_ends_it(runs_root, tmp_path, monkeypatch):
    script = tmp_path / "stand_in_training.py"
    script.write_text(STAND_IN)
    monkeypatch.setattr(runs, "TRAIN_SCRIPT", script)
    run = runs.launch_run(TrainConfig(train_file=str(REPO_ROOT / "training/data/train.csv"), val_file="",
                                      out_dir="gone"), runs_root, "gone")
    pid = json.loads((run.folder / layout.JOB_FILE).read_text())["pid"]
    shutil.rmtree(run.folder)

    app = open_page()
    assert not app.exception, app.exception
    assert app.subheader[0].value == f"Running: {plain(run.name)}"
    assert any(f"The folder of {plain(run.name)} was deleted while it trains" in warning.value
               and "stop it to start another" in warning.value for warning in app.warning)
    assert app.button(key="start").disabled

    app.button(key="stop_run").click().run()
    assert not app.exception, app.exception
    assert f"Stopped **{plain(run.name)}**" in app.info[0].value
    assert runs.active_run(runs_root) is None and not run.folder.exists()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not app.button(key="start").disabled
