"""Is the sender really who the From says? Sender authentication and From-header tricks.

Anyone can write any ``From:``. What can be trusted is the verdict of the club's own receiving MX,
which checks DKIM, SPF and DMARC and records the results in ``Authentication-Results`` header
fields (RFC 8601). :func:`authenticate_sender` reads only the fields whose authserv-id is the one
configured (``ACEDESK_TRUSTED_AUTHSERV_ID``), wherever they stand in the header block: milters such
as OpenDKIM and OpenDMARC do not always put theirs on top, and each writes its own field, so all
fields with the trusted id are merged. A field with any other authserv-id is ignored, however
convincing: the sender can write those into the mail before sending it. The MX must remove
incoming fields that already claim *its* authserv-id, as RFC 8601 section 5 requires; a deployment
must make sure it does. Two traces of a forgery it left in place are caught: a field under its id
below a Received field that stands below another field under its id (the MX's milters put theirs
on either side of its own Received field, never beyond an earlier hop's: RFC 8601 section 7.1), and
results the MX cannot all have written for one mail (below). A forged field written right under the
MX's Received field, by a sender that adds no Received field of its own, stands where a milter at
index 1 writes a genuine one: it is caught only by those contradictions, unless the deployment states
that its MX writes above its Received field (``ACEDESK_MX_RESULTS_PLACEMENT=above``, see
``_trusted_values``); then a field under its id below the topmost Received field is not trusted.

The rule, for the one address of the From header (a mail with several From fields or addresses
is never verified: which one the MX judged is then unclear, and such a From is a trick itself):

* **verified** when a trusted field says ``dmarc=pass`` with ``header.from`` equal to the From
  domain, or ``dkim=pass`` for a signing domain (``header.d``, else the domain of ``header.i``)
  aligned with it (relaxed alignment: the same organisational domain, as the Public Suffix List
  draws it), *and* no trusted field contradicts that with ``dmarc=fail`` for the From domain or
  ``dkim=fail`` for an aligned domain, nor with another dmarc result for the From domain beside a
  dmarc pass (DMARC is evaluated once) or ``dkim=none`` (no signature) beside a dkim pass, and no
  one dmarc or dkim result names two domains (``header.from=a header.from=b``, in any case; two
  ``header.d`` or ``header.i``; a ``header.i`` outside ``header.d``): the first is not the one. A
  contradiction is not verified and the reason says so: either two checks disagree or a forged
  field got past the MX, and a person should look.
* A ``dmarc`` result without ``header.from`` (RFC 7489 section 11.2 asks for it, but it is
  optional in RFC 8601) is taken to be about the From domain, as a pass and as a fail alike:
  DMARC by definition judges the RFC 5322 From, and the rule above already demands a single From
  address in a single field, so there is no other domain the MX can have judged.
* Only ``pass`` counts as a pass (not OpenDMARC's ``bestguesspass`` for domains without a DMARC
  record: no policy was published, so nothing was promised). SPF alone never verifies: it
  authenticates the envelope sender, which the operator never sees, and its alignment with the
  From is exactly what ``dmarc=pass`` already states.
* ``ARC-Authentication-Results`` fields are ignored: they are written by forwarders and mailing
  lists along the way, not by the club's MX, and a sender can fabricate them like any header.
* The fields are read as written (``ParsedMail.raw_header_items``), never decoded: the MX removes
  only fields whose *raw* authserv-id is its own, so ``=?us-ascii?q?mx.club.example?=`` passes it
  and would decode to the trusted id. A field that claims the trusted id, written or decoded, and
  holds an encoded word (``=?``) is such a forgery: the mail is not verified and the reason says so.
* A From the standard parser finds malformed (``anna@x.example <b@y.example>``, which it reads as
  ``anna@x.example`` alone), or a group (``Club: anna@x.example;``), is not verified: which address
  the MX judged is unclear. One sloppy form is read as the mailbox it plainly is: a display name
  that names no address and hides nothing before one angle-addr, such as the unquoted comma of
  ``Berg, Anna <anna.berg@example.de>`` (``integrations.mail_parsing.read_address_field`` states
  the rule); the only domain in such a From is its address's, so there is no other the MX can
  have judged. Nor is a mail verified whose header the caller found unreadable for
  authentication (``problems``, such as a bare CR that splits fields differently for the MX and
  for Python).
* Trusted fields longer than ``MAX_TRUSTED_RESULTS_CHARS`` together are not read, and the mail is
  not verified (why: that constant's note).

Parsing uses ``authres`` with its DMARC feature module; method and property names are read without
regard to case (``DMARC=PASS``), as RFC 8601 has them. It refuses some forms seen in real mail
(a trailing ``;``, UTF-8 in a comment as RFC 8616 allows, deeply nested comments); for a field it
refuses, the clauses between ``;`` are read one by one with comments removed, and a clause that
still cannot be read (such as one with UTF-8 in a value) is skipped and counted in the reason.
Nothing here raises on broken input.

:func:`address_tricks` names the tricks a From header can play on a reader, :func:`reply_to_tricks`
those of a Reply-To that does not plainly name one address, and :func:`looks_alike` tells whether
two domains are easy to mistake for each other.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Literal, NamedTuple

import authres
import authres.dmarc
from confusable_homoglyphs import confusables
from publicsuffixlist import PublicSuffixList

from core.settings import MxResultsPlacement
from integrations.mail_parsing import (
    ENCODED_WORD_START,
    Mailbox,
    cut_field_problem,
    decoded_text,
    read_address_field,
)

SenderAuthStatus = Literal["verified", "not_verified", "off"]


@dataclass(frozen=True)
class SenderAuth:
    """The verdict on a mail's From, with the reason in plain words for the operator."""

    status: SenderAuthStatus
    reason: str
    from_domain: str | None  # lower-cased, punycode decoded; None unless the From holds one address
    from_problem: str | None = None
    """Why the From does not plainly name one mailbox (several From fields or addresses, none, a
    malformed field, a group), also with authentication off; None when it does."""


