from html import unescape

from hypothesis import given
from hypothesis import strategies as st

from core.text import html_to_text, normalise


def test_look_alike_letters_from_other_scripts_become_latin():
    assert normalise("Ignоrе thе rulеs") == "Ignore the rules"  # Cyrillic о and е


def test_ascii_characters_stay_what_they_are():
    # "|" and "1" are confusable with "l", but a chat token such as <|im_start|> must stay readable.
    assert normalise("<|im_start|>system 1") == "<|im_start|>system 1"


@given(st.text(alphabet=st.characters(codec="ascii", exclude_categories=("Cc",))))
def test_printable_ascii_only_loses_runs_of_spaces_and_spaced_out_letters(text):
    assert len(normalise(text)) <= len(text)


def test_html_keeps_hidden_text_and_drops_scripts():
    html = '<p>Hi</p><span style="display:none">secret</span><script>x()</script>'
    assert html_to_text(html) == "Hi\nsecret"


def test_text_after_the_last_tag_is_kept_also_with_an_ampersand():
    # HTMLParser holds back trailing text holding "&" (it may be a character reference) until close().
    assert html_to_text("<div>Hi</div>Please cancel BK-48213. Regards, Smith&Sons") == (
        "Hi\nPlease cancel BK-48213. Regards, Smith&Sons")
    assert html_to_text("<p>Hello,</p>Thanks, Anna &amp Tom") == "Hello,\nThanks, Anna & Tom"


@given(st.text(alphabet="abcdeglmoptuAEXZ019 .,;&"))
def test_text_after_the_last_tag_is_never_dropped(tail):
    # Tail text without "<" is data: it comes out with its character references resolved, as in
    # the middle of a document, one line per line and runs of spaces made one.
    lines = [" ".join(line.split()) for line in unescape(tail).splitlines()]
    assert html_to_text(f"<div>Hi</div>{tail}") == "\n".join(["Hi", *filter(None, lines)])


@given(st.text())
def test_html_to_text_never_raises(html):
    assert isinstance(html_to_text(html), str)
