"""ui/errors.py: ``plain`` lets text from a mail or an error into Streamlit's markdown with nothing in it
live, and a wrong setting is named without its value."""

from __future__ import annotations

import re
import string
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.conftest import settings_of
from ui.errors import LINE_BREAK, TEXT_BREAK, plain, setting_problem

_TOKEN = re.compile(rf"\\(.)|({re.escape(TEXT_BREAK)})|(.)", re.DOTALL)
"""One piece of ``plain``'s output: an escaped character, a text break, or a character as it is."""


def text_nodes(markdown: str) -> list[str]:
    """The text nodes Streamlit's markdown builds of ``plain``'s output: a backslash-escaped ASCII
    punctuation character is the character, and each ``TEXT_BREAK`` (an empty span) ends a node."""
    nodes, current = [], []
    for escaped, text_break, char in _TOKEN.findall(markdown):
        if text_break:
            nodes.append("".join(current))
            current = []
        else:
            current.append(escaped or char)
    return [*nodes, "".join(current)]


def shown(markdown: str) -> str:
    """What the operator reads of ``plain``'s output, and what a copy of it holds."""
    return "".join(text_nodes(markdown))


def unescaped_punctuation(markdown: str) -> list[str]:
    """The ASCII punctuation that markdown would read as syntax (neither escaped nor a text break)."""
    return [char for _, _, char in _TOKEN.findall(markdown) if char and char in string.punctuation]


# What Streamlit's markdown finds in a text node once the escapes are read (remark-gfm's literal autolinks,
# remark-emoji, Streamlit's :material_…: and :streamlit: replacements, its typographic arrows): none may match.
LIVE_IN_TEXT = [
    re.compile(r"https?://|www(?=\.)", re.IGNORECASE),
    re.compile(r"[-.\w+]+@[-\w]+(?:\.[-\w]+)+"),
    re.compile(r":\+1:|:-1:|:[\w-]+:"),
    re.compile(r":material[/_]\w+:|:streamlit:"),
    re.compile(r"->|<-|--|>=|<=|~="),
]


def live_text(markdown: str) -> list[str]:
    return [match.group() for node in text_nodes(markdown) for pattern in LIVE_IN_TEXT
            for match in pattern.finditer(node)]


@given(st.text(alphabet=st.characters(exclude_characters=["⏎"])))
def test_plain_leaves_no_markdown_syntax_no_line_break_and_shows_the_text_as_written(text):
    markdown = plain(text)
    assert unescaped_punctuation(markdown) == []
    assert "\n" not in markdown and "\r" not in markdown
    assert live_text(markdown) == []
    assert shown(markdown) == re.sub(r"\r\n|\r|\n", LINE_BREAK, text)


@given(st.lists(st.sampled_from(["http://", "https://", "www.", "@", ":", ".", "material/", "material_", "smile",
                                 "streamlit", "evil", "example", "\n", "---", "===", "- ", "+ ", "1. ", "> ", "#",
                                 "[", "](", ")", "\\", "*", "_", "`", "$", "<", ">", "|", "~", "!", " ", "-", "=",
                                 ":small[]", "]"])).map("".join))
def test_plain_leaves_nothing_live_however_the_pieces_of_a_link_or_icon_are_put_together(text):
    markdown = plain(text)
    assert unescaped_punctuation(markdown) == [] and live_text(markdown) == [] and "\n" not in markdown
    assert shown(markdown) == text.replace("\n", LINE_BREAK)


@pytest.mark.parametrize("text", ["http://evil.example", "https://evil.example/pay", "www.evil.example",
                                  "a@b.example", ":material/verified:", ":material_verified:", ":white_check_mark:",
                                  ":streamlit:", ":red[Approved]", "[click](http://evil.example)"])
def test_links_addresses_and_icons_in_a_mail_stay_text(text):
    markdown = plain(text)
    assert live_text(markdown) == [] and unescaped_punctuation(markdown) == []
    assert shown(markdown) == text


def test_an_autolink_is_broken_in_the_text_not_only_escaped():
    # remark-gfm finds literal autolinks in the text after the escapes are read: a backslash alone is not enough
    assert plain("www.evil.example") == f"www{TEXT_BREAK}\\.evil{TEXT_BREAK}\\.example"
    assert text_nodes(plain("a@b.example")) == ["a@", "b", ".example"]
    assert text_nodes(plain(":material/verified:")) == [":", "material/verified:", ""]


def test_an_address_a_login_and_a_booking_id_are_copied_without_an_invisible_character():
    for value in ("anna.berg@example.org", "tk_2009.piotr", "BK-48213"):
        assert shown(plain(value)) == value
        assert not any(unicodedata.category(char) == "Cf" for char in plain(value))  # no zero-width space


@pytest.mark.parametrize("text", ["Booking -- urgent", "a -> b", "a <- b", "a <-> b", "3 >= 2", "2 <= 3", "1 ~= 1"])
def test_streamlit_does_not_turn_dashes_and_arrows_into_typographic_symbols(text):
    markdown = plain(text)
    assert live_text(markdown) == [] and shown(markdown) == text


def test_a_subject_with_lines_cannot_start_a_rule_a_heading_a_list_or_a_quote():
    markdown = plain("Booking BK-48213\n---\n===\n- approved\n+ paid\n1. done\n> the office")
    assert "\n" not in markdown
    assert shown(markdown) == "Booking BK-48213 ⏎ --- ⏎ === ⏎ - approved ⏎ + paid ⏎ 1. done ⏎ > the office"
    assert "\\=\\=\\=" in markdown and f"1{TEXT_BREAK}\\." in markdown and f"\\-{TEXT_BREAK}\\-" in markdown


def test_a_wrong_setting_is_named_without_its_value():
    with pytest.raises(ValidationError) as raised:
        settings_of({"ACEDESK_SMTP_HOST": "smtp.example.org", "ACEDESK_SMTP_PASSWORD": "hunter2-smtp",
                     "ACEDESK_CLUB_API_TOKEN": "tok-s3cret"})
    assert "hunter2-smtp" in str(raised.value)  # pydantic's own message shows the input: the leak
    problem = setting_problem(raised.value)
    assert problem == "ACEDESK_SMTP_FROM (the club's support address) is required with ACEDESK_SMTP_HOST"

    with pytest.raises(ValidationError) as raised:
        settings_of({"ACEDESK_SMTP_PASSWORD": 918273645, "ACEDESK_THREADS": "many"})
    problem = setting_problem(raised.value)
    assert "918273645" not in problem and "many" not in problem
    assert "ACEDESK_SMTP_PASSWORD: Input should be a valid string" in problem and "ACEDESK_THREADS: " in problem


def test_another_value_error_is_its_words():
    assert setting_problem(ValueError("Invalid value (at line 3, column 5)")) == "Invalid value (at line 3, column 5)"
