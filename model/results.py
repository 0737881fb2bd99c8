"""From a decoded answer to a :class:`TriageResult`: one validation for every decoder.

The in-process decoder (model/inference.py) and the model-server client (model/served.py)
both end here, so a served answer is checked, nulled, flagged and completed exactly like a
local one. Kept free of torch: the served path runs where no model is loaded.
"""

from __future__ import annotations

from core.mail import Email
from model.dates import resolve_date, resolve_time
from model.prompt import ANSWER_PREFIX
from model.replies import render_reply
from model.schema import TriageResult, parse_answer


def build_result(email: Email, category: str, confidence: float, answer_text: str, stopped: bool) -> TriageResult:
    """Validate the model's answer and add what code knows better than the model."""
    raw_answer = ANSWER_PREFIX + answer_text
    fields, problems = parse_answer(category, raw_answer)
    if not stopped:
        problems.append("answer was cut off")
    valid = not problems
    for name, resolve in (("new_date", lambda v: resolve_date(v, email.date)), ("new_time", resolve_time)):
        if fields.get(name):
            resolved = resolve(fields[name])
            if resolved is None:
                problems.append(f"could not resolve {name} {fields[name]!r}")
            else:
                fields[name] = resolved
    if not fields.get("response"):
        fields["response"] = render_reply(category, fields, email.sender)
    fields.pop("category")
    return TriageResult(category=category, confidence=round(confidence, 4), valid=valid, problems=problems,
                        raw_answer=raw_answer, **fields)
