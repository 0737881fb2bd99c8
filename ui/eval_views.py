"""The Eval page's parts, called top to bottom by pages/eval.py: the model picker and its
promotion, the chat, evaluations with their progress and results, and comparisons.

Errors are shown as what went wrong and what to do next, never as a traceback. Loaded models
come from ``cached_triager`` (shared by every session): they are used, never changed. Names from
files (run and checkpoint folders, an upload's file name, an adapter's recorded base model) reach
markdown through ``plain``: a folder made by hand in runs/ may hold backticks or a link.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from core.csv_cells import spreadsheet_cell
from core.settings import public_url
from model.active import ModelChoice, promote
from model.review import read_review_rule
from model.schema import CATEGORIES
from training import compare, eval_jobs, layout, uploads
from training.catalog import AdapterEntry, find_adapter
from training.corrections import held_out_for, latest_held_out
from training.data_checks import distinct_mails
from training.eval_jobs import EvalRequest, EvalRun
from training.evaluate import REQUIRED_COLUMNS, DataError, load_rows
from training.jobs import JobState
from training.runs import REALWORLD_CSV
from ui.errors import plain
from ui.eval_chat import (
    CHAT_TURNS_KEPT,
    DEFAULT_SENDER,
    email_from_text,
    keep_recent,
    shown_text,
    stated_fields,
    timed_triage,
)
from ui.eval_choices import (
    NO_ADAPTER,
    adapter_problem,
    adapter_test_split,
    base_model_options,
    choice_for,
    data_folders,
    describe_choice,
    is_evaluation_of,
    is_same_choice,
    plain_base_model,
    server_csv,
    trained_mails,
    upload_path,
)
from ui.resources import cached_triager, desk_settings

TEST_SPLIT, REALWORLD, HELD_OUT, UPLOAD, SERVER_FILE = (
    "Its test split", "Real-world benchmark", "Held-out operator corrections", "Upload a CSV",
    "A CSV file on this server")
SERVED = "model server"
"""The picker's option for ACEDESK_MODEL_URL's server (model/served.py)."""
NO_HELD_OUT = "No held-out corrections yet: start a run with the operator's corrections on the Training page."
CSV_ADVICE = f"Choose a CSV with the columns {', '.join(REQUIRED_COLUMNS)} and categories {', '.join(CATEGORIES)}."
POLL_SECONDS = 2


# --- the model -----------------------------------------------------------------------------


def show_notice() -> None:
    """A message left by the previous run (e.g. after a promotion, which reruns the page)."""
    if notice := st.session_state.pop("eval_notice", None):
        st.success(notice)


def pick_model(entries: list[AdapterEntry], active: ModelChoice) -> tuple[ModelChoice, AdapterEntry | None]:
    """Adapter (or checkpoint) and base model; starts on the inbox's model. An adapter the page
    may not load or promote (``adapter_problem``) is not offered; the page says which and why."""
    runs_dir = desk_settings().runs_dir
    problems = {str(entry.path): problem for entry in entries if (problem := adapter_problem(entry, runs_dir))}
    entries = [entry for entry in entries if str(entry.path) not in problems]
    by_path = {str(entry.path): entry for entry in entries}
    active_entry = find_adapter(entries, active.adapter)
    model_url = desk_settings().model_url
    options = [NO_ADAPTER, *by_path, *([SERVED] if model_url else [])]
    start = options.index(str(active_entry.path)) if active_entry else 0

    def option_label(path: str) -> str:
        if path == NO_ADAPTER:
            return "No adapter: the plain base model"
        if path == SERVED:
            return f"The model server ({public_url(model_url)}), serving the inbox's adapter  ← inbox"
        return by_path[path].label + ("  ← inbox" if by_path[path] is active_entry else "")

    # A key keeps the choice while a running training adds checkpoints to the options.
    chosen = st.session_state.get("eval_adapter")
    if chosen not in options:
        if chosen:  # deleted or damaged since it was chosen: say so rather than switch in silence
            why = problems.get(chosen, "it is no longer there (deleted?)")
            st.warning(f"{plain(chosen)} cannot be used now: {plain(why)}. Showing the inbox's model instead.")
        st.session_state["eval_adapter"] = options[start]
    left, right = st.columns([3, 2])
    path = left.selectbox("Adapter or checkpoint", options, format_func=option_label, key="eval_adapter",
                          help="Shipped adapters, then each training run's checkpoints and final adapter"
                               + (", then the model server (ACEDESK_MODEL_URL)." if model_url else "."))
    if problems:
        st.caption("⚠️ Not offered: " + "; ".join(f"{plain(folder)}: {plain(why)}" for folder, why in problems.items()))
    if path == SERVED:
        right.caption("The server loads its own base model and adapter (`make model-server`).")
        _describe_adapter(active_entry)
        return ModelChoice(active.adapter, None, model_url=model_url), active_entry
    entry = by_path.get(path)
    plain_base = plain_base_model(desk_settings())
    base = right.selectbox("Base model", base_model_options(entries, entry, plain_base), key=f"eval_base::{path}",
                           accept_new_options=True,
                           help="An adapter only works on the base it was trained on (listed first). "
                                "Type a Hugging Face id or a local folder to try another base.")
    _describe_adapter(entry)
    return choice_for(entry, base or "", plain_base), entry


def _describe_adapter(entry: AdapterEntry | None) -> None:
    if entry is None:
        return
    known = [plain(str(entry.path))]
    losses = entry.train_metrics
    if losses.get("loss", losses.get("train_loss")) is not None:
        known.append(f"train loss {losses.get('loss', losses.get('train_loss')):.3f}")
    known += [f"{name}: accuracy {scores['category_accuracy']:.3f}, macro-F1 {scores['macro_f1']:.3f}"
              for name, scores in entry.eval_metrics.items()]
    st.caption(" · ".join(known))


def promotion(choice: ModelChoice, entry: AdapterEntry | None, entries: list[AdapterEntry],
              active: ModelChoice, data_dir: Path, runs_dir: Path) -> None:
    """Make the chosen adapter the inbox's model; the choice persists (data_dir/active_model.json).
    Its review rule first: the one chosen for it, or a button that chooses one."""
    if entry is not None and not choice.model_url:
        review_rule_status(entry, runs_dir)
    if choice.model_url:
        st.caption("✅ The inbox triages through this server while ACEDESK_MODEL_URL is set.")
        return
    if is_same_choice(choice, active):
        st.caption("✅ This is the model the inbox uses.")
        return
    st.caption(f"The inbox uses {plain(describe_choice(active, find_adapter(entries, active.adapter)))}.")
    if entry is None:
        st.caption("Only an adapter can be promoted: the plain base model is here for comparison.")
        return
    if not st.button("Promote to the inbox", help="The inbox switches to this model on its next triage."):
        return
    try:
        promote(data_dir, entry.path, choice.base_model, runs_dir=runs_dir)
    except (OSError, ValueError) as error:
        st.error(f"Could not promote {plain(entry.label)}: {plain(str(error))}. Pick another adapter or checkpoint.")
        return
    # The inbox loads the promoted model afresh from disk on its next triage (a copy cached by the
    # chat may predate a retrained adapter/), and the old one's memory is freed.
    cached_triager.clear(active)
    cached_triager.clear(choice)
    st.session_state["eval_notice"] = (f"The inbox now uses {plain(describe_choice(choice, entry))}. The choice is "
                                       "saved and survives restarts.")
    st.rerun()


def review_rule_status(entry: AdapterEntry, runs_dir: Path) -> None:
    """When the adapter's answers are "Ready": its own rule, or a job choosing one, or a button."""
    try:
        rule = read_review_rule(entry.path)
    except ValueError as error:
        st.error(f"Its review rule cannot be read, so the model cannot load: {plain(str(error))}. Choose it again below.")
        rule = None
    if rule is not None and rule.chosen is not None:
        st.caption(f"Its review rule: Ready when the category is at least {rule.thresholds.confidence:.0%} likely "
                   f"and the category check gives it at least {rule.thresholds.check:.0%}; chosen on "
                   f"{rule.chosen.get('on', '?')}.")
        return
    job = eval_jobs.latest_rule_choice(entry.path, runs_dir)
    if job is not None and job.state == JobState.RUNNING:
        st.fragment(_rule_choice_progress, run_every=POLL_SECONDS)(entry.path, runs_dir)
        return
    if rule is not None:
        st.caption("⚠️ No review rule was chosen for this adapter: promoted, its answers are \"Ready\" by the "
                   "project's default thresholds, chosen for another adapter.")
    if job is not None and job.state in (JobState.FAILED, JobState.STOPPED):
        st.caption(f"The last choice of its rule did not finish ({job.state.value}): {plain(job.message or 'no reason given')}.")
    if st.button("Choose its review rule", help="Triages the dev set (a few minutes on a CPU): the category check's "
                 "weight and the review thresholds are chosen on its even rows and reported on its odd rows, then "
                 "saved beside the adapter (review_rule.json)."):
        try:
            eval_jobs.start_rule_choice(entry.path, runs_dir)
        except eval_jobs.JobAlreadyRunning as busy:
            st.warning(f"Not started: {plain(str(busy))}. Choose the rule once it has ended.")
            return
        except OSError as error:
            st.error(f"Could not start choosing the rule: {error}. Check that {runs_dir} is writable.")
            return
        st.rerun()


