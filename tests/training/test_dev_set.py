"""The hand-written dev set (training/data/dev.csv): real-style mails, never trained on.

It has the columns of the test split plus ``kind`` (the traits a row tests, ``;``-separated),
``second_category`` and ``second_booking_id`` (the second request of a two-request mail).
training/data/second_requests.csv has the same columns: twenty later mails that measure the
second-request detection alone (family ``second_requests``), apart from dev and the training data;
so has training/data/second_requests_one_sentence.csv (32 mails, written on 2026-12-07 before the
one-sentence rule was measured on them: 16 with two requests in one sentence, 16 with one request
in a sentence that only looks like two); so has training/data/second_requests_subject.csv (40 mails,
written on 2026-12-07 by someone who had not read the detector, before the subject rule was measured
on them: 20 with one request only in the subject and another in the body, 20 look-alikes).
"""

import re
from email.utils import parsedate_to_datetime

import pandas as pd
import pytest

from model.schema import CATEGORIES, normalize_booking_id
from tests.conftest import REPO_ROOT

DATA = REPO_ROOT / "training" / "data"
EXTRA_COLUMNS = ["kind", "second_category", "second_booking_id"]
KIND_MINIMUMS = {
    "long": 40,
    "chat": 40,
    "username": 40,
    "id_in_subject": 15,
    "id_in_quote": 15,
    "two_requests": 20,
    "howto": 20,
    "quoted_club": 20,
    "withdrawn": 10,
    "notice": 10,
}
KINDS = {*KIND_MINIMUMS, "plain"}
TRAINING_FILES = ("train.csv", "train_chat.csv", "train_traps.csv", "val.csv", "test.csv", "handwritten.csv")


def read(name):
    return pd.read_csv(DATA / name, keep_default_na=False, dtype=str)


@pytest.fixture(scope="module")
def dev():
    return read("dev.csv")


SECOND_REQUEST_SETS = {"second_requests.csv": (15, 5), "second_requests_one_sentence.csv": (16, 16),
                       "second_requests_subject.csv": (20, 20)}
"""Each later second-request set, with how many of its mails at least hold two requests and one."""
SUBJECT_SET_KINDS = {"one_request", "two_words", "same_subject", "heading_subject", "forwarded", "question",
                     "thanks", "signature"}
"""The subject set's own traits: its writer's names for what a look-alike subject does."""


@pytest.fixture(scope="module", params=["dev.csv", *SECOND_REQUEST_SETS])
def labelled(request):
    """Each hand-written set with second-request labels."""
    return read(request.param)


def kinds(row):
    return set(row["kind"].split(";"))


def text(row):
    return f"{row['subject']}\n{row['body']}"


def normalised(body):
    return re.sub(r"[^0-9a-z]", "", body.lower())


def test_it_has_the_test_split_columns_plus_three(dev):
    assert list(dev.columns) == list(read("test.csv").columns) + EXTRA_COLUMNS


def test_it_is_large_and_every_category_is_well_represented(dev):
    assert len(dev) >= 200
    assert set(dev["category"]) <= set(CATEGORIES)
    counts = dev["category"].value_counts()
    assert all(counts.get(category, 0) >= 30 for category in CATEGORIES), counts.to_dict()


def test_every_kind_is_known_and_reaches_its_minimum(dev):
    counted = {kind: 0 for kind in KINDS}
    for _, row in dev.iterrows():
        assert kinds(row) <= KINDS, row["kind"]
        for kind in kinds(row):
            counted[kind] += 1
    short = {kind: counted[kind] for kind, minimum in KIND_MINIMUMS.items() if counted[kind] < minimum}
    assert not short, short


def test_languages(dev):
    assert set(dev["lang"]) <= {"en", "de", "fr", "es"}
    counts = dev["lang"].value_counts()
    assert all(counts.get(lang, 0) >= 25 for lang in ("de", "fr", "es")), counts.to_dict()


def test_rows_are_dev_rows_with_dated_mails_and_no_reply(dev):
    assert set(dev["family"]) == {"dev"}
    assert set(dev["response"]) == {""}
    assert all(body.strip() for body in dev["body"])
    for date in dev["date"]:
        parsed = parsedate_to_datetime(date)
        assert parsed.tzinfo is not None and 2024 <= parsed.year <= 2026, date


def test_labelled_usernames_and_booking_ids_stand_in_the_mail(labelled):
    for _, row in labelled.iterrows():
        mail = text(row)
        if row["username"]:
            assert row["username"] in mail, (row["username"], row["subject"])
        for column in ("booking_id", "second_booking_id"):
            value = row[column]
            if not value:
                continue
            assert normalize_booking_id(value) == value, value
            match = re.fullmatch(r"BK-(\d{5})", value)
            assert (match.group(1) if match else value) in mail, (value, row["subject"])


def test_only_two_request_mails_have_a_second_request(labelled):
    for _, row in labelled.iterrows():
        two = "two_requests" in kinds(row)
        assert bool(row["second_category"]) == two, (row["kind"], row["subject"])
        assert not row["second_booking_id"] or two
        if two:
            assert row["second_category"] in CATEGORIES


def test_ids_in_the_subject_are_only_there(dev):
    for _, row in dev[dev["kind"].str.contains("id_in_subject")].iterrows():
        digits = row["booking_id"].removeprefix("BK-")
        assert digits and digits in row["subject"] and digits not in row["body"], row["subject"]


def test_long_mails_are_long(dev):
    for _, row in dev[dev["kind"].str.contains("long")].iterrows():
        assert 600 <= len(row["body"]) <= 2500, (len(row["body"]), row["subject"])


def test_no_dev_body_is_in_the_training_data(labelled):
    seen = set()
    for name in TRAINING_FILES:
        seen |= {normalised(body) for body in read(name)["body"]}
    leaked = [body[:60] for body in labelled["body"] if normalised(body) in seen]
    assert not leaked, leaked
    assert labelled["body"].map(normalised).is_unique


@pytest.mark.parametrize("name", SECOND_REQUEST_SETS)
def test_a_second_request_set_has_dev_columns_and_no_dev_mail(dev, name):
    fresh = read(name)
    assert list(fresh.columns) == list(dev.columns) and set(fresh["family"]) == {name.removesuffix(".csv")}
    assert set(fresh["lang"]) <= {"en", "de", "fr", "es"} and set(fresh["response"]) == {""}
    two, one = SECOND_REQUEST_SETS[name]
    assert (fresh["second_category"] != "").sum() >= two and (fresh["second_category"] == "").sum() >= one
    assert not set(fresh["body"].map(normalised)) & set(dev["body"].map(normalised))
    known = KINDS | (SUBJECT_SET_KINDS if name == "second_requests_subject.csv" else set())
    for _, row in fresh.iterrows():
        assert kinds(row) <= known, row["kind"]
