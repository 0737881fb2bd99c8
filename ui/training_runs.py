"""The Training page's runs: starting one, its live progress with the Stop button, and earlier runs.

Everything is read back from the run folders (training/runs.py), so a reloaded page or a new
tab shows the same run; the page's session only remembers a notice to show once.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from training import runs
from training.data_checks import CsvReport
from training.jobs import JobState
from ui.errors import plain

REFRESH_S = 2.0
_NOTICE = "training_notice"
_WATCHING = "training_watching"


def show_notice() -> None:
    """A message left by the last action (started, stopped) across the rerun that followed it."""
    kind, text = st.session_state.pop(_NOTICE, (None, None))
    if kind:
        getattr(st, kind)(text)


def start(runs_root: Path, name: str, values: dict, reports: list[CsvReport]) -> None:
    """Check everything, start the run, and rerun the page so it shows the progress."""
    problems = [f"{plain(Path(report.path).name)} has errors (shown under Data): fix the file or pick another."
                for report in reports if not report.ok]
    config, config_problems = runs.build_config(values, runs_root)
    problems += map(plain, config_problems)  # they quote typed paths and an extra file's cells
    if problems:
        for problem in problems:
            st.error(problem, icon=":material/error:")
        return
    try:
        run = runs.launch_run(config, runs_root, name)
    except runs.RunAlreadyActive as busy:
        st.warning(f"Run {plain(busy.run.name)} is running: one run at a time. Wait for it or stop it above.")
        return
    except OSError as error:
        st.error(f"The run could not start: {plain(str(error))}. Check that {plain(str(runs_root))} exists and is writable.", icon=":material/error:")
        return
    st.session_state[_NOTICE] = ("success", (f"Started **{plain(run.name)}**. It goes on when you close this tab; "
                                             "open this page again to see it."))
    st.rerun()


@st.fragment(run_every=REFRESH_S)
def live_run(runs_root: Path) -> None:
    """The active run's progress, refreshed every few seconds, with its Stop button."""
    run = runs.active_run(runs_root)
    if run is None:
        if st.session_state.pop(_WATCHING, None):
            st.rerun()  # the watched run just ended: refresh the form and the list of runs
        return
    st.session_state[_WATCHING] = run.name
    st.subheader(f"Running: {plain(run.name)}")
    if run.folder_deleted:
        st.warning(f"The folder of {plain(run.name)} was deleted while it trains: its progress and checkpoints "
                   "cannot be shown or kept. It still holds the CPU and the one-run lock; stop it to start "
                   "another.", icon=":material/warning:")
    show_progress(runs.run_status(run))
    if st.button("Stop", key="stop_run", icon=":material/stop:", help="Ends the run now; its saved checkpoints stay."):
        with st.spinner("Stopping the run..."):
            stopped = runs.stop_run(runs_root)
        if stopped is not None:
            st.session_state[_NOTICE] = ("info", (f"Stopped **{plain(stopped.name)}**. Its checkpoints are listed "
                                                  "under Earlier runs."))
        st.session_state.pop(_WATCHING, None)
        st.rerun()


def show_progress(status: runs.RunStatus) -> None:
    """Progress bar with ETA, the latest numbers and the loss curves."""
    if not status.training_started and status.state == JobState.RUNNING:
        st.progress(0.0, text="Loading the base model and preparing the data...")
    elif status.max_steps:
        eta = f" · about {runs.format_duration(status.eta_s)} left" if status.state == JobState.RUNNING else ""
        st.progress(status.fraction, text=f"Step {status.step} of {status.max_steps}{eta}")
    for note in status.dropped.values():
        st.caption(f"{plain(note)}: raise max_length to train on them too.")
    loss, eval_loss, speed, elapsed = st.columns(4)
    loss.metric("Loss", _last(status.losses))
    eval_loss.metric("Eval loss", _last(status.eval_losses))
    speed.metric("Tokens/s", f"{status.tokens_per_s:,.0f}" if status.tokens_per_s else "–")
    elapsed.metric("Elapsed", runs.format_duration(status.elapsed_s))
    curves = _loss_frame(status)
    if curves.empty:
        st.caption("The loss curve starts at the first logged step (every logging_steps steps).")
    else:
        st.line_chart(curves, x="step", y="loss", color="curve")


