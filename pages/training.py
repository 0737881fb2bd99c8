"""Training: pick the data (a CSV, optionally with the operator's corrections from the inbox,
pseudonymised, the newest held out), set the hyperparameters, start a LoRA run and watch it.

A run is a detached process (training/runs.py): reloading the page or closing the tab does
not stop it, and opening the page again reattaches to it from the files in its folder.
"""

import streamlit as st

from training import runs
from ui import training_data, training_form, training_runs
from ui.errors import plain
from ui.navigation import require_app_navigation
from ui.resources import page_settings, store

require_app_navigation()

runs_root = page_settings().runs_dir
st.title("Training")
training_runs.show_notice()
training_runs.live_run(runs_root)
active = runs.active_run(runs_root)

st.header("Data")
train_column, val_column = st.columns(2)
with train_column:
    train_path = training_data.pick_csv("Training data", "train", runs_root, "train.csv")
    train_report = training_data.show_checks(train_path, "training")
with val_column:
    val_path = training_data.pick_csv("Validation data", "val", runs_root, "val.csv", optional=True)
    val_report = training_data.show_checks(val_path, "validation") if val_path else None
training_data.show_overlap(train_path, val_path)
corrections_split, corrections_report = training_data.corrections_source(runs_root, store(), val_path)

st.header("New run")
preset = st.selectbox("Start from", runs.presets(), key="preset", format_func=runs.display_path,
                      on_change=training_form.forget_hyperparameters,
                      help="The form's defaults come from this config in training/configs/.")
try:
    defaults = runs.preset_values(preset)
except ValueError as error:
    st.error(f"{error}. Fix the file or start from another config.", icon=":material/error:")
    st.stop()
with st.form("new_run"):
    name_column, base_column = st.columns([1, 2])
    run_name = name_column.text_input("Run name", preset.stem, key="hp_run_name",
                                      help="The run folder is named after the start time and this.")
    base_model = base_column.text_input(
        "Base model", defaults["base_model"], key="hp_base_model",
        help=f"{runs.DEFAULT_BASE_MODEL} (packaged, fits the CPU), a Hugging Face id such as "
             "meta-llama/Llama-3.2-3B (downloaded; GPU) or a local model folder.")
    values = training_form.hyperparameter_inputs(defaults)
    start = st.form_submit_button("Start training", type="primary", disabled=active is not None, key="start")
all_runs = runs.list_runs(runs_root)
if active is not None:
    st.caption(f"One run at a time: {plain(active.name)} is running. Stop it above or wait for it to finish.")
training_runs.warn_about_outside_runs(all_runs)
if start:
    values.update(base_model=base_model, train_file=str(train_path), val_file=str(val_path or ""))
    if corrections_split:
        values = runs.with_corrections(values, corrections_split)
    reports = [report for report in (train_report, val_report, corrections_report) if report]
    training_runs.start(runs_root, run_name, values, reports)

st.header("Earlier runs")
training_runs.earlier_runs(all_runs)
