"""Text as a reader sees it: HTML reduced to its words, and look-alike characters folded.

The mail parser (``integrations``), the injection checks (``support``) and the injection
classifier's training and inference (``training``, ``model``) read a mail through these same two
functions, so that what is checked is what was learnt from.
"""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser

from confusable_homoglyphs import confusables

# Letters spelt out one by one: "i g n o r e", "S.Y.S.T.E.M".
_SPACED = re.compile(r"(?<![^\W_])(?:[^\W_][ .\-*_·]){2,}[^\W_](?![^\W_])")
_SPACED_PAIR = re.compile(r"(?<![^\W_])[^\W_][ .\-*_·][^\W_](?![^\W_])")
_SPACED_SEPARATORS = re.compile(r"[ .\-*_·]")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "“": '"', "”": '"', "„": '"', "«": '"', "»": '"'})


_UNSEEN_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cn", "Cs"})
# Unicode's Default_Ignorable_Code_Point outside those categories (DerivedCoreProperties.txt: a fixed
# list, tests/core/test_text.py holds it equal to the ``regex`` module's when that is installed):
# a grapheme joiner, a variation selector, a Hangul or Khmer filler draws nothing, yet "Anna" + U+034F
# is another word, and variation selectors after an emoji carry a hidden message. The blank Braille
# pattern (U+2800) is no such code point, but draws nothing as well: the usual "empty" display name.
_BLANK_BRAILLE = "\u2800"
_DRAWS_NOTHING = frozenset(map(chr, [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180F,
                                     0x3164, 0xFFA0, *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)])) | {_BLANK_BRAILLE}


def unseen(char: str) -> bool:
    """A character the reader would not see: a control, an invisible or direction-changing format
    character, a private-use or unassigned code point, or any other default-ignorable one. Whitespace
    is seen (as a space or a break); whoever must refuse a line break says so."""
    return (unicodedata.category(char) in _UNSEEN_CATEGORIES and not char.isspace()) or char in _DRAWS_NOTHING


def code_points_shown(text: str, hidden=unseen) -> str:
    """``text`` with each character ``hidden`` says a reader would miss written as its code point,
    ``⟨U+202E⟩``: the one way the Inbox and the operator's terminal show them."""
    # judged once per distinct character: a 1 MB body is shown on every rerun, and its alphabet is short
    shown = {ord(char): f"⟨U+{ord(char):04X}⟩" for char in set(text) if hidden(char)}
    return text.translate(shown) if shown else text


class _TextExtractor(HTMLParser):
    _SKIP = frozenset({"script", "style", "head"})
    _BREAKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "blockquote"})

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self._SKIP and self.skipping:
            self.skipping -= 1
        elif tag in self._BREAKS:  # "<p>Hi</p><span>..." is two lines, not "Hi..." glued together
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)

    def parse_marked_section(self, i, report=1):
        """``<![x]>``: Python 3.11 raises AssertionError on a keyword it does not know, and the rest of
        the mail was lost; HTML5 reads it as a bogus comment up to the next ``>``."""
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            end = self.rawdata.find(">", i)
            return -1 if end < 0 else end + 1


MAX_HTML_CHARS = 1_000_000
"""HTML read per body: the parser's time is linear but slow on hostile markup (1 MB of "<" takes
~1 s), and the model reads only the first 12,000 characters of the text anyway."""


def html_to_text(html: str) -> str:
    """The words of an HTML body, one line per block; hidden text stays (it is what an attacker hides)."""
    extractor = _TextExtractor()
    extractor.feed(html[:MAX_HTML_CHARS])
    if extractor.rawdata.startswith("<") and extractor.rawdata != "<":
        # What the parser holds back is a tag, comment or declaration that never ends. HTML5 reads the
        # rest of the document into it (a tag is dropped, a comment closed at the end), as Python
        # does from 3.11.13 (CVE-2025-6069); before, close() scanned the rest again for every "<" in
        # it: 48 KB of "<a " took 20 s.
        extractor.rawdata = ""
    extractor.close()  # the parser holds back text after the last tag that holds "&" until closed
    lines = [" ".join(line.split()) for line in "".join(extractor.parts).splitlines()]
    return "\n".join(line for line in lines if line)


def _fold_homoglyphs(text: str) -> str:
    """Latin look-alikes from other scripts (Cyrillic 'о', Greek 'Ι') become the Latin letter they mimic."""
    found = confusables.is_confusable(text, greedy=True, preferred_aliases=["latin"]) or []
    table = {}
    for entry in found:
        if entry["character"].isascii():  # "|" and "1" look like "l", but are what they are
            continue
        latin = [glyph["c"] for glyph in entry["homoglyphs"] if glyph["c"].isascii() and glyph["c"].isalnum()]
        if latin:
            # Unicode's skeletons map capital I to "l"; an upper-case source letter means "I".
            table[ord(entry["character"])] = "I" if latin[0] == "l" and entry["character"].isupper() else latin[0]
    return text.translate(table)


def normalise(text: str) -> str:
    """The text as a reader sees it: compatibility forms folded, invisible characters and accents gone,
    look-alike letters made Latin, spaced-out letters joined."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if not unseen(ch))
    text = _fold_homoglyphs(text)
    text = "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))
    text = text.translate(_QUOTES)
    if _SPACED.search(text):
        text = _SPACED.sub(lambda m: _SPACED_SEPARATORS.sub("", m.group(0)), text)
        text = _SPACED_PAIR.sub(lambda m: _SPACED_SEPARATORS.sub("", m.group(0)), text)
    return re.sub(r"[^\S\n]+", " ", text)