class _Verdict(NamedTuple):
    """One ``method=result`` clause of a trusted field, reduced to what the rule needs."""

    method: str
    result: str
    domain: str | None  # the domain the clause is about, normalised; None when it names none
    others: tuple[str, ...] = ()  # further domains the same clause names for what it judged (see _verdict)


_AUTHRES = authres.FeatureContext(authres.dmarc)
# authres raises its own errors on bad syntax, and RecursionError on deeply nested comments.
_AUTHRES_ERRORS = (authres.AuthResError, RecursionError)
_LINE_BREAKS = re.compile(r"[\r\n]+")
_FIRST_TOKEN = re.compile(r"[^\s;(]+")
_EMAIL_LIKE = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+")
_REPORTED_METHODS = ("dmarc", "dkim", "spf")
MAX_TRUSTED_RESULTS_CHARS = 8_192
"""The fields with the trusted authserv-id together: longer is not read, and the mail is not
verified. An MX writes a few hundred characters a field; authres's time grows with the square of
a field's length (a 1 MB field took 45 to 100 s, 15 fields of 16 KB 4 s); and the intake cuts
each header field to ``MAX_HEADER_FIELD_BYTES`` (16 KB), which can change what a field says:
``dkim=pass header.d=example.org.evil.net`` cut after ``example.org``. This is under that cut."""
# Look-alikes among plain ASCII letters and digits in a lower-case host name; Unicode homoglyphs
# come from confusable_homoglyphs. Digits first: "c1ub" must become "club" before "cl" is folded, or
# it would never read as "dub", as "club" does.
_ASCII_LOOKALIKES = (("0", "o"), ("1", "l"), ("rn", "m"), ("vv", "w"), ("cl", "d"))
_MIN_LABEL_FOR_ONE_EDIT = 4
NAME_SHOWS_ANOTHER_ADDRESS = "the display name shows"
FROM_ALSO_SHOWS_ANOTHER_ADDRESS = "the From header also shows"
"""How :func:`address_tricks`' flags for a From that shows a reader another address than its own
begin: the inbox's short label is found by them."""


