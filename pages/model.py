"""Which adapter the app uses, how it was trained and scored, and how often the operator agrees
with it: the production metric, from the decisions kept in the ticket store."""

import streamlit as st

from model.active import active_choice
from ui import model_views
from ui.navigation import require_app_navigation
from ui.resources import page_settings, store

require_app_navigation()

st.title("Active model")
settings = page_settings()
model_views.adapter_details(active_choice(settings))
st.header("Agreement with the operator")
model_views.agreement(store())
