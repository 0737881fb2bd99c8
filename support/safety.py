"""Signs that a mail tries to instruct the system instead of asking the club (prompt injection).

The model ignores such text by training; the workflow additionally refuses to act on these
tickets without a person's override (OWASP LLM01: the email body is data, never instructions).
Patterns aim at instructions to a machine, not at members' ordinary wording.
"""

from __future__ import annotations

import re

_PATTERNS = [
    r"\b(ignore|disregard|forget)\b[^.\n]{0,40}\b(instructions?|rules|above|prompt|guidelines)\b",
    r"^\s*(system|assistant|developer)\s*:",
    r"\b(note|message|instructions?) (to|for) the (ai|bot|assistant|model|system)\b",
    r"\b(admin|system|developer)[ -]?(override|mode)\b",
    r"\b(classify|label) this (e-?mail|message|ticket) as\b",
    r"\byou are (now )?(an? )?(ai|assistant|language model|chatbot)\b",
    r"\b(category|member_email|booking_id|username)\s*[=:]\s*\S",
    r"\b(all|every) (bookings|accounts|members|users)\b[^.\n]{0,30}\b(of|for|from)\b",
]
_INJECTION = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE | re.MULTILINE)


def injection_reason(text: str) -> str | None:
    """The instruction-like passage found in ``text``, or None."""
    match = _INJECTION.search(text)
    if match is None:
        return None
    return f"mail tries to instruct the system: {match.group(0).strip()[:80]!r}"