# -- authentication ---------------------------------------------------------------------------

def authenticate_sender(headers: Sequence[tuple[str, str]], from_header: str,
                        trusted_authserv_id: str | None, problems: Sequence[str] = (),
                        mx_results_placement: MxResultsPlacement = "either") -> SenderAuth:
    """Whether the club's MX vouches for the From domain; see the module docstring for the rule.

    ``headers`` are the mail's header fields as written (not decoded) in their order, duplicates
    kept; ``from_header`` is the From value as written; ``trusted_authserv_id`` None or blank
    turns the check off; any of ``problems`` (why the header cannot be authenticated, in plain
    words) makes the mail not verified; ``mx_results_placement`` is where the MX writes its fields
    relative to its own Received field (the setting's note says which MXs write where).
    """
    mailboxes, malformed = _read_from(from_header)
    from_domain = _domain_key(mailboxes[0].address.rpartition("@")[2]) if len(mailboxes) == 1 else None
    from_fields = sum(_field_name(name) == "from" for name, _ in headers)
    from_problem = (f"the mail has {from_fields} From header fields" if from_fields > 1
                    else _from_count_problem(mailboxes) if from_domain is None else malformed)
    if not from_problem and cut_field_problem("From") in problems:  # it reads as the part before the cut
        from_problem = cut_field_problem("From")
    trusted = (trusted_authserv_id or "").strip().lower()
    if not trusted:
        return SenderAuth("off", "sender authentication is off (ACEDESK_TRUSTED_AUTHSERV_ID is not set)",
                          from_domain, from_problem)

    def not_verified(reason: str) -> SenderAuth:
        return SenderAuth("not_verified", reason, from_domain, from_problem)

    if problems:
        return not_verified("; ".join(dict.fromkeys(problems)))
    if from_problem:
        return not_verified(from_problem)

    values, disguised, below_received = _trusted_values(headers, trusted, mx_results_placement)
    if disguised:
        return not_verified(f"{disguised} Authentication-Results field(s) claim {trusted} inside an encoded word "
                            "(=?...?=): a forgery the MX does not remove")
    if below_received and mx_results_placement == "above":
        return not_verified(f"{below_received} Authentication-Results field(s) from {trusted} stand below the topmost "
                            f"Received field, and with ACEDESK_MX_RESULTS_PLACEMENT=above {trusted} writes its own "
                            "above it: they came with the mail, a forgery the MX did not remove (if the MX writes "
                            "below its Received field, or a later hop adds one above it, the setting must be either)")
    if below_received:
        return not_verified(f"{below_received} Authentication-Results field(s) from {trusted} stand below a Received "
                            f"field that stands below another from {trusted}: they came with the mail (RFC 8601 "
                            "section 7.1), a forgery the MX did not remove")
    trusted_chars = sum(map(len, values))
    if trusted_chars > MAX_TRUSTED_RESULTS_CHARS:
        return not_verified(f"the Authentication-Results from {trusted} are {trusted_chars} characters long, over "
                            f"{MAX_TRUSTED_RESULTS_CHARS}: more than an MX writes, so they were not read")
    verdicts, unreadable = _verdicts(values)
    trusted_fields = len(values)
    note = f"; ignored {unreadable} unreadable part(s) of its Authentication-Results" if unreadable else ""
    if not trusted_fields:
        others = sum(_field_name(name) == "authentication-results" for name, _ in headers)
        ignored = f" ({others} from other servers ignored)" if others else ""
        return not_verified(f"no Authentication-Results from {trusted}{ignored}")
    two_domains = [f"{v.method}={v.result} for {' and '.join((str(v.domain), *v.others))}" for v in verdicts if v.others]
    if two_domains:
        return not_verified(f"contradictory results from {trusted}: one result names two domains "
                            f"({', '.join(dict.fromkeys(two_domains))}){note}")

    passes = [v for v in verdicts if v.result == "pass" and _about(v, from_domain)]
    fails = [v for v in verdicts if v.result == "fail" and _about(v, from_domain)]
    fails += [v for v in verdicts if v not in fails and _denies_a_pass(v, passes, from_domain)]
    if passes and fails:
        return not_verified(f"contradictory results from {trusted}: {_describe(passes, from_domain)} "
                            f"but {_describe(fails, from_domain)}{note}")
    if fails:
        return not_verified(f"{_describe(fails, from_domain)} (by {trusted}){note}")
    if passes:
        dmarc_passes = [v for v in passes if v.method == "dmarc"]
        return SenderAuth("verified", f"{_describe(dmarc_passes or passes, from_domain)} (by {trusted}){note}",
                          from_domain)
    seen = [v for v in verdicts if v.method in _REPORTED_METHODS]
    said = f"; it says {_describe(seen, from_domain)}" if seen else ""
    return not_verified(f"{trusted} reports no dmarc=pass or aligned dkim=pass for {from_domain}{said}{note}")


