"""The Streamlit app as a process on a free port, and helpers for driving it in Chromium with
Playwright (the tests' browser fixtures and the inbox benchmark share them).

    server = start_app(app_environment(data_dir, tiny_model, club), data_dir, log_path)
    page.goto(server.url + "/eval"); wait_for_app(page)

Helpers for ``st.data_editor`` (a canvas grid; cells are addressed by row and column, column
0 being the index): ``edit_cell``, ``toggle_cell``, ``cell_text``, ``find_row``. Test data:
``demo_inbox`` (demo mails, dated as just arrived) and ``triage_as_labelled``.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from core.settings import PROJECT_ROOT
from demo.prepare_mailbox import DEMO_MAIL, prepare_mailbox
from model.replies import render_reply
from model.review import DEFAULT_RULE
from model.schema import TriageResult
from support.states import State
from support.store import TicketStore
from support.triage import backend_flags, review_flags
from testbed import answers, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 1800}
SCREENSHOTS = PROJECT_ROOT / "test-artifacts" / "screenshots"
STARTUP_SECONDS = 30
GRID_ROW_HEIGHT = 35  # st.data_editor's default row height; the header row is as tall
SETTLE_MS = 300


class AppDidNotStart(RuntimeError):
    """The app's process ended or did not answer in time; the message holds its output."""


@dataclass
class AppServer:
    url: str
    data_dir: Path
    env: dict = field(repr=False)
    process: subprocess.Popen = field(repr=False)
    log_path: Path = field(repr=False)

    @property
    def outbox(self) -> Path:
        return self.data_dir / "outbox"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def app_environment(data_dir: Path, tiny_model: Path, club=None, extra: dict | None = None) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ACEDESK_")}
    env.update(ACEDESK_DATA_DIR=str(data_dir), ACEDESK_BASE_MODEL=str(tiny_model), ACEDESK_ADAPTER="",
               ACEDESK_THREADS="1")
    if club is not None:
        env.update(ACEDESK_CLUB_API_URL=club.url, ACEDESK_CLUB_API_TOKEN=club.token)
    env.update(extra or {})
    return env


def start_app(env: dict, data_dir: Path, log_path: Path, script: str = "dashboard.py") -> AppServer:
    """``streamlit run SCRIPT`` on a free port; returns once /_stcore/health answers."""
    port = free_port()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = AppServer(f"http://127.0.0.1:{port}", data_dir, env, process, log_path)
    if answers(f"{server.url}/_stcore/health", process, STARTUP_SECONDS):
        return server
    server.stop()
    raise AppDidNotStart(f"the app did not come up within {STARTUP_SECONDS} s (exit code {process.returncode}); "
                         f"its output:\n{server.log()}")


# -- waiting, screenshots, the data editor ------------------------------------------------------

def wait_for_app(page, timeout_ms: float = 60_000, start_ms: float = 1_500) -> None:
    """Wait until Streamlit has finished running the script (after a load or an interaction).

    A click's rerun starts a moment later, so first give it ``start_ms`` to begin (0: the run
    is known to have begun)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    if start_ms > 0:  # (a Playwright timeout of 0 waits forever)
        try:
            page.wait_for_selector('[data-testid="stApp"]:not([data-test-script-state="notRunning"])',
                                   timeout=start_ms)
        except PlaywrightTimeout:
            pass  # it ran and finished already, or nothing was to run
    page.evaluate("() => { window.__aceQuietSince = undefined; }")
    # Done when the script is not running, no element is a grey skeleton (their code loads lazily)
    # or stale (left from the run before), and that holds for a moment: a new session can say
    # "notRunning" just before its first run starts.
    page.wait_for_function(_SETTLED, arg=SETTLE_MS, timeout=timeout_ms, polling=50)


_SETTLED = """(quietMs) => {
    const app = document.querySelector('[data-testid="stApp"]');
    const busy = !app || app.dataset.testScriptState !== "notRunning"
        || document.querySelector('[data-testid^="stSkeleton"], [data-testid="stAppSkeleton"], [data-stale="true"]');
    const now = performance.now();
    if (busy) { window.__aceQuietSince = undefined; return false; }
    window.__aceQuietSince = window.__aceQuietSince ?? now;
    return now - window.__aceQuietSince >= quietMs;
}"""


def screenshot(page, name: str) -> Path:
    """The viewport as test-artifacts/screenshots/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def _focus_cell(page, grid, row: int, column: int) -> None:
    """Select a cell: click the row's index cell, then arrow right. The keys wait until the grid
    has the focus: under load a key pressed sooner scrolls the page instead."""
    page.keyboard.press("Escape")  # close an editor a failed try may have left open
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 12, box["y"] + GRID_ROW_HEIGHT * (row + 1) + GRID_ROW_HEIGHT // 2)
    page.wait_for_function("grid => grid.contains(document.activeElement)", arg=grid.element_handle())
    for _ in range(column):
        page.keyboard.press("ArrowRight")


