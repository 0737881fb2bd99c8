"""Which adapter the app uses, how it was trained and scored, and how often the operator agrees
with it: the production metric, from the decisions kept in the ticket store."""

import streamlit as st

from model.active import read_active
from ui import model_views
from ui.navigation import require_app_navigation
from ui.resources import page_settings, promoted_fallback, store

require_app_navigation()

st.title("Active model")
settings = page_settings()
active = read_active(settings)
promoted_fallback(active)
model_views.adapter_details(active.choice)
st.header("Agreement with the operator")
model_views.agreement(store())
