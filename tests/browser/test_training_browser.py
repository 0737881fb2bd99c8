"""The Training page in a real browser on the real app: what AppTest cannot show, the page
refreshing itself while a detached run trains, reattaching after a reload, and the Stop button."""

import re

import pandas as pd
import pytest

from tests.conftest import REPO_ROOT
from tests.fixtures.browser import screenshot, wait_for_app
from training import runs
from training.config import TrainConfig
from training.jobs import JobState

pytest_plugins = ["tests.fixtures.browser"]

RUN_SECONDS_MS = 240_000  # a tiny run takes ~10 s alone; this CPU may be busy with a real training


@pytest.fixture
def ten_rows(tmp_path):
    path = tmp_path / "ten.csv"
    pd.read_csv(REPO_ROOT / "training/data/train.csv", keep_default_na=False).head(10).to_csv(path, index=False)
    return path


@pytest.fixture
def runs_root(tmp_path):
    root = tmp_path / "runs"
    yield root
    runs.stop_run(root, grace_s=5)  # never leave a test's process behind


def open_training_page(page, app) -> None:
    """Through the app's navigation, as a person does (deep links: test_navigation_browser.py)."""
    page.goto(app.url)
    wait_for_app(page)
    page.get_by_test_id("stSidebarNav").get_by_text("Training", exact=True).click()
    wait_for_app(page)
    page.get_by_role("heading", name="Training").wait_for()


def progress_step(page) -> int:
    text = page.get_by_test_id("stProgress").inner_text()
    return int(re.search(r"Step (\d+) of", text).group(1))


def test_a_run_started_in_the_form_is_followed_live_to_the_end(page, app_server, runs_root, ten_rows,
                                                              tiny_base_dir):
    app = app_server(env={"ACEDESK_RUNS_DIR": str(runs_root)})
    open_training_page(page, app)
    screenshot(page, "training-empty")

    uploads = page.get_by_test_id("stFileUploaderDropzoneInput")
    uploads.nth(0).set_input_files(str(ten_rows))
    wait_for_app(page)
    uploads.nth(1).set_input_files(str(ten_rows))
    wait_for_app(page)
    assert page.get_by_text("Using the upload").count() == 2
    page.get_by_role("textbox", name="Base model").fill(str(tiny_base_dir))
    page.get_by_role("textbox", name="Run name").fill("browser")
    page.get_by_role("spinbutton", name="threads").fill("1")
    page.get_by_role("button", name="Start training").click()

    page.get_by_text(re.compile(r"^Running: \d{8}-\d{6}-browser$")).wait_for(timeout=30_000)
    page.get_by_text("Started").first.wait_for()
    screenshot(page, "training-running")
    # nothing is clicked from here: the page refreshes itself until the run is in the list
    page.get_by_text(re.compile(r"-browser: finished$")).wait_for(timeout=RUN_SECONDS_MS)
    wait_for_app(page)
    assert page.get_by_text("Running:").count() == 0
    assert page.get_by_role("button", name="Start training").is_enabled()
    screenshot(page, "training-finished")
    assert runs.list_runs(runs_root)[0].state == JobState.FINISHED


def test_a_reloaded_page_reattaches_and_the_stop_button_stops_the_run(page, app_server, runs_root, ten_rows,
                                                                     tiny_base_dir):
    slow = TrainConfig(base_model=str(tiny_base_dir), train_file=str(ten_rows), val_file="", max_steps=100_000,
                       batch_size=4, logging_steps=1, save_steps=100_000, threads=1, lora_r=4, lora_alpha=8)
    run = runs.launch_run(slow, runs_root, "slow")
    app = app_server(env={"ACEDESK_RUNS_DIR": str(runs_root)})
    open_training_page(page, app)
    page.get_by_text(f"Running: {run.name}").wait_for()

    page.get_by_text(re.compile(r"Step \d+ of 100000")).wait_for(timeout=RUN_SECONDS_MS)
    first = progress_step(page)
    page.wait_for_function(  # the fragment refreshes on its own
        f"() => /Step (\\d+) of/.exec(document.querySelector('[data-testid=stProgress]').innerText)[1] > {first}",
        timeout=60_000)

    page.reload()
    wait_for_app(page)
    page.get_by_text(f"Running: {run.name}").wait_for()
    assert page.get_by_role("button", name="Start training").is_disabled()
    screenshot(page, "training-reattached")

    page.get_by_test_id("stButton").get_by_role("button", name="Stop").click()
    page.get_by_text(f"Stopped {run.name}").wait_for(timeout=60_000)
    wait_for_app(page)
    assert page.get_by_text(f"{run.name}: stopped").count() == 1
    assert runs.active_run(runs_root) is None and runs.load_run(run.folder).state == JobState.STOPPED
    screenshot(page, "training-stopped")