def _rule_choice_progress(adapter: str, runs_dir: Path) -> None:
    job = eval_jobs.latest_rule_choice(adapter, runs_dir)
    if job is None or job.state != JobState.RUNNING:
        st.rerun()  # done (or failed): show the rule, or why not
    st.progress(job.done_rows / max(job.total_rows, 1),
                text=f"Choosing its review rule on the dev set: {job.done_rows} of {job.total_rows} mails triaged "
                     "(the check's weight first)")


def load_model(choice: ModelChoice, entry: AdapterEntry | None, active: ModelChoice):
    """The cached model for this choice, or None after saying why it could not be loaded."""
    try:
        triager = cached_triager(choice)
    except Exception as error:  # noqa: BLE001 - loading fails in many ways (files, formats, memory)
        st.error(f"Could not load {plain(describe_choice(choice, entry))}: {plain(str(error))}. "
                 f"{_loading_advice(choice, entry)}")
        return None
    _release_previous_model(choice, active)
    return triager


def _loading_advice(choice: ModelChoice, entry: AdapterEntry | None) -> str:
    if entry is not None and choice.base_model:
        return f"This adapter was trained on {plain(entry.base_model)}: choose that base model."
    return "Check that the base model exists (`make model` prepares the default one), or pick another adapter."


def _release_previous_model(choice: ModelChoice, active: ModelChoice) -> None:
    """Each model takes about a GB: clicking through checkpoints must not keep them all. The
    inbox's model is never released here."""
    previous = st.session_state.get("eval_loaded_choice")
    if previous is not None and not is_same_choice(previous, choice) and not is_same_choice(previous, active):
        cached_triager.clear(previous)
    st.session_state["eval_loaded_choice"] = choice


