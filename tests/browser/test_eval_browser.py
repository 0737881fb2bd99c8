"""The Eval page in a real browser on the real app: what AppTest cannot show, the page following
an evaluation process live to its results without a click, the charts drawn, the Stop button,
the chat typed into, and a promotion that survives a reload."""

import json
import re

import pandas as pd
import pytest
from playwright.sync_api import expect

from tests.conftest import REPO_ROOT
from tests.fixtures.browser import screenshot, wait_for_app
from training import eval_jobs, layout
from training.config import TrainConfig
from training.finetune_lora import setup
from training.jobs import JobState

pytest_plugins = ["tests.fixtures.browser"]

EVALUATION_MS = 240_000  # a 5-row evaluation takes ~30 s here while a real training shares the CPU
COLUMNS = ["sender", "subject", "body", "category", "username", "booking_id"]


@pytest.fixture(scope="module")
def runs_dir(tiny_base_dir, tmp_path_factory):
    """One tiny run with checkpoint-2, checkpoint-4 and its final adapter."""
    runs = tmp_path_factory.mktemp("runs")
    train = runs.parent / "ten.csv"
    pd.read_csv(REPO_ROOT / "training/data/train.csv", keep_default_na=False).head(10).to_csv(train, index=False)
    setup(TrainConfig(base_model=str(tiny_base_dir), train_file=str(train), val_file="", out_dir=str(runs / "tiny"),
                      batch_size=4, max_steps=4, logging_steps=1, save_steps=2, learning_rate=1e-3, lora_r=4,
                      lora_alpha=8))
    yield runs
    for run in eval_jobs.list_runs(runs):  # never leave a test's process behind
        if run.state == JobState.RUNNING:
            eval_jobs.stop_evaluation(run)


@pytest.fixture
def five_rows(runs_dir):
    path = runs_dir / "five.csv"  # a typed path may only point into the data folders
    rows = pd.read_csv(REPO_ROOT / "training/data/test.csv", keep_default_na=False).head(5)
    rows[COLUMNS].to_csv(path, index=False)
    return path


def open_eval(page, app):
    page.goto(app.url + "/eval")
    wait_for_app(page)


def choose_adapter(page, label):
    page.get_by_role("combobox", name="Adapter or checkpoint").click()
    page.get_by_role("option", name=label).click()
    wait_for_app(page)


def open_tab(page, name):
    page.get_by_role("tab", name=re.compile(name)).click()
    wait_for_app(page)


def current(page, role, name):
    """The element as the page's latest run drew it: while a rerun is under way Streamlit keeps the
    run before's copy, marked stale, so a rerun the page starts by itself can show two at once."""
    return page.locator('[data-testid="stElementContainer"]:not([data-stale="true"])').get_by_role(role, name=name)


def evaluate(page, csv_path):
    page.get_by_text("A CSV file on this server").click()
    wait_for_app(page)
    path = page.get_by_role("textbox", name="Path of a CSV file")
    path.fill(str(csv_path))
    path.press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name=re.compile("^Evaluate ")).click()


def test_an_evaluation_is_followed_live_to_its_results_then_compared(page, app_server, runs_dir, five_rows):
    app = app_server(env={"ACEDESK_RUNS_DIR": str(runs_dir)})
    open_eval(page, app)
    for checkpoint in ("tiny / checkpoint-2", "tiny / checkpoint-4"):
        choose_adapter(page, checkpoint)
        open_tab(page, "Evaluate")
        evaluate(page, five_rows)
        progress = page.get_by_test_id("stProgress")
        progress.wait_for(timeout=30_000)
        assert re.search(rf"^{checkpoint} on five.csv .*: \d of 5 rows$", progress.inner_text())
        screenshot(page, "eval-running")
        # nothing is clicked from here: the page follows the process until its results are in
        expect(current(page, "combobox", "Results of")).to_have_value(
            re.compile(f"^{checkpoint} on five.csv .* · finished$"), timeout=EVALUATION_MS)
        wait_for_app(page)
        assert page.get_by_test_id("stProgress").count() == 0
        assert page.get_by_text("Rows it got wrong:").count() == 1
        assert page.get_by_test_id("stMetric").filter(has_text="Category accuracy").count() == 1
        charts = page.get_by_test_id("stVegaLiteChart").filter(visible=True)
        assert charts.count() == 2  # the confusion matrix and the risk-coverage plot
    screenshot(page, "eval-results")

    open_tab(page, "Compare")
    assert page.get_by_test_id("stVegaLiteChart").filter(visible=True).count() == 2
    compared = page.get_by_test_id("stDataFrame").filter(visible=True)
    assert compared.count() == 1
    expect(page.get_by_role("combobox", name="First")).to_have_value(re.compile("^tiny / checkpoint-2 on five"))
    expect(page.get_by_role("combobox", name="Second")).to_have_value(re.compile("^tiny / checkpoint-4 on five"))
    screenshot(page, "eval-compare")


