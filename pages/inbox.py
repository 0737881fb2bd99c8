"""Placeholder: the inbox page comes here."""

import streamlit as st

st.title("Inbox")
st.info("Coming soon.")
