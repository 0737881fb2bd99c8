"""Which adapter the app uses, how it was trained, and how it scored."""

import json
from pathlib import Path

import streamlit as st

from model.active import active_choice
from ui.navigation import require_app_navigation
from ui.resources import desk_settings

require_app_navigation()

choice = active_choice(desk_settings())
adapter = Path(choice.adapter) if choice.adapter else None
st.title("Active model")
if adapter is None or not (adapter / "acedesk.json").exists():
    st.info(f"No adapter at {adapter}: the app runs the plain base model.")
    st.stop()

meta = json.loads((adapter / "acedesk.json").read_text())
st.write(f"**Adapter:** `{adapter}` · **base:** `{meta['base_model']}` · "
         f"prompt format v{meta['prompt_format_version']} · schema v{meta['schema_version']}")
for name, title in (("train_metrics.json", "Training"), ("eval_metrics.json", "Evaluation")):
    path = adapter / name
    if path.exists():
        st.subheader(title)
        st.json(json.loads(path.read_text()), expanded=False)
st.subheader("Hyperparameters")
st.json(meta["hyperparameters"], expanded=False)
