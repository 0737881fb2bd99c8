"""Placeholder: the eval page comes here."""

import streamlit as st

st.title("Eval")
st.info("Coming soon.")
