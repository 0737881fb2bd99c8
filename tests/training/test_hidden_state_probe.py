"""The hidden-state probe experiment's extraction, on the tiny model."""

import numpy as np
import pandas as pd
import pytest
import torch

from model.inference import load_triager
from training.hidden_state_probe import StateRecorder, _decoder_layers, extract


@pytest.fixture(scope="module")
def triager(tiny_base_dir):
    return load_triager(str(tiny_base_dir), adapter=None)


@pytest.fixture
def rows_csv(tmp_path):
    path = tmp_path / "rows.csv"
    pd.DataFrame([("a@example.org", "Cancel", "Please cancel BK-12345", "cancel_booking", "", "BK-12345"),
                  ("b@example.org", "Password", "I forgot my password, username tk_9", "reset_password", "tk_9", ""),
                  ("c@example.org", "", "how do I add a guest in the app?", "other", "", "")],
                 columns=["sender", "subject", "body", "category", "username", "booking_id"]).to_csv(path, index=False)
    return path


def test_the_final_state_is_what_the_output_layer_decides_the_category_from(triager, rows_csv, tmp_path):
    recorder = StateRecorder(triager.model, (0, 1))
    arrays = extract(triager, recorder, rows_csv, None, tmp_path)
    assert list(arrays["labels"]) == ["cancel_booking", "reset_password", "other"]
    hidden = triager.model.config.hidden_size
    assert {name: arrays[name].shape for name in ("final", "mean0", "mean1")} == {
        "final": (3, hidden), "mean0": (3, hidden), "mean1": (3, hidden)}
    firsts = triager.trie.first_tokens()
    from training.evaluate import load_rows, row_email

    for state, row in zip(arrays["final"], load_rows(rows_csv), strict=True):
        logits = torch.tensor(state) @ triager.model.get_output_embeddings().weight.detach().T
        from_state = torch.log_softmax(logits[list(firsts.values())], dim=-1).tolist()
        assert from_state == pytest.approx(list(triager.category_scores(row_email(row)).values()), abs=1e-4)
    assert not np.allclose(arrays["mean1"][0], arrays["mean1"][2])  # each mail's own tokens


def test_states_are_reused_while_the_file_is_unchanged(triager, rows_csv, tmp_path, monkeypatch):
    recorder = StateRecorder(triager.model, (1,))
    first = extract(triager, recorder, rows_csv, 2, tmp_path)

    def no_model(email):
        raise AssertionError("the model ran again")

    monkeypatch.setattr(triager, "category_scores", no_model)
    again = extract(triager, recorder, rows_csv, 2, tmp_path)
    assert all(np.array_equal(first[name], again[name]) for name in first)
    rows_csv.write_text(rows_csv.read_text() + "d@example.org,Move,Move BK-54321 to 10am,modify_booking,,BK-54321\n")
    with pytest.raises(AssertionError, match="ran again"):
        extract(triager, recorder, rows_csv, 2, tmp_path)


def test_the_decoder_layers_are_found_in_a_causal_lm(triager):
    assert len(_decoder_layers(triager.model)) == triager.model.config.num_hidden_layers
