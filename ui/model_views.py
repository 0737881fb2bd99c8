"""The Active model page's parts: the adapter the inbox uses with its metrics, and agreement, the
production metric: how often the operator accepted the model's category and fields unchanged,
per week and per category, the Ready view's error rate as the operator saw it, and the most
frequent corrections (their values pseudonymised: this page is not the ticket store)."""

from __future__ import annotations

import secrets
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from model.active import ModelChoice
from model.metadata import read_metadata
from model.review import read_review_rule
from support import corrections
from support.store import TicketStore
from training import layout
from ui.errors import plain

ALL = "all categories"
_SEED = "model_pseudonym_seed"


def adapter_details(choice: ModelChoice) -> None:
    """The adapter, its base and formats, its training and evaluation metrics and hyperparameters."""
    adapter = Path(choice.adapter) if choice.adapter else None
    if adapter is None or not (adapter / "acedesk.json").exists():
        st.info(f"No adapter{f' at {adapter}' if adapter else ''}: the app runs the plain base model.")
        return
    try:
        meta = read_metadata(adapter)
    except (OSError, ValueError) as error:
        st.error(f"The adapter's metadata cannot be read, so the inbox cannot load it: {plain(str(error))}",
                 icon=":material/error:")
        return
    st.write(f"**Adapter:** `{adapter}` · **base:** `{meta.get('base_model')}` · "
             f"prompt format v{meta['prompt_format_version']} · schema v{meta['schema_version']}")
    review_rule(adapter)
    for name, title in ((layout.TRAIN_METRICS, "Training"), (layout.EVAL_METRICS, "Evaluation")):
        if metrics := layout.read_json_object(adapter / name):  # a damaged file shows nothing, never a traceback
            st.subheader(title)
            st.json(metrics, expanded=False)
    st.subheader("Hyperparameters")
    st.json(meta.get("hyperparameters") or {}, expanded=False)


def review_rule(adapter: Path) -> None:
    """When the adapter's answers are "Ready": its own rule (review_rule.json), or a warning that
    nobody chose one for it."""
    try:
        rule = read_review_rule(adapter)
    except ValueError as error:
        st.error(f"The adapter's review rule cannot be read, so the inbox cannot load it: {error}")
        return
    line = (f"**Ready** when the category is at least {rule.thresholds.confidence:.0%} likely and the category "
            f"check gives it at least {rule.thresholds.check:.0%} (the check counts {rule.check_weight:g}× "
            "in the category decision)")
    if rule.chosen is None:
        st.warning(f"{line}: the project's default rule, not chosen for this adapter. Choose its own with "
                   f"`python -m training.choose_review_rule --adapter {adapter}`.")
        return
    reported = rule.chosen.get("reported") or {}
    st.write(f"{line}; chosen on {rule.chosen.get('on', '?')}.")
    if reported.get("ready_accuracy") is not None:
        st.caption(f"On the {reported.get('rows')} rows, which chose nothing: ready accuracy "
                   f"{reported['ready_accuracy']:.3f} at coverage {reported['ready_coverage']:.3f}.")


def agreement(ticket_store: TicketStore) -> None:
    """The operator's verdict on the model, from the decisions kept in the store."""
    decided = ticket_store.corrections()
    if not decided:
        st.info("No decided tickets yet: each approval or rejection in the inbox counts here "
                "(unless ACEDESK_COLLECT_CORRECTIONS is off).")
        return
    recent, overall = corrections.recent_agreement(ticket_store), _total(decided)
    ready = corrections.ready_view_errors(decided)
    week_column, all_column, ready_column = st.columns(3)
    week_column.metric(f"Agreement, last {corrections.AGREEMENT_DAYS} days", _percent(recent.rate),
                       help=f"{recent.agreed} of {recent.decisions} decisions kept the model's category and fields")
    all_column.metric("Agreement, all decisions", _percent(overall.rate),
                      help=f"{overall.agreed} of {overall.decisions} decisions")
    ready_column.metric("Ready view error rate", _percent(1 - ready.rate if ready.decisions else None),
                        help=f"{ready.decisions - ready.agreed} of the {ready.decisions} tickets the model marked "
                             "ready had their category or fields changed by the operator")
    frame = weekly_frame(decided)
    st.altair_chart(_chart(frame), width="stretch")
    st.dataframe(_table(frame), hide_index=True)
    st.markdown("**Most frequent corrections**")
    seed = st.session_state.setdefault(_SEED, secrets.randbits(32))  # the same stand-ins while the tab is open
    frequent = corrections.frequent_corrections(decided, seed=seed)
    if frequent:
        st.dataframe(pd.DataFrame(frequent, columns=["correction", "times"]), hide_index=True)
    else:
        st.caption("No corrections: every decision kept the model's answer.")


def weekly_frame(decided: list[corrections.Correction]) -> pd.DataFrame:
    """Agreement per week (its Monday) and model category, plus every category together."""
    by_key = corrections.weekly_agreement(decided)
    weeks = sorted({week for week, _ in by_key})
    rows = [{"week": week, "category": category, "decisions": cell.decisions, "agreement": cell.rate}
            for (week, category), cell in by_key.items()]
    for week in weeks:
        cells = [cell for (cell_week, _), cell in by_key.items() if cell_week == week]
        total = _sum(cells)
        rows.append({"week": week, "category": ALL, "decisions": total.decisions, "agreement": total.rate})
    return pd.DataFrame(rows, columns=["week", "category", "decisions", "agreement"])


def _chart(frame: pd.DataFrame) -> alt.Chart:
    return alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("week:T", title="week"), y=alt.Y("agreement:Q", title="agreement", scale=alt.Scale(domain=[0, 1]),
                                                  axis=alt.Axis(format="%")),
        color=alt.Color("category:N"), tooltip=["week:T", "category:N", "decisions:Q",
                                                alt.Tooltip("agreement:Q", format=".0%")])


def _table(frame: pd.DataFrame) -> pd.DataFrame:
    """Weeks as rows, categories as columns, each cell "agreement (decisions)"."""
    cells = frame.assign(cell=[f"{rate:.0%} ({count})" for rate, count in zip(frame["agreement"], frame["decisions"],
                                                                                strict=True)])
    table = cells.pivot(index="week", columns="category", values="cell").fillna("–")
    ordered = [column for column in table.columns if column != ALL] + [ALL]
    return table[ordered].sort_index(ascending=False).reset_index().astype({"week": str})


def _total(decided: list[corrections.Correction]) -> corrections.Agreement:
    return corrections.Agreement(len(decided), sum(correction.agreed for correction in decided))


def _sum(cells: list[corrections.Agreement]) -> corrections.Agreement:
    return corrections.Agreement(sum(cell.decisions for cell in cells), sum(cell.agreed for cell in cells))


def _percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate:.0%}"