def edit_cell(page, grid, row: int, column: int, text: str) -> None:
    """Type ``text`` into a text cell (fill + Enter: typing then Enter at once can save nothing);
    tried twice, as a click can land while the page still moves."""
    for _ in range(2):
        _focus_cell(page, grid, row, column)
        page.keyboard.press("Enter")
        editor = page.locator('[data-testid="portal"] textarea.gdg-input')
        editor.wait_for()
        editor.fill(text)
        page.keyboard.press("Enter")
        wait_for_app(page)
        if cell_text(grid, row, column) == text:
            return
    raise AssertionError(f"row {row}, column {column} did not take {text!r}")


def toggle_cell(page, grid, row: int, column: int) -> None:
    """Tick or untick a checkbox cell; tried twice, as a click can land while the page still moves."""
    before = cell_text(grid, row, column)
    for _ in range(2):
        _focus_cell(page, grid, row, column)
        page.keyboard.press("Space")
        wait_for_app(page)
        if cell_text(grid, row, column) != before:
            return
    raise AssertionError(f"row {row}, column {column} did not toggle")


def cell_text(grid, row: int, column: int) -> str:
    """A cell's value as the grid's hidden accessible cells hold it. The grid draws only the
    columns in view: a cell not drawn is scrolled to first (the table is wider than the page)."""
    cell = grid.locator(f'[data-testid="glide-cell-{column}-{row}"]')
    if cell.count() == 0:
        scroller = grid.locator(".dvn-scroller").first
        for left in range(0, 4000, 200):
            scroller.evaluate("(element, left) => { element.scrollLeft = left; }", left)
            if cell.count():
                break
    return cell.inner_text()


def find_row(grid, column: int, text: str, rows: int = 100) -> int:
    """The first row whose cell in ``column`` contains ``text`` (among the rows drawn)."""
    grid.locator(f'[data-testid="glide-cell-{column}-0"]').wait_for(state="attached")  # the grid is drawn
    for row in range(rows):
        cell = grid.locator(f'[data-testid="glide-cell-{column}-{row}"]')
        if cell.count() == 0:
            break
        if text in cell.inner_text():
            return row
    raise AssertionError(f"no row with {text!r} in column {column}")


# -- test data: demo mails, triaged as labelled ----------------------------------------------------

def demo_inbox(folder: Path, names: list[str] | None = None) -> Path:
    """Demo mails (all, or the named files of demo/mail) in ``folder``, dated as just arrived."""
    source = folder.with_name(folder.name + "-source")
    source.mkdir(parents=True, exist_ok=True)
    for path in sorted(DEMO_MAIL.glob("*.eml")):
        if names is None or path.name in names:
            shutil.copy(path, source / path.name)
    prepare_mailbox(folder, source)
    return folder


def triage_as_labelled(store: TicketStore, workflow=None, confidence: float = 0.9) -> None:
    """Triage the received demo tickets with demo/mail/EXPECTED.csv's labels instead of a model
    (the tiny test model answers at random), flagged as the worker would flag them."""
    with open(DEMO_MAIL / "EXPECTED.csv", newline="") as handle:
        labels = {row["file"]: row for row in csv.DictReader(handle)}
    for ticket in store.tickets(State.RECEIVED):
        label = labels[ticket.uid]
        fields = {"username": label["username"] or None, "booking_id": label["booking_id"] or None}
        result = TriageResult(category=label["category"], confidence=confidence, **fields,
                              response=render_reply(label["category"], fields, ticket.sender))
        store.record_triage(ticket.id, result.to_dict(), review_flags(ticket, result, DEFAULT_RULE.thresholds))
        if workflow is not None and not ticket.machine_mail:
            store.add_flags(ticket.id, backend_flags(workflow, ticket.id))