# --- chat ----------------------------------------------------------------------------------


def chat(choice: ModelChoice, entry: AdapterEntry | None, active: ModelChoice) -> None:
    """One email per message; each answer names the model that gave it."""
    st.caption("Paste a whole mail (From:, Subject:, Date: lines, a blank line, the text) or just its text.")
    sender = st.text_input("Sender when the text has no From: line", value=DEFAULT_SENDER, key="eval_sender")
    turns = st.session_state.setdefault("eval_chat", [])
    if turns and st.button("Clear the chat"):
        turns.clear()
    conversation = st.container()
    for turn in turns:
        with conversation:
            _show_turn(turn)
    text = st.chat_input("Paste or type an email", key="eval_chat_input")
    if not text:
        return
    turn = {"text": shown_text(text), "model": describe_choice(choice, entry)}
    with conversation:
        with st.chat_message("user"):
            st.code(turn["text"], language=None, wrap_lines=True)
        with st.chat_message("assistant"):
            triager = load_model(choice, entry, active)
            if triager is None:
                return
            try:
                with st.spinner("Triaging..."):
                    turn["result"], turn["seconds"] = timed_triage(triager, email_from_text(text, sender))
            except Exception as error:  # noqa: BLE001 - e.g. out of memory: say so, keep the page
                st.error(f"The model failed on this email: {plain(str(error))}. Try a shorter email or another model.")
                return
            _show_answer(turn)
    turns.append(turn)
    if len(turns) > CHAT_TURNS_KEPT:
        keep_recent(turns)
        st.caption(f"Only the last {CHAT_TURNS_KEPT} turns are kept.")


