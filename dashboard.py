"""AceDesk, the app: the operator's inbox, and the experimenter's Training and Eval pages.

    streamlit run dashboard.py        (make demo starts it with the club backend and the worker)

The pages are listed here (st.navigation); each is a short script in pages/ that shows and
calls. Shared resources (settings, the cached model) live in ui/resources.py. With login
configured ([auth] in the secrets), ui/auth.py decides first: until an operator on the allow-list
is logged in, the navigation is hidden and no page runs, whatever the URL asks for.
"""

import streamlit as st

from ui.auth import require_operator

st.set_page_config(page_title="AceDesk", page_icon="🎾", layout="wide")
admitted = require_operator()
navigation = st.navigation({
    "Support": [st.Page("pages/inbox.py", title="Inbox", icon=":material/inbox:", default=True)],
    "Model": [
        st.Page("pages/training.py", title="Training", icon=":material/model_training:"),
        st.Page("pages/eval.py", title="Eval", icon=":material/science:"),
        st.Page("pages/model.py", title="Active model", icon=":material/verified:"),
    ],
}, position="sidebar" if admitted else "hidden")  # hidden, not absent: a deep link keeps its URL for later
if admitted:
    navigation.run()