def _trusted_values(headers: Iterable[tuple[str, str]], trusted: str,
                    placement: MxResultsPlacement) -> tuple[list[str], int, int]:
    """The values (line breaks made spaces) of the fields with the trusted authserv-id; the number
    of fields that claim the trusted id but hold an encoded word (never trusted); and the number of
    trusted fields below the Received field that closes the MX's own. The id is read without
    parsing, so fields written by others never reach the parser.

    Why the Received field: the MX's milters insert their fields next to the Received field it
    prepends, above it (index 0) or right below it (index 1), so the MX's own fields are never
    split by a Received field; which one its MX does is ``placement``. A field under its id below a
    Received field the MX's own fields never stand below was in the mail when it arrived: RFC 8601
    section 7.1 names this position test. With "either", that is the first Received field below a
    field under its id: the MX's own (index 0) or an earlier hop's (index 1). With "above", it is
    the topmost Received field, taken for the MX's own (no sender can write above it, but a later
    hop's would stand there too: the setting says so); fields under its id below it, also one right
    below it that "either" must take for a milter's at index 1, came with the mail."""
    values: list[str] = []
    disguised = below_received = 0
    past_the_mxs_fields = False
    for name, raw in headers:
        field_name = _field_name(name)
        if field_name == "received":
            past_the_mxs_fields = past_the_mxs_fields or bool(values) or placement == "above"
            continue
        if field_name != "authentication-results":
            continue
        value = _LINE_BREAKS.sub(" ", str(raw)).strip()
        if ENCODED_WORD_START in value:
            disguised += _claims(value, trusted) or _claims(_decoded("Authentication-Results", value), trusted)
        elif _claims(value, trusted):
            below_received += past_the_mxs_fields
            values.append(value)
    return values, disguised, below_received


def _verdicts(values: Iterable[str]) -> tuple[list[_Verdict], int]:
    """The verdicts of the trusted field values, and the number of their unreadable parts."""
    verdicts: list[_Verdict] = []
    unreadable = 0
    for value in values:
        results, skipped = _parse_results(value)
        verdicts.extend(_verdict(result) for result in results)
        unreadable += skipped
    return verdicts, unreadable


def _claims(value: str, trusted: str) -> bool:
    """Whether a field value's authserv-id (its first token) is the trusted one."""
    first = _FIRST_TOKEN.match(value.strip())
    return first is not None and first.group().lower() == trusted


def _decoded(name: str, value: str) -> str:
    """``value`` with its encoded words decoded, as a mail reader would show it; "" if it cannot be."""
    try:
        return decoded_text(name, value)
    except Exception:  # noqa: BLE001 - the email package raises many types on broken input
        return ""


