"""The answer's JSON shape as a check on prefixes: decoding keeps the model's own token
whenever the answer can still become valid JSON in the contract's shape, and takes the
model's best token that fits when it cannot (model/decoding.py).

The shape: the category's string, then ``,"key":"value"`` pairs with keys in
``MODEL_FIELDS`` order, ending with the response and ``}``; then only the stop token.
"""

from __future__ import annotations

from enum import Enum

from model.schema import CATEGORIES, FIELDS

_KEYS = (*FIELDS, "response")
_ESCAPES = '"\\/bfnrtu'
_HEX = set("0123456789abcdefABCDEF")


class Shape(Enum):
    OPEN = "open"
    """The answer can go on."""
    DONE = "done"
    """The closing brace is written: only the stop token may follow."""
    BROKEN = "broken"
    """No continuation makes this valid."""


def answer_shape(text: str) -> Shape:
    """Where ``text`` (the answer after ``{"category":"``, category included) stands."""
    category = next((c for c in CATEGORIES if text.startswith(c)), None)
    if category is None or text[len(category) : len(category) + 1] not in ('"', ""):
        return Shape.BROKEN  # the category's string holds the category alone
    index, last_key, in_string = len(category) + 1, -1, False
    while index < len(text):
        if in_string:
            step = _string_step(text, index)
            if step is None:
                return Shape.BROKEN
            if step == 0:  # the closing quote
                in_string, index = False, index + 1
            else:
                index += step
            continue
        rest = text[index:]
        if last_key == len(_KEYS) - 1:  # after the response only the closing brace
            return Shape.DONE if rest == "}" else Shape.BROKEN
        openings = [f',"{key}":"' for key in _KEYS[last_key + 1 :]]
        opened = next((o for o in openings if rest.startswith(o)), None)
        if opened is None:
            return Shape.OPEN if any(o.startswith(rest) for o in openings) else Shape.BROKEN
        last_key, index, in_string = _KEYS.index(opened[2:-3]), index + len(opened), True
    return Shape.OPEN


def _string_step(text: str, index: int) -> int | None:
    """Characters one string element takes at ``index``: 0 for the closing quote, None if invalid
    (a partial escape at the end of ``text`` still counts as valid)."""
    char = text[index]
    if char == '"':
        return 0
    if char < " ":
        return None
    if char != "\\":
        return 1
    escape = text[index + 1 : index + 2]
    if escape and escape not in _ESCAPES:
        return None
    if escape == "u":
        digits = text[index + 2 : index + 6]
        if not set(digits) <= _HEX:
            return None
        return 2 + len(digits)
    return 1 + len(escape)