def warn_about_outside_runs(all_runs: list[runs.Run]) -> None:
    """A run started from the command line is not under the app's lock, but it shares the CPU."""
    for run in all_runs:
        if run.state == JobState.RUNNING and not run.launched_here:
            st.warning(f"{plain(run.name)} is training from the command line (its progress file is still being "
                       "written). A run started here would share the CPU with it and both would be slower.",
                       icon=":material/warning:")


def earlier_runs(all_runs: list[runs.Run]) -> None:
    """A table of every run, and the details of one picked from it."""
    if not all_runs:
        st.info("No runs yet: start one above.")
        return
    st.dataframe(pd.DataFrame([_table_row(run) for run in all_runs]), hide_index=True)
    picked = st.selectbox("Details of", all_runs, format_func=lambda run: f"{run.name} ({run.state})",
                          key="run_details")
    _details(picked)


def _details(run: runs.Run) -> None:
    st.markdown(f"**{plain(run.name)}**: {run.state}")
    if run.state == JobState.FAILED:  # the error is the run's own words or its log's: text
        st.error(f"{plain(run.error or 'The run failed.')} {runs.failure_hint(run.error)}", icon=":material/error:")
    if run.state == JobState.INCOMPLETE:
        st.info("This run ended without saving an adapter; its checkpoints (if any) can still be used.")
    if run.state == JobState.RUNNING and run.launched_here:
        st.caption("Its live progress is at the top of the page.")
    else:
        show_progress(runs.run_status(run))
    if run.adapter:
        st.markdown(f"**Adapter:** {plain(runs.display_path(run.adapter))}")
    if run.checkpoints:
        st.markdown("**Checkpoints:** " + ", ".join(f"`{path.name}`" for path in run.checkpoints))
    config_column, metrics_column = st.columns(2)
    with config_column:
        st.markdown("**Config**")
        st.json(run.config, expanded=False)
    with metrics_column:
        if run.metrics:
            st.markdown("**Final metrics** (adapter/train_metrics.json)")
            st.json(run.metrics, expanded=False)


def _table_row(run: runs.Run) -> dict:
    status = runs.run_status(run)
    return {
        "run": run.name,
        "state": run.state,
        "started": datetime.fromtimestamp(run.started_at).strftime("%Y-%m-%d %H:%M") if run.started_at else "",
        "steps": f"{status.step}/{status.max_steps}" if status.max_steps else str(status.step),
        "train loss": run.metrics.get("train_loss"),
        "eval loss": run.metrics.get("eval_loss", _last_value(status.eval_losses)),
        "time": runs.format_duration(run.metrics.get("wall_seconds", status.elapsed_s)),
        "base model": str(run.config.get("base_model", "")),
        "examples": run.metrics.get("train_examples"),
        "checkpoints": len(run.checkpoints),
    }


def _loss_frame(status: runs.RunStatus) -> pd.DataFrame:
    # Long format: the eval points are sparser than the training ones; each curve connects its own.
    rows = [{"step": step, "loss": value, "curve": "training"} for step, value in status.losses]
    rows += [{"step": step, "loss": value, "curve": "eval"} for step, value in status.eval_losses]
    return pd.DataFrame(rows, columns=["step", "loss", "curve"])


def _last_value(points: list[tuple[int, float]]) -> float | None:
    return points[-1][1] if points else None


def _last(points: list[tuple[int, float]]) -> str:
    value = _last_value(points)
    return "–" if value is None else f"{value:.4f}"