def _parse_results(value: str) -> tuple[list[authres.AuthenticationResult], int]:
    """The result clauses of one field value, and how many of its parts could not be read."""
    try:
        return list(_AUTHRES.parse_value(value).results), 0
    except _AUTHRES_ERRORS:
        pass
    head, *clauses = _split_clauses(value)
    clauses = [clause for clause in clauses if clause.strip()]
    if not clauses:
        return [], 1
    results: list[authres.AuthenticationResult] = []
    unreadable = 0
    for clause in clauses:
        try:
            results.extend(_AUTHRES.parse_value(f"{head}; {clause}").results)
        except _AUTHRES_ERRORS:
            unreadable += 1
    return results, unreadable


def _split_clauses(value: str) -> list[str]:
    """``value`` cut at each ``;`` outside quoted strings, each comment replaced by a space."""
    clauses: list[str] = []
    current: list[str] = []
    depth, quoted, escaped = 0, False, False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and (quoted or depth):
            escaped = True
        elif quoted:
            quoted = char != '"'
        elif char == "(":
            if not depth:
                current.append(" ")
            depth += 1
            continue
        elif depth:
            depth -= char == ")"
            continue
        elif char == '"':
            quoted = True
        elif char == ";":
            clauses.append("".join(current))
            current = []
            continue
        if not depth:
            current.append(char)
    clauses.append("".join(current))
    return clauses


def _verdict(result: authres.AuthenticationResult) -> _Verdict:
    """The clause reduced to one domain, and any other domain it also names for the same judgement.

    A dmarc result judges one From domain, a dkim result one signature, whose ``i=`` lies in its
    ``d=`` (RFC 6376 section 3.5): a clause that names two (``header.from=a header.from=b``, the same
    property in another case, ``header.d=a header.d=b``, ``header.i`` outside ``header.d``) is not
    what a verifier writes, and which domain it speaks for depends on which one a reader takes."""
    if result.method == "dmarc":
        named = _domains(_properties(result, "header", "from"))
    elif result.method == "dkim":
        signers = _domains(_properties(result, "header", "d"))
        agents = _domains(_properties(result, "header", "i"))
        stray = [agent for agent in agents[:1] if signers and not _within(agent, signers[0])]
        named = [*signers, *agents[1:], *stray] if signers else agents
    elif result.method == "spf":
        named = _domains(_properties(result, "smtp", "mailfrom") or _properties(result, "smtp", "helo"))[:1]
    else:
        named = []
    return _Verdict(result.method, result.result, named[0] if named else None, tuple(named[1:]))


def _domains(identities: Iterable[str]) -> list[str]:
    """The distinct normalised domains of identities (``@example.org``, ``anna@example.org``, ``example.org``)."""
    return list(dict.fromkeys(filter(None, (_domain_key(identity.rpartition("@")[2]) for identity in identities))))


def _within(domain: str, parent: str) -> bool:
    return domain == parent or domain.endswith(f".{parent}")


def _properties(result: authres.AuthenticationResult, ptype: str, name: str) -> list[str]:
    """Every ``ptype.name`` value of a result, in order.

    Read from the properties, not the feature classes' attributes: authres picks the class by the
    method as written, so ``DMARC=pass`` (method names are case-insensitive, RFC 8601 section 2.7)
    gets the generic class, which has none of them; it does lower-case methods and property names.
    The attributes also keep only one value of a property written twice."""
    return [prop.value for prop in result.properties if prop.type == ptype and prop.name == name]


def _denies_a_pass(verdict: _Verdict, passes: list[_Verdict], from_domain: str) -> bool:
    """Whether the trusted results cannot all be the MX's one judgement of this mail: a dmarc result
    for the From domain other than the pass beside it (DMARC is evaluated once: ``dmarc=none`` from
    the MX and a forged ``dmarc=pass`` under its id, which it failed to remove, would verify), or
    ``dkim=none`` (the mail carried no signature) beside a dkim pass."""
    methods = {v.method for v in passes}
    if verdict.method == "dmarc" and "dmarc" in methods:
        return verdict.result != "pass" and _about(verdict, from_domain)
    return verdict.method == "dkim" and verdict.result == "none" and "dkim" in methods


