"""AceDesk: paste a support email and see how the triage model reads it.

    streamlit run dashboard.py        (or: make demo)

A placeholder until the inbox lands: the model is loaded once per process
(st.cache_resource) and shared by every session; it is never mutated here.
"""

import os

import streamlit as st

from model.inference import DEFAULT_ADAPTER, load_triager
from model.prompt import Email


@st.cache_resource(show_spinner="Loading the triage model...")
def triager(base_model: str | None, adapter: str | None):
    return load_triager(base_model, adapter)


# Settings are read once, here at the edge, and passed down as arguments.
base_model = os.environ.get("ACEDESK_BASE_MODEL") or None
adapter = os.environ.get("ACEDESK_ADAPTER", str(DEFAULT_ADAPTER)) or None

st.set_page_config(page_title="AceDesk", page_icon="🎾", layout="wide")
st.title("AceDesk triage")
st.caption(f"Base model: {base_model or 'adapter default'} · adapter: {adapter or 'none'}")

with st.form("email"):
    sender = st.text_input("From", "Anna Berg <anna.berg@example.org>")
    subject = st.text_input("Subject", "Cancel my court")
    body = st.text_area("Body", "Hi, please cancel my booking BK-48213 on Saturday, I'm injured. Anna", height=180)
    submitted = st.form_submit_button("Triage")

if submitted:
    result = triager(base_model, adapter).triage(Email(sender=sender, subject=subject, body=body))
    left, right = st.columns(2)
    left.metric("Category", result.category, f"confidence {result.confidence:.0%}", delta_color="off")
    if result.problems or not result.valid:
        left.warning("Needs review: " + "; ".join(result.problems or ["invalid answer"]))
    left.json({k: v for k, v in result.to_dict().items() if k not in ("response", "problems")})
    right.text_area("Proposed reply", result.response, height=220)
