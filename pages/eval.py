"""Eval: try any adapter or checkpoint on one email, score it on labelled mail, compare two
evaluations, and promote the best model to the inbox. The parts live in ui/eval_views.py."""

import streamlit as st

from model.active import read_active
from training.catalog import list_adapters
from ui import eval_views
from ui.navigation import require_app_navigation
from ui.resources import page_settings, promoted_fallback

require_app_navigation()

settings = page_settings()
data_dir, runs_dir = settings.data_dir, settings.runs_dir
entries = list_adapters(runs_dir)
promoted = read_active(settings)
active = promoted.choice

st.title("Eval")
eval_views.show_notice()
promoted_fallback(promoted)
choice, entry = eval_views.pick_model(entries, active)
eval_views.promotion(choice, entry, entries, active, data_dir, runs_dir)

chat_tab, evaluate_tab, compare_tab = st.tabs([":material/chat: Chat", ":material/analytics: Evaluate", ":material/compare: Compare"])
with chat_tab:
    eval_views.chat(choice, entry, active)
with evaluate_tab:
    eval_views.evaluation_form(choice, entry, runs_dir)
    eval_views.running_evaluations(runs_dir)
    eval_views.evaluation_results(runs_dir, choice, entry)
with compare_tab:
    eval_views.comparison(runs_dir)