def _about(verdict: _Verdict, from_domain: str) -> bool:
    """Whether a dmarc or dkim verdict speaks for (or against) the From domain."""
    if verdict.method == "dmarc":
        return verdict.domain is None or verdict.domain == from_domain
    if verdict.method == "dkim":
        return verdict.domain is not None and _organisation(verdict.domain) == _organisation(from_domain)
    return False


def _describe(verdicts: Iterable[_Verdict], from_domain: str) -> str:
    """E.g. ``dmarc=none for example.org, dkim=pass for lists.example.net (not aligned with example.org)``."""
    words = []
    for verdict in verdicts:
        text = f"{verdict.method}={verdict.result}"
        if verdict.domain is None:
            if verdict.method == "dmarc":
                text += f" for {from_domain} (the result names no domain)"
        else:
            text += f" for {verdict.domain}"
            if verdict.method == "dkim" and verdict.domain != from_domain:
                aligned = "aligned" if _about(verdict, from_domain) else "not aligned"
                text += f" ({aligned} with {from_domain})"
        words.append(text)
    return ", ".join(dict.fromkeys(words))


def _field_name(name: str) -> str:
    return str(name).strip().lower()


def _from_count_problem(mailboxes: list[Mailbox]) -> str:
    if not mailboxes:
        return "the From header holds no address"
    return f"the From header holds {len(mailboxes)} addresses: {', '.join(m.address for m in mailboxes)}"


# -- From-header tricks -----------------------------------------------------------------------

def address_tricks(from_header: str, reply_to_header: str | None) -> list[str]:
    """Plain-words flags for the ways a From (and Reply-To) can mislead a reader; [] if none.

    Flags a display name showing another address than the real one (``"anna.berg@example.org"
    <x@mailbox.example>``, also when it was an encoded word, decoded or not), another address in a
    comment (``x@mailbox.example (anna.berg@example.org)``, the old way of writing a name, which
    readers still show), a Reply-To that sends replies elsewhere, and a From with no address,
    several, a malformed one or a group. Addresses are compared lower-cased.
    """
    mailboxes, from_problem = _read_from(from_header)
    flags = []
    if len(mailboxes) != 1:
        flags.append(_from_count_problem(mailboxes))
    elif from_problem:
        flags.append(from_problem)
    shown_by_names = set()
    for mailbox in mailboxes:
        shown = _addresses_in(mailbox.display_name)
        shown_by_names.update(shown)
        flags += [f"{NAME_SHOWS_ANOTHER_ADDRESS} {other}, but the address is {mailbox.address}"
                  for other in shown if address_key(other) != address_key(mailbox.address)]
    if len(mailboxes) == 1:
        address = mailboxes[0].address
        elsewhere = [other for other in _addresses_in(_decoded("From", from_header))
                     if other not in shown_by_names and address_key(other) != address_key(address)]
        flags += [f"{FROM_ALSO_SHOWS_ANOTHER_ADDRESS} {other}, but the address is {address}" for other in elsewhere]
    senders = {address_key(mailbox.address) for mailbox in mailboxes}
    elsewhere = [m.address for m in _mailboxes(reply_to_header or "") if address_key(m.address) not in senders]
    if elsewhere:
        sender = mailboxes[0].address if len(mailboxes) == 1 else "the From address"
        flags.append(f"replies would go to {', '.join(dict.fromkeys(elsewhere))}, not the sender {sender}")
    return flags


