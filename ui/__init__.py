"""Streamlit-side helpers shared by the pages: cached resources and settings read at the edge.

The only package besides dashboard.py and pages/ that imports streamlit.
"""