def _show_turn(turn: dict) -> None:
    with st.chat_message("user"):
        st.code(turn["text"], language=None, wrap_lines=True)
    with st.chat_message("assistant"):
        _show_answer(turn)


def _show_answer(turn: dict) -> None:
    result = turn["result"]
    st.markdown(f"**{result.category}** · confidence {result.confidence:.0%} · {turn['seconds']:.2f} s "
                f"· {plain(turn['model'])}")
    if result.problems:
        st.warning("Needs a look: " + plain("; ".join(result.problems)))  # the model's words, quoted
    fields = stated_fields(result)
    if fields:
        st.dataframe(pd.DataFrame({"field": list(fields), "value": list(fields.values())}), hide_index=True)
    st.caption("Proposed reply")
    st.code(result.response, language=None, wrap_lines=True)
    with st.expander("Raw model output"):
        st.code(result.raw_answer, language="json", wrap_lines=True)


# --- evaluation ----------------------------------------------------------------------------


def evaluation_form(choice: ModelChoice, entry: AdapterEntry | None, runs_dir: Path) -> None:
    """Pick labelled data and start an evaluation of the chosen model (it runs on its own)."""
    source = st.radio("Labelled data", [TEST_SPLIT, REALWORLD, HELD_OUT, UPLOAD, SERVER_FILE], horizontal=True,
                      key="eval_source")
    upload, path, problem = None, None, None
    if source == TEST_SPLIT:
        path = adapter_test_split(entry)
        st.caption(plain(str(path)))
    elif source == REALWORLD:
        path = REALWORLD_CSV
        st.caption(f"{plain(str(path))} (never trained on)")
    elif source == HELD_OUT:
        path = held_out_for(entry.hyperparameters if entry else {}) or latest_held_out(runs_dir)
        problem = None if path else NO_HELD_OUT
        st.caption(f"{plain(str(path))} (the newest operator decisions, pseudonymised, never trained on)" if path else
                   NO_HELD_OUT)
    elif source == UPLOAD:
        upload = st.file_uploader("Labelled CSV", type="csv", key="eval_upload", help=CSV_ADVICE)
    else:
        typed = st.text_input("Path of a CSV file in the data folders", key="eval_csv_path", help=CSV_ADVICE)
        path, problem = server_csv(typed, data_folders(desk_settings()))
    limit = st.number_input("Rows to evaluate (0 = all)", min_value=0, value=0, step=10, key="eval_limit",
                            help="The first N rows. Each takes a few seconds on a CPU.")
    if not st.button(f"Evaluate {plain(describe_choice(choice, entry))}", type="primary"):
        return
    if source == UPLOAD:
        if upload is None:
            st.error("Choose a CSV file to upload first.")
            return
        # checked as the Training page checks one: the size before its bytes are copied, then what they are
        problem = uploads.upload_problem(upload.name, upload.size)
        content = b"" if problem else upload.getvalue()
        problem = problem or uploads.upload_problem(upload.name, content)
        if problem:
            st.error(f"{plain(problem)} {CSV_ADVICE}")
            return
        path = upload_path(layout.evals_root(runs_dir), upload.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        # kept only for the evaluation it starts (its metrics point to it): a refused start leaves nothing
        if not _start(choice, entry, path, uploads.shown_name(upload.name), int(limit), runs_dir):
            path.unlink(missing_ok=True)
        return
    if path is None:
        st.error(problem or "Choose the labelled data first.")
        return
    _start(choice, entry, path, _data_label(source, path), int(limit), runs_dir)


def _data_label(source: str, path: Path) -> str:
    if source == TEST_SPLIT:
        return f"test split ({path.name})"
    return f"held-out corrections ({path.name})" if source == HELD_OUT else path.name


def _start(choice: ModelChoice, entry: AdapterEntry | None, path: Path, data_label: str, limit: int,
           runs_dir: Path) -> bool:
    """Whether the evaluation started; when not, the page has said why."""
    try:
        rows = load_rows(path, limit or None)
    except DataError as error:
        # the file's own words (its categories); the data checks' sentences end in a full stop, the rest do not
        said = str(error) if str(error).endswith(".") else f"{error}."
        st.error(f"{plain(said)} {CSV_ADVICE}")
        return False
    if not rows:
        st.error(f"{plain(str(path))} has no rows to evaluate. {CSV_ADVICE}")
        return False
    trained_rows, trained_on = trained_mails(rows, entry)
    request = EvalRequest(path, data_label, choice.adapter, describe_choice(choice, entry), choice.base_model,
                          limit or None, len(rows), choice.model_url, trained_rows, tuple(trained_on),
                          distinct_mails(rows))
    try:
        folder = eval_jobs.start_evaluation(request, runs_dir)
    except eval_jobs.JobAlreadyRunning as busy:
        st.warning(f"Not started: {plain(str(busy))}. Wait for it to end, or stop it below, then evaluate again.")
        return False
    except OSError as error:
        st.error(f"Could not start the evaluation: {plain(str(error))}. Check that {plain(str(runs_dir))} is writable.")
        return False
    st.session_state["eval_shown_run"] = str(folder)
    for warning in _data_warnings(len(rows), request.distinct_rows, trained_rows, trained_on):
        st.warning(warning)
    return True


def _run_warnings(run: EvalRun) -> list[str]:
    return _data_warnings(run.total_rows, run.distinct_rows, run.trained_rows, run.trained_on)


def _data_warnings(total_rows: int, distinct_rows: int | None, trained_rows: int, trained_on) -> list[str]:
    """What the figures on this data cannot say: said when an evaluation starts and wherever they show."""
    warnings = []
    if distinct_rows is not None and distinct_rows < total_rows:
        warnings.append(f"{total_rows} rows are {distinct_rows} distinct {'mail' if distinct_rows == 1 else 'mails'}: "
                        "a repeated mail counts in every figure as often as it is repeated, so they measure fewer "
                        "mails than the row count says.")
    if trained_rows:
        warnings.append(f"{trained_rows} of {total_rows} rows are mails this adapter was trained on "
                        f"({plain(', '.join(trained_on))}): its figures on them measure what it learnt, not how it "
                        "reads new mail. Evaluate it on its test split or the real-world benchmark for a measure.")
    return warnings


def running_evaluations(runs_dir: Path) -> None:
    """Progress of every running evaluation (any session's), refreshed while one runs."""
    running = [run for run in eval_jobs.list_runs(runs_dir) if run.state == JobState.RUNNING]
    st.session_state["eval_running"] = {str(run.folder) for run in running}
    if running:
        st.fragment(_progress, run_every=POLL_SECONDS)(runs_dir)


def _progress(runs_dir: Path) -> None:
    running = [run for run in eval_jobs.list_runs(runs_dir) if run.state == JobState.RUNNING]
    if {str(run.folder) for run in running} != st.session_state.get("eval_running"):
        st.rerun()  # one ended or began: show the whole page anew (results, comparison)
    for run in running:
        bar, stop = st.columns([6, 1], vertical_alignment="bottom")
        bar.progress(run.done_rows / max(run.total_rows, 1),
                     text=f"{plain(run.title)}: {run.done_rows} of {run.total_rows} rows")
        if stop.button("Stop", key=f"eval_stop::{run.folder}"):
            eval_jobs.stop_evaluation(run)
            st.rerun()


def evaluation_results(runs_dir: Path, choice: ModelChoice, entry: AdapterEntry | None) -> None:
    """The results of one ended evaluation of the chosen model: this session's newest unless another
    is picked. Any other evaluation can be picked; when the chosen model has none, the page says so."""
    runs = [run for run in eval_jobs.list_runs(runs_dir) if run.state != JobState.RUNNING]
    if not runs:
        st.info("No evaluations yet: choose labelled data above and press Evaluate.")
        return
    by_folder = {str(run.folder): run for run in runs}
    folders = list(by_folder)
    of_choice = [folder for folder in folders if is_evaluation_of(by_folder[folder], choice)]
    shown = st.session_state.get("eval_shown_run")
    opened = shown if shown in of_choice else (of_choice or folders)[0]
    if not of_choice:
        st.info(f"{plain(describe_choice(choice, entry))} has no evaluation yet: press Evaluate above. "
                "Other models' evaluations can be picked here.")
    # keyed by where it opens: another model chosen, or this session's evaluation ended, opens anew there
    folder = st.selectbox("Results of", folders, index=folders.index(opened), key=f"eval_results::{opened}",
                          format_func=lambda key: f"{by_folder[key].title} · {by_folder[key].state}")
    if folder not in of_choice:
        st.caption(f"Not an evaluation of the chosen model ({plain(describe_choice(choice, entry))}).")
    show_run(by_folder[folder])


def show_run(run: EvalRun) -> None:
    if run.state == JobState.FAILED:
        st.error(f"This evaluation ended with an error: {plain(run.message)}. Check that the model loads in the Chat "
                 f"tab and that the CSV is labelled, then evaluate again.")
        st.caption(f"Its full output: {plain(str(run.folder / layout.EVAL_LOG))}")
        return
    if run.state == JobState.STOPPED:
        st.warning(f"Stopped after {run.done_rows} of {run.total_rows} rows, so there are no scores. "
                   f"Its predictions so far: {plain(str(run.folder / layout.PREDICTIONS_FILE))}")
        return
    for warning in _run_warnings(run):
        st.warning(warning)
    metrics = eval_jobs.load_metrics(run.folder)
    _headline(metrics)
    left, right = st.columns(2)
    left.dataframe(_readable(compare.metrics_table(metrics)), hide_index=True, height="content")
    right.altair_chart(confusion_chart(metrics), width="stretch")
    if metrics.get("risk_coverage"):
        right.altair_chart(risk_coverage_chart(metrics), width="stretch")
    st.dataframe(_readable(compare.per_category_table(metrics)), hide_index=True)
    predictions = eval_jobs.load_predictions(run.folder)
    wrong = compare.wrong_predictions(predictions)
    st.subheader(f"Rows it got wrong: {len(wrong)} of {len(predictions)}")
    st.dataframe(wrong, hide_index=True)
    if not predictions.empty:
        # the mails' text is the senders': no cell a spreadsheet would run as a formula
        st.download_button("Download predictions.csv", predictions.map(spreadsheet_cell).to_csv(index=False),
                           "predictions.csv", "text/csv", key=f"eval_download::{run.folder}")


def _headline(metrics: dict) -> None:
    baseline = compare.score(compare.tfidf_baseline(metrics), "category_accuracy")
    accuracy = compare.score(metrics, "category_accuracy")
    delta = f"{accuracy - baseline:+.3f} vs TF-IDF" if None not in (accuracy, baseline) else None
    columns = st.columns(4)
    columns[0].metric("Category accuracy", _number(accuracy), delta)
    columns[1].metric("Macro-F1", _number(compare.score(metrics, "macro_f1")))
    columns[2].metric("Schema valid", _number(compare.score(metrics, "schema_valid_rate")))
    median = compare.score(metrics, "latency_median_s")
    columns[3].metric("Median latency", "—" if median is None else f"{median:.2f} s")


def confusion_chart(metrics: dict) -> alt.LayerChart:
    """Rows gold, columns predicted, as in metrics.json; the diagonal is what it got right."""
    frame = compare.confusion_frame(metrics)
    base = alt.Chart(frame).encode(x=alt.X("predicted:N", sort=list(CATEGORIES), title="predicted"),
                                   y=alt.Y("gold:N", sort=list(CATEGORIES), title="gold"))
    cells = base.mark_rect().encode(color=alt.Color("count:Q", scale=alt.Scale(scheme="blues"), legend=None),
                                    tooltip=["gold", "predicted", "count"])
    dark = alt.datum.count > max(frame["count"].max() if len(frame) else 0, 1) / 2  # white text on dark cells
    counts = base.mark_text().encode(text="count:Q", color=alt.condition(dark, alt.value("white"),
                                                                          alt.value("black")))
    return (cells + counts).properties(height=300)


def risk_coverage_chart(metrics: dict) -> alt.LayerChart:
    """Category accuracy among the most confident rows against the share kept: where a
    confidence threshold would put the line between *Ready* and *Needs review*; the dot is
    what the review rule (model/review.py) does on these rows."""
    frame = compare.risk_coverage_frame(metrics)
    curve = frame[frame["kind"] == "by confidence"]
    point = frame[frame["kind"] == "review rule"]
    x = alt.X("coverage:Q", title="share of rows not sent to review", scale=alt.Scale(domain=[0, 1]))
    y = alt.Y("accuracy:Q", title="category accuracy among them", scale=alt.Scale(zero=False))
    line = alt.Chart(curve).mark_line(interpolate="step-after").encode(
        x=x, y=y, tooltip=["coverage", "accuracy", "threshold"])
    dot = alt.Chart(point).mark_point(size=120, filled=True, color="crimson").encode(
        x=x, y=y, tooltip=["kind", "coverage", "accuracy"])
    return (line + dot).properties(height=300, title="Risk-coverage")


# --- comparison ----------------------------------------------------------------------------


def comparison(runs_dir: Path) -> None:
    """Two finished evaluations side by side (best on the same data)."""
    runs = [run for run in eval_jobs.list_runs(runs_dir) if run.state == JobState.FINISHED]
    if len(runs) < 2:
        st.info("Comparing needs two finished evaluations: evaluate two checkpoints on the same data in the "
                "Evaluate tab.")
        return
    by_folder = {str(run.folder): run for run in runs}
    titles = {folder: run.title for folder, run in by_folder.items()}
    folders = list(titles)
    left, right = st.columns(2)
    first = left.selectbox("First", folders, index=1, format_func=titles.get, key="eval_compare_first")
    second = right.selectbox("Second", folders, index=0, format_func=titles.get, key="eval_compare_second")
    first_metrics, second_metrics = eval_jobs.load_metrics(Path(first)), eval_jobs.load_metrics(Path(second))
    for warning in compare.comparison_warnings(first_metrics, second_metrics):
        st.warning(f"These two are not directly comparable: {plain(warning)}.")
    for which, folder in (("First", first), ("Second", second)):
        for warning in _run_warnings(by_folder[folder]):
            st.warning(f"{which}: {warning}")
    table = compare.compare_metrics(first_metrics, second_metrics)
    st.dataframe(_readable(table, signed=("change",)), hide_index=True, height="content")
    for column, metrics in zip(st.columns(2), (first_metrics, second_metrics), strict=True):
        column.altair_chart(confusion_chart(metrics), width="stretch")


# --- formatting ----------------------------------------------------------------------------


def _number(value, signed: bool = False):
    """Three decimals (``+``/``-`` when signed), whole counts as they are, a dash for nothing;
    anything else (text) unchanged."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return value
    if isinstance(value, numbers.Integral) and not signed:
        return str(value)
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _readable(frame: pd.DataFrame, signed: tuple[str, ...] = ()) -> pd.DataFrame:
    """The table as people read it: see ``_number``."""
    return pd.DataFrame({column: [_number(value, column in signed) for value in frame[column]]
                         for column in frame.columns})
