"""What the pages share: settings (read once, from secrets or the environment) and the model.

``st.cache_resource`` objects are shared by every session and thread: they are never
mutated here. The triager guards its own generation with a lock; the ticket store is
opened per use (an SQLite connection is cheap and must not cross threads mid-transaction).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import streamlit as st

from model.active import ModelChoice, active_choice
from support.settings import DeskSettings, build_workflow, setting_values
from support.store import TicketStore
from support.workflow import Workflow

if TYPE_CHECKING:  # torch loads with the model, not with the first page view
    from model.inference import Triager


@st.cache_resource
def desk_settings() -> DeskSettings:
    """``.streamlit/secrets.toml`` entries (same names as the environment variables) win over
    the environment; secrets never leave this object except as connection arguments."""
    try:
        secrets = dict(st.secrets)
    except FileNotFoundError:  # no secrets file: the environment alone
        secrets = {}
    return DeskSettings.from_env(setting_values(secrets=secrets))


@st.cache_resource(show_spinner="Loading the triage model...")
def cached_triager(choice: ModelChoice) -> Triager:
    from model.inference import load_triager  # torch: only when a model is needed

    return load_triager(choice.base_model, choice.adapter)


def triager() -> Triager:
    """The inbox's model: the promoted choice (see model/active.py), loaded once per process."""
    return cached_triager(active_choice(desk_settings().data_dir))


def store() -> TicketStore:
    return desk_settings().store()


def workflow(ticket_store: TicketStore) -> Workflow | None:
    """None when no club backend is configured (the page says so)."""
    return build_workflow(ticket_store, desk_settings())


@st.cache_resource
def fetch_lock() -> threading.Lock:
    """One fetch-and-triage at a time in this process: two sessions clicking "Fetch new mail" at
    once would triage the same tickets twice (the worker, another process, is kept apart by the
    store: a ticket is recorded only while it is still received)."""
    return threading.Lock()
