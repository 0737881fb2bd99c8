"""Placeholder: the training page comes here."""

import streamlit as st

st.title("Training")
st.info("Coming soon.")
