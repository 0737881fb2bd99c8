"""Hostile logins (ui/auth.py): identity claims shaped to be taken for an operator's, and page scripts
run without dashboard.py. The rule under test: a login is admitted, and named in the audit log, only
as an allow-list address it spells the same but for ASCII case and the spelling of an international domain (Unicode or punycode)."""

from __future__ import annotations

import importlib
import sys
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from streamlit.testing.v1 import AppTest

from core.settings import operator_address
from tests.conftest import REPO_ROOT
from ui.auth import Verdict, actor_for, decide

OPERATORS = ("kim@club.example", "coach@club.example", "desk@club.example")
AUTH = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "x" * 32, "client_id": "acedesk",
        "client_secret": "s", "server_metadata_url": "https://accounts.google.com/.well-known/openid-configuration"}
PAGES = sorted((REPO_ROOT / "pages").glob("*.py"))


def same_but_ascii_case(claim: str, entry: str) -> bool:
    return len(claim) == len(entry) and all(
        mine == theirs or (mine.isascii() and theirs.isascii() and mine.lower() == theirs.lower())
        for mine, theirs in zip(claim, entry, strict=True))


# -- claims that look like an operator's address -------------------------------------------------------

@cache
def look_alikes() -> dict[str, dict[str, list[str]]]:
    """For each family, for each character: the other, non-ASCII code points a login could use to pass
    for it. "case": Unicode's case mappings take them to it (the Kelvin sign K to "k"); "appearance":
    NFKC takes them to it (fullwidth, mathematical letters), or another script draws it alike (Cyrillic)."""
    import unicodedata
    found: dict[str, dict[str, set[str]]] = {"case": {}, "appearance": {}}
    for char in map(chr, range(0x80, 0x20000)):  # the planes that hold letters; above are CJK ideographs
        for family, images in (("case", {char.lower(), char.upper(), char.casefold()}),
                               ("appearance", {unicodedata.normalize("NFKC", char)})):
            for image in images - {char}:
                if len(image) == 1:
                    found[family].setdefault(image, set()).add(char)
    for latin, cyrillic in zip("aceopxy", "асеорху", strict=True):
        found["appearance"].setdefault(latin, set()).add(cyrillic)
    return {family: {char: sorted(others) for char, others in table.items()} for family, table in found.items()}


WHITESPACE = [chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace()] + ["\x00", "\u200b"]


@hs.composite
def claims_near(draw, entry: str) -> str:
    """``entry`` in any ASCII case, one or two of its characters swapped for a look-alike, perhaps padded:
    a claim that differs from an operator's in little more than it must."""
    claim = [draw(hs.sampled_from([char, char.upper()])) for char in entry]
    alikes = look_alikes()[draw(hs.sampled_from(["case", "appearance"]))]
    swappable = [position for position, char in enumerate(entry) if char in alikes]
    for position in draw(hs.sets(hs.sampled_from(swappable), max_size=2)) if swappable else ():
        claim[position] = draw(hs.sampled_from(alikes[entry[position]]))
    padding = hs.text(hs.sampled_from(WHITESPACE), max_size=2)
    return draw(padding) + "".join(claim) + draw(padding)


@settings(max_examples=400, deadline=None)
@given(hs.sampled_from(OPERATORS).flatmap(claims_near))
def test_a_login_is_admitted_only_as_an_address_it_spells_the_same_but_for_ascii_case(claim):
    access = decide({"is_logged_in": True, "email": claim, "email_verified": True}, OPERATORS)
    if access.verdict is Verdict.ADMITTED:
        assert actor_for(access) in OPERATORS
        assert same_but_ascii_case(claim, actor_for(access)), f"{claim!r} admitted as {actor_for(access)!r}"


@pytest.mark.parametrize("claim", ["\u212aim@club.example",  # KELVIN SIGN: lower() makes it "k"
                                   "coach@club.example\u00a0", "\x1fcoach@club.example", " kim@club.example",
                                   "co\u0430ch@club.example"])  # Cyrillic a
def test_a_look_alike_of_an_operator_is_refused_and_never_recorded_as_them(claim):
    access = decide({"is_logged_in": True, "email": claim, "email_verified": True}, OPERATORS)
    assert access.verdict is Verdict.REFUSED and access.operator not in OPERATORS
    with pytest.raises(PermissionError):
        actor_for(access)


def test_no_character_outside_ascii_compares_as_an_ascii_one():
    """Every code point: two logins are one operator only by ASCII case, whatever the script."""
    changed = [char for char in map(chr, range(sys.maxunicode + 1))
               if not char.isascii() and operator_address(char) != char]
    assert changed == []


# -- the provider's word on the address ---------------------------------------------------------------

@pytest.mark.parametrize("verified", [False, "false", "False", "FALSE", 0, "0", "no", None, "", [], {}, 1, "yes"])
def test_an_address_verified_by_anything_but_a_yes_is_refused(verified):
    access = decide({"is_logged_in": True, "email": "coach@club.example", "email_verified": verified}, OPERATORS)
    assert access.verdict is Verdict.REFUSED and "not verified" in access.reason


@pytest.mark.parametrize("claims", [{"email_verified": True}, {"email_verified": "true"},
                                    {"email_verified": " TRUE"}, {}])  # no claim at all: Microsoft Entra sends none
def test_a_verified_or_unqualified_operator_is_admitted(claims):
    access = decide({"is_logged_in": True, "email": "coach@club.example", **claims}, OPERATORS)
    assert access.verdict is Verdict.ADMITTED and actor_for(access) == "coach@club.example"


# -- a page script run alone (Streamlit's legacy pages/ mode, a deep link) -------------------------------

def drawn(app: AppTest) -> list[str]:
    """The elements a run put on the screen, main area and sidebar (empty containers are nothing)."""
    def leaves(node):
        children = getattr(node, "children", None)
        if children is None:
            yield type(node).__name__
        else:
            for child in children.values():
                yield from leaves(child)
    return [*leaves(app.main), *leaves(app.sidebar)]


def run_alone(monkeypatch, script, user: dict) -> AppTest:
    # AppTest puts the script's folder first on sys.path, where pages/training.py and pages/model.py would
    # stand in for the packages of the same name: import those first, as dashboard.py's folder does
    for page in PAGES:
        if (REPO_ROOT / page.stem / "__init__.py").is_file():
            importlib.import_module(page.stem)
    monkeypatch.setenv("ACEDESK_OPERATORS", ",".join(OPERATORS))
    app = AppTest.from_file(str(script), default_timeout=60)
    app.secrets["auth"] = AUTH
    app.user = user
    return app.run()


def test_pages_exist_to_check():
    assert {page.name for page in PAGES} >= {"inbox.py", "training.py", "eval.py", "model.py"}


@pytest.mark.parametrize("user", [{"is_logged_in": False}, {"is_logged_in": True, "email": "visitor@example.org"}],
                         ids=["nobody", "outsider"])
@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_every_page_run_alone_shows_nothing_to_whoever_may_not_use_the_app(monkeypatch, page, user):
    app = run_alone(monkeypatch, page, user)
    assert drawn(app) == []


def test_a_page_without_the_guard_would_be_caught(monkeypatch, tmp_path):
    unguarded = tmp_path / "ledger.py"
    unguarded.write_text('import streamlit as st\nst.title("Member ledger")\n')
    assert drawn(run_alone(monkeypatch, unguarded, {"is_logged_in": False})) == ["Title"]
