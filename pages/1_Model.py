"""Which adapter the app uses, how it was trained, and how it scored."""

import json
import os
from pathlib import Path

import streamlit as st

from model.inference import DEFAULT_ADAPTER

adapter = Path(os.environ.get("ACEDESK_ADAPTER", str(DEFAULT_ADAPTER)))
st.title("Model")
if not (adapter / "acedesk.json").exists():
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
