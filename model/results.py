"""From a decoded answer to a :class:`TriageResult`: one validation for every decoder.

The in-process decoder (model/inference.py) and the model-server client (model/served.py)
both end here, so a served answer is checked, nulled, flagged and completed exactly like a
local one. Kept free of torch: the served path runs where no model is loaded.
"""

from __future__ import annotations

from core.mail import Email
from model.category_check import load_category_check
from model.copying import could_be_login, could_be_name, presented_member_name, presented_username, whole_name
from model.dates import resolve_date, resolve_time
from model.prompt import ANSWER_PREFIX, MailParts, mail_parts
from model.replies import render_reply, reply_language
from model.schema import TriageResult, parse_answer


def abandoned_problem(time_budget_s: float) -> str:
    return f"triage took longer than {time_budget_s:g} s; abandoned"


def build_result(email: Email, category: str, confidence: float, answer_text: str, stopped: bool, *,
                 parts: MailParts | None = None, reply_cut: bool = False,
                 abandoned_after_s: float | None = None) -> TriageResult:
    """Validate the model's answer and add what code knows better than the model, and the
    category check's view of the category (model/category_check.py).

    A request whose answer states no username takes the login the mail presents after a login
    cue ("its under p_oneill"; model/copying.py ``presented_username``): the model left such
    logins out in 3 of dev.csv's 51 stated ones, and the cue gives a labelled row's username
    in every action mail of the training data it fires on (tests/model/test_copying.py), but for
    a login in a clause that asks for another action (the second request's).
    A username that is a plain capitalised word ("Geoffrey", "Riverside") is dropped
    (``could_be_login``): for a reset the sender's address then finds the account; a new
    account needs a login stated, so the action stops for the operator.
    A member name that is a relation word or holds one of the desk's nouns ("husband", "My
    preferred login": ``could_be_name``) is dropped. A new member's name the answer leaves out
    is taken after a name cue ("my son Ethan Liu", ``presented_member_name``: the model left 6 of
    dev.csv's 26 stated names out), and a capitalised member name gets the capitalised name words
    that follow it in the mail (``whole_name``: the model gave 3 of those 26 as the first name
    alone).
    ``parts``: the mail as the prompt showed it, each part clipped to its token budget (in-process
    and served alike); by default, cut to its character limits only. A login only
    the clipped-off text states is not taken, as the copy spans would not hold it either.

    ``reply_cut``: the token budget closed the answer inside its reply, so the club's template
    reply (in the language the model started) replaces the cut text. ``abandoned_after_s``: the
    time budget ran out; the result is invalid (a person looks) and keeps only the category.
    """
    raw_answer = ANSWER_PREFIX + answer_text
    check = round(load_category_check().probability(email.subject, email.body, category), 4)
    if abandoned_after_s is not None:
        return TriageResult(category=category, confidence=round(confidence, 4), valid=False,
                            problems=[abandoned_problem(abandoned_after_s)], raw_answer=raw_answer,
                            response=render_reply(category, {}, email.sender), category_check=check)
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
    if fields.get("username") and not could_be_login(fields["username"]):
        fields["username"] = None  # "Geoffrey": a name, not a login; a new account then waits for one
    parts = parts or mail_parts(email)
    if category != "other" and not fields.get("username"):
        fields["username"] = presented_username(parts.request(), category)
    if fields.get("member_name") and not could_be_name(fields["member_name"]):
        fields["member_name"] = None  # "husband", "court booking": not a person's name
    if category == "add_user" and not fields.get("member_name"):
        fields["member_name"] = presented_member_name(parts.request())  # "my son Ethan Liu"
    if fields.get("member_name"):
        fields["member_name"] = whole_name(fields["member_name"], parts.copyable())  # "Oisin" -> "Oisin Farrell"
    if reply_cut or not fields.get("response"):
        fields["response"] = render_reply(category, fields, email.sender, reply_language(fields.get("response") or ""))
    fields.pop("category")
    return TriageResult(category=category, confidence=round(confidence, 4), valid=valid, problems=problems,
                        raw_answer=raw_answer, category_check=check, **fields)
