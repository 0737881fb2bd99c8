"""The category check: its file format against scikit-learn's own pipeline, and the shipped one."""

import json

import numpy as np
import pytest

from model.category_check import (
    ARTIFACT_DIR,
    METADATA_FILE,
    WEIGHTS_FILE,
    CategoryCheck,
    check_text,
    load_category_check,
    mail_text,
)
from model.schema import CATEGORIES
from training import category_check as trainer

ROWS = [  # (subject, body, category)
    ("Cancel", "please cancel BK-12345", "cancel_booking"),
    ("cancel pls", "cancel my court tomorrow", "cancel_booking"),
    ("Password", "i forgot my password, username tk_9", "reset_password"),
    ("login", "cannot log in, reset my password", "reset_password"),
    ("Move", "move my booking to friday 10am", "modify_booking"),
    ("change", "change BK-22222 to court 3", "modify_booking"),
]


@pytest.fixture
def trained(tmp_path):
    data = tmp_path / "train.csv"
    import pandas as pd

    pd.DataFrame(ROWS, columns=["subject", "body", "category"]).to_csv(data, index=False)
    metadata = trainer.setup((data,), tmp_path / "check")
    return tmp_path / "check", data, metadata


def test_probabilities_equal_scikit_learns_pipeline_after_a_round_trip_through_the_files(trained):
    folder, data, metadata = trained
    from training.baselines import train_tfidf_baseline

    pipeline = train_tfidf_baseline(data, text_of=check_text)
    check = CategoryCheck.load(folder)
    probe = ["Cancel\nplease cancel it", "Hello\nunseen words entirely", "pw\nreset my passwort"]
    expected = pipeline.predict_proba(probe)
    assert check.classes == tuple(pipeline.classes_)
    np.testing.assert_allclose(check.probabilities(probe), expected, atol=1e-4)  # coefficients stored as float32
    assert metadata["trained_on"] and all(len(digest) == 64 for digest in metadata["trained_on"].values())


def test_a_category_the_check_never_learned_has_probability_zero(trained):
    check = CategoryCheck.load(trained[0])
    assert "add_user" not in check.classes and check.probability("Add", "add my son", "add_user") == 0.0


def test_weights_that_do_not_fit_the_vocabulary_are_refused(trained):
    folder = trained[0]
    described = json.loads((folder / METADATA_FILE).read_text())
    described["classes"] = described["classes"][:-1]
    (folder / METADATA_FILE).write_text(json.dumps(described))
    with pytest.raises(ValueError, match="do not fit"):
        CategoryCheck.load(folder)


def test_the_shipped_check_knows_every_category_and_reads_plain_requests():
    check = load_category_check()
    assert set(check.classes) == set(CATEGORIES)
    plain = {
        "cancel_booking": ("Cancel booking", "Hi, please cancel my booking BK-48213, I'm injured. Thanks"),
        "reset_password": ("Password", "I forgot my password, my username is marie.dupont"),
        "add_user": ("New member", "Please add my son to our family account, username tk_2009"),
        "modify_booking": ("Booking", "Could you move my Saturday booking BK-10001 to 10am?"),
    }
    for category, (subject, body) in plain.items():
        assert check.probability(subject, body, category) > 0.5, category


def test_the_shipped_check_records_what_it_was_trained_on():
    described = json.loads((ARTIFACT_DIR / METADATA_FILE).read_text())
    assert (ARTIFACT_DIR / WEIGHTS_FILE).is_file()
    assert set(described["trained_on"]) == {"training/data/train.csv", "training/data/train_chat.csv",
                                            "training/data/train_traps.csv"}
    assert mail_text("S", "B") == "S\nB"
    assert described["reads"].startswith("model.category_check.check_text")


THANKS = "Cheers, that's perfect.\n\nOn Sun, 9 Feb 2025, Riverside LTC wrote:\n> Your booking BK-32084 has been moved."


def test_the_check_reads_the_new_text_not_the_clubs_quoted_answer():
    assert check_text("Re: Booking moved", THANKS) == "Re: Booking moved\nCheers, that's perfect."
    check = load_category_check()
    for category in CATEGORIES:
        assert check.probability("Re: Booking moved", THANKS, category) == pytest.approx(
            check.probability("Re: Booking moved", "Cheers, that's perfect.", category))


def test_a_forward_with_nothing_above_it_is_read_whole():
    forward = "-----Original Message-----\nFrom: Ana\nPlease cancel BK-12345"
    assert "cancel BK-12345" in check_text("Fwd: cancel", forward)
