"""What the pages share: the settings (read once, from .streamlit/secrets.toml and the
environment) and the model.

``st.cache_resource`` objects are shared by every session and thread: they are never
mutated here. The triager guards its own generation with a lock; the ticket store is
opened per use (an SQLite connection is cheap and must not cross threads mid-transaction).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import streamlit as st

from core.settings import Settings, load_settings
from model.active import ActiveModel, ModelChoice, active_choice
from model.review import ReviewRule
from support.desk import StoreUnavailable, build_workflow, inbox_review_rule, open_store
from support.store import TicketStore
from support.workflow import Workflow
from ui.errors import plain, wrong_setting

if TYPE_CHECKING:  # torch loads with the model, not with the first page view
    from model.inference import Triager
    from model.served import ServedTriager


@st.cache_resource
def desk_settings() -> Settings:
    """The settings, read once per app process (core/settings.py: the secrets file wins over the
    environment); secrets never leave this object except as connection arguments."""
    load_settings.cache_clear()  # a cleared cache_resource re-reads the file and the environment
    return load_settings()


def page_settings() -> Settings:
    """``desk_settings()`` for the top of a page: a wrong setting is named (never its value) and
    the page stops there, instead of a traceback."""
    try:
        return desk_settings()
    except ValueError as problem:
        wrong_setting(problem)


@st.cache_resource(show_spinner="Loading the triage model...")
def cached_triager(choice: ModelChoice) -> Triager | ServedTriager:
    if choice.model_url:  # nothing to load: the server holds the model
        return served_triager(choice.model_url, choice.adapter)
    from model.inference import load_triager  # torch: only when a model is needed

    return load_triager(choice.base_model, choice.adapter, threads=desk_settings().threads)


@st.cache_resource
def served_triager(url: str, adapter: str | None) -> ServedTriager:
    """The model server (ACEDESK_MODEL_URL): nothing is loaded in the app."""
    from model.served import ServedTriager

    return ServedTriager.from_settings(desk_settings(), adapter=adapter)


def triager() -> Triager | ServedTriager:
    """The inbox's model: the model server when one is configured, else the promoted choice (see
    model/active.py), loaded once per process."""
    settings = desk_settings()
    choice = active_choice(settings)
    if settings.model_url:
        return served_triager(settings.model_url, choice.adapter)
    return cached_triager(choice)


def promoted_fallback(active: ActiveModel) -> None:
    """Where the promoted model cannot be used, say so and which model runs instead: the operator
    must not believe the inbox runs a model it does not."""
    if active.problem:
        st.warning(f"The promoted model is not used: {plain(active.problem)}. The inbox uses "
                   f"{plain(active.choice.adapter or 'the plain base model')} instead; promote a model on the "
                   "Eval page to choose again.", icon=":material/warning:")


def review_rule() -> ReviewRule:
    """The review rule of the inbox's model (its adapter's review_rule.json): what decides the
    tickets the inbox makes itself, such as a split-off second request."""
    return inbox_review_rule(desk_settings())


def store() -> TicketStore:
    """The ticket store for a page; one that cannot be opened is said, and the page stops there."""
    try:
        return open_store(desk_settings())
    except StoreUnavailable as problem:
        st.error(plain(str(problem)), icon=":material/error:")
        st.stop()


def workflow(ticket_store: TicketStore) -> Workflow | None:
    """None when no club backend is configured (the page says so)."""
    return build_workflow(ticket_store, desk_settings())


@st.cache_resource
def fetch_lock() -> threading.Lock:
    """One fetch-and-triage at a time in this process: two sessions clicking "Fetch new mail" at
    once would triage the same tickets twice (the worker, another process, is kept apart by the
    store: a ticket is recorded only while it is still received)."""
    return threading.Lock()
