"""The TF-IDF + logistic regression baseline separates obvious classes."""

import pandas as pd
import pytest

from training.baselines import predict_categories, train_tfidf_baseline

EXAMPLES = {
    "reset_password": [
        ("Forgot password", "I forgot my password, please reset it."),
        ("Login problem", "I can't log in, my password does not work. Can you reset my password?"),
        ("Password reset", "Please send me a password reset link."),
        ("Locked out", "Locked out of my account, need a new password."),
    ],
    "cancel_booking": [
        ("Cancel booking", "Please cancel my court booking BK-12345 for Saturday."),
        ("Cancellation", "I need to cancel booking BK-54321, I am ill."),
        ("Cannot come", "Cancel my booking on court 3 tomorrow please."),
        ("Cancel", "Kindly cancel the booking BK-11111."),
    ],
}


@pytest.fixture
def train_csv(tmp_path):
    rows = [
        {"sender": "a@example.com", "subject": s, "body": b, "category": category}
        for category, examples in EXAMPLES.items()
        for s, b in examples
    ]
    path = tmp_path / "train.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_separates_obvious_classes(train_csv):
    pipeline = train_tfidf_baseline(train_csv)
    rows = [
        {"subject": "password", "body": "I forgot my password and cannot log in"},
        {"subject": "booking", "body": "please cancel my booking BK-99999"},
    ]
    assert predict_categories(pipeline, rows) == ["reset_password", "cancel_booking"]
    assert predict_categories(pipeline, []) == []


def test_missing_column_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.csv"
    pd.DataFrame([{"subject": "x", "body": "y"}]).to_csv(path, index=False)
    with pytest.raises(ValueError, match="category"):
        train_tfidf_baseline(path)