def reply_to_tricks(from_header: str, reply_to_fields: Sequence[str], recipient: str | None) -> list[str]:
    """Plain-words flags for a mail's Reply-To fields (as written, in order) that do not plainly name
    the one address a reply goes to; [] for none, or one field naming one address.

    ``recipient`` is that address (``mail_sending.reply_to_recipient``: the first field's first
    address a reply can be written to; None when there is none). Flags several fields (a mail client
    answers the first, another reader may show the last), a first field naming no such address (a
    name, an empty group, ``anna@[10.0.0.1]``: it is not used) or several (a mail client answers
    them all, a reply from here its first alone), and a Reply-To naming one of the addresses of a From
    that holds several: it picks one of them, but which of them wrote is unclear, so it is no
    "elsewhere" for :func:`address_tricks` and never the recipient (``workflow.reply_address``).
    """
    if not reply_to_fields:
        return []
    flags = []
    if len(reply_to_fields) > 1:
        flags.append(f"the mail has {len(reply_to_fields)} Reply-To header fields: only the first counts, as for a "
                     "mail client")
    named = _mailboxes(reply_to_fields[0])
    if recipient is None:
        shown = _excerpt(reply_to_fields[0]) or "empty"
        flags.append(f"the Reply-To header names no address a reply can be sent to ({shown}): it is not used")
    elif len(named) > 1:
        flags.append(f"the Reply-To header holds {len(named)} addresses ({', '.join(m.address for m in named)}): "
                     f"a reply goes to {recipient} alone")
    senders = _mailboxes(from_header)
    if recipient and len(senders) > 1 and address_key(recipient) in {address_key(m.address) for m in senders}:
        flags.append(f"the Reply-To header names {recipient}, one of the From's {len(senders)} addresses: which of "
                     "them wrote the mail is unclear")
    return flags


def _excerpt(text: str, limit: int = 100) -> str:
    """A header value as a flag quotes it: on one line, and cut where a crafted one goes on and on."""
    text = " ".join(text.split())
    return text if len(text) <= limit else f"{text[:limit]}…"


def sender_address(from_header: str) -> str | None:
    """The From's address, lower-cased, when it holds exactly one (well-formed or not); else None:
    never the first of several, as ``parseaddr`` gives."""
    mailbox = sole_mailbox(from_header)
    return mailbox and mailbox.address


def sole_mailbox(from_header: str) -> Mailbox | None:
    """The From's one mailbox (its display name, and its address lower-cased); None when it holds
    none or several."""
    mailboxes = _mailboxes(from_header)
    return mailboxes[0] if len(mailboxes) == 1 else None


def _mailboxes(value: str) -> list[Mailbox]:
    return _read_from(value)[0]


def _read_from(value: str) -> tuple[list[Mailbox], str | None]:
    """The mailboxes of an address header (``read_address_field``), addresses lower-cased, and
    why it is not plainly one well-formed field (None when it is)."""
    reading = read_address_field("From", value)
    return [replace(mailbox, address=mailbox.address.lower()) for mailbox in reading.mailboxes], reading.problem


def address_key(address: str) -> str:
    """One spelling per mailbox (to compare two addresses): lower-cased, the domain as ``_domain_key`` spells it (punycode
    decoded, no final dot). A ``+tag`` stays: whether it reaches the same mailbox is the provider's
    rule, not the mail's."""
    local, _, domain = address.lower().rpartition("@")
    return f"{local}@{_domain_key(domain)}"


def _addresses_in(text: str) -> list[str]:
    """The address-like strings ``text`` shows a reader (NFKC: a full-width ``＠`` is an ``@``), lower-cased."""
    found = _EMAIL_LIKE.findall(unicodedata.normalize("NFKC", text))
    return list(dict.fromkeys(address.lower().rstrip(".") for address in found))


# -- look-alike domains -----------------------------------------------------------------------