def test_a_running_evaluation_stops_on_request(page, app_server, runs_dir):
    app = app_server(env={"ACEDESK_RUNS_DIR": str(runs_dir)})
    open_eval(page, app)
    open_tab(page, "Evaluate")
    rows = len(pd.read_csv(REPO_ROOT / "training/data/test.csv"))  # the default: the test split
    page.get_by_role("button", name=re.compile("^Evaluate ")).click()
    page.get_by_text(re.compile(rf": [1-9]\d* of {rows} rows$")).wait_for(timeout=EVALUATION_MS)
    page.get_by_role("button", name="Stop").click()
    page.get_by_text(re.compile(rf"^Stopped after \d+ of {rows} rows")).wait_for(timeout=30_000)
    wait_for_app(page)
    assert page.get_by_test_id("stProgress").count() == 0
    assert not any(run.state == JobState.RUNNING for run in eval_jobs.list_runs(runs_dir))
    screenshot(page, "eval-stopped")


def test_chat_then_promote_and_the_choice_survives_a_reload(page, app_server, runs_dir):
    app = app_server(env={"ACEDESK_RUNS_DIR": str(runs_dir)})
    open_eval(page, app)
    choose_adapter(page, "tiny / adapter (final)")
    chat = page.get_by_test_id("stChatInputTextArea")
    chat.fill("Hi, please cancel my booking BK-12345 on Saturday. Anna")
    chat.press("Enter")
    page.get_by_text("Raw model output").wait_for(timeout=60_000)
    wait_for_app(page)
    answer = page.get_by_test_id("stChatMessage").nth(1).inner_text()
    assert re.search(r"(add_user|reset_password|cancel_booking|modify_booking|other) · confidence \d+% · "
                     r"[\d.]+ s", answer)
    page.get_by_text("Raw model output").click()
    assert page.get_by_test_id("stCode").filter(has_text='{"category":"').count() >= 1
    screenshot(page, "eval-chat")

    page.get_by_role("button", name="Promote to the inbox").click()
    page.get_by_text("The inbox now uses tiny / adapter (final)").wait_for(timeout=30_000)
    saved = json.loads((app.data_dir / "active_model.json").read_text())
    assert saved["adapter"] == str((runs_dir / "tiny/adapter").resolve())

    page.reload()
    wait_for_app(page)
    assert page.get_by_text("This is the model the inbox uses.").count() == 1
    expect(page.get_by_role("combobox", name="Adapter or checkpoint")).to_have_value(
        re.compile("^tiny / adapter \\(final\\)  ← inbox$"))
    screenshot(page, "eval-promoted")


def test_an_uploaded_csv_is_evaluated_and_a_malformed_one_is_refused_in_words(page, app_server, runs_dir,
                                                                            five_rows, tmp_path):
    app = app_server(env={"ACEDESK_RUNS_DIR": str(runs_dir)})
    open_eval(page, app)
    choose_adapter(page, "tiny / adapter (final)")
    open_tab(page, "Evaluate")
    page.get_by_text("Upload a CSV").click()
    wait_for_app(page)
    unlabelled = tmp_path / "unlabelled.csv"
    pd.read_csv(five_rows).drop(columns=["category"]).to_csv(unlabelled, index=False)
    upload = page.get_by_test_id("stFileUploaderDropzoneInput")
    upload.set_input_files(str(unlabelled))
    wait_for_app(page)
    page.get_by_role("button", name=re.compile("^Evaluate ")).click()
    wait_for_app(page)
    error = page.get_by_test_id("stAlertContentError").filter(has_text="category")
    assert error.count() == 1 and "Choose a CSV with the columns" in error.inner_text()
    assert page.get_by_test_id("stProgress").count() == 0

    upload.set_input_files(str(five_rows))
    wait_for_app(page)
    page.get_by_role("button", name=re.compile("^Evaluate ")).click()
    expect(page.get_by_role("combobox", name="Results of")).to_have_value(
        re.compile(r"^tiny / adapter \(final\) on five.csv .* · finished$"), timeout=EVALUATION_MS)
    wait_for_app(page)
    assert page.get_by_text("Rows it got wrong:").count() == 1
    [kept] = layout.evals_root(runs_dir).rglob("*-five.csv")  # the upload is kept beside its evaluation
    assert kept.read_bytes() == five_rows.read_bytes()
    assert not page.get_by_test_id("stException").count()
    screenshot(page, "eval-upload")