def looks_alike(domain_a: str, domain_b: str) -> bool:
    """Whether two different domains are easy to mistake for each other.

    True when, after lower-casing and decoding punycode (``xn--``), the registrable labels look
    the same (Unicode homoglyphs such as Cyrillic ``а``, digit/letter swaps such as ``examp1e``,
    ``rn`` for ``m``), whatever the public suffix: ``example.com`` is alike ``example.org``,
    because people read the name and not the ending, and a different suffix is a different
    owner. Also true when the registrable labels are one edit apart (a letter added, dropped,
    changed or two swapped) under the same suffix, for labels of at least four characters:
    in a shorter one, one edit changes too much of the name to pass unnoticed. And true when one
    domain begins with the other's registrable domain (``example.org.evil.example``), which is
    what a reader sees first. False for equal domains and for two names under the same
    registrable domain (``mail.example.org`` and ``example.org`` belong to the same owner).
    """
    key_a, key_b = _domain_key(domain_a), _domain_key(domain_b)
    if not key_a or not key_b or key_a == key_b:
        return False
    organisation_a, organisation_b = _organisation(key_a), _organisation(key_b)
    if organisation_a == organisation_b:
        return False
    if key_a.startswith(f"{organisation_b}.") or key_b.startswith(f"{organisation_a}."):
        return True
    (label_a, suffix_a), (label_b, suffix_b) = _split_registrable(key_a), _split_registrable(key_b)
    skeleton_a, skeleton_b = _skeleton(label_a), _skeleton(label_b)
    if skeleton_a == skeleton_b:
        return True
    return (suffix_a == suffix_b and min(len(skeleton_a), len(skeleton_b)) >= _MIN_LABEL_FOR_ONE_EDIT
            and _one_edit_apart(skeleton_a, skeleton_b))


def same_organisation(domain_a: str, domain_b: str) -> bool:
    """Whether two domains belong to one owner: the same registrable domain (``mail.example.org``
    and ``example.org``), however spelt (case, punycode, a final dot)."""
    key_a, key_b = _domain_key(domain_a), _domain_key(domain_b)
    return bool(key_a) and _organisation(key_a) == _organisation(key_b)


def _domain_key(domain: str) -> str:
    """Lower-cased, without the final dot, ``xn--`` labels decoded: one spelling per domain.

    Punycode is decoded as it is, without IDNA2003's mapping, which would merge ``faß.de`` and
    ``fass.de``: two domains with different owners.
    """
    labels = []
    for label in domain.strip().rstrip(".").lower().split("."):
        if label.startswith("xn--"):
            try:
                label = label[4:].encode("ascii").decode("punycode")
            except (UnicodeError, ValueError, OverflowError):
                pass  # not valid punycode: keep the label as written
        labels.append(label)
    return ".".join(labels)


@cache
def _public_suffixes() -> PublicSuffixList:
    return PublicSuffixList()


def _organisation(domain: str) -> str:
    """The registrable ("organisational") domain, or the domain itself where there is none."""
    return _public_suffixes().privatesuffix(domain) or domain


def _split_registrable(domain: str) -> tuple[str, str]:
    """(registrable label, public suffix): ``("example", "co.uk")`` for ``www.example.co.uk``."""
    suffix = _public_suffixes().publicsuffix(domain) or ""
    if not suffix or suffix == domain:
        return domain, ""
    return domain[: -len(suffix) - 1].rpartition(".")[2], suffix


def _skeleton(label: str) -> str:
    """What a label looks like: Unicode homoglyphs and ASCII look-alikes folded to one spelling."""
    text = "".join(_ascii_lookalike(char) for char in unicodedata.normalize("NFKC", label).lower())
    for pair, single in _ASCII_LOOKALIKES:
        text = text.replace(pair, single)
    return text


@cache
def _ascii_lookalike(char: str) -> str:
    """The lower-case ASCII letters or digits ``char`` is confusable with, or ``char`` itself."""
    if char.isascii():
        return char
    for found in confusables.is_confusable(char, greedy=True) or []:
        for homoglyph in found["homoglyphs"]:
            candidate = homoglyph["c"].lower()
            if candidate.isascii() and candidate.isalnum():
                return candidate
    return char


def _one_edit_apart(a: str, b: str) -> bool:
    """One insertion, deletion, substitution or swap of neighbours turns ``a`` into ``b``."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    start = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    if len(a) == len(b):
        return a[start + 1:] == b[start + 1:] or (a[start + 2:] == b[start + 2:]
                                                  and a[start:start + 2] == b[start:start + 2][::-1])
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    return longer[start + 1:] == shorter[start:]
