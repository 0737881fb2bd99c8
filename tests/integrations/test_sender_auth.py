"""Sender authentication from the club MX's Authentication-Results, From-header tricks and
look-alike domains. The header lines copy the shape of what Postfix with OpenDKIM and OpenDMARC,
and Gmail, really write."""

import base64
import csv
import email
import time
import unicodedata

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from demo.prepare_mailbox import DEMO_MAIL
from integrations.mail_parsing import MAX_HEADER_FIELD_BYTES, parse_eml
from integrations.sender_auth import (
    MAX_TRUSTED_RESULTS_CHARS,
    SenderAuth,
    address_tricks,
    authenticate_sender,
    looks_alike,
)

MX = "mx.club.example"
ANNA = "Anna Berg <anna.berg@example.org>"
AR = "Authentication-Results"
# What OpenDMARC, OpenDMARC's SPF check and OpenDKIM each add, folded as they fold it.
DMARC_PASS = (AR, f"{MX}; dmarc=pass (p=reject dis=none) header.from=example.org")
DMARC_FAIL = (AR, f"{MX}; dmarc=fail (p=none dis=none) header.from=example.org")
SPF_PASS = (AR, f"{MX}; spf=pass smtp.mailfrom=example.org")
DKIM_PASS = (AR, (f"{MX};\r\n\tdkim=pass (2048-bit key; unprotected) header.d=example.org header.i=@example.org "
                  "header.a=rsa-sha256 header.s=s1 header.b=abc;\r\n\tdkim-atps=neutral"))
FORGED_PASS = (AR, ("mail.example.org;\n       dkim=pass header.d=example.org header.s=s1 header.b=abc;\n"
                    "       spf=pass smtp.mailfrom=example.org;\n"
                    "       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.org"))
MAIL_HEADERS = [("From", ANNA), ("To", "support@club.example"), ("Subject", "Cancel BK-48213")]


def check(*fields: tuple[str, str], sender: str = ANNA, trusted: str | None = MX) -> SenderAuth:
    return authenticate_sender([*fields, *MAIL_HEADERS], sender, trusted)


# -- authenticate_sender --------------------------------------------------------------------------

def test_a_member_mail_that_passes_dmarc_at_the_club_mx_is_verified():
    result = check(DMARC_PASS, SPF_PASS, DKIM_PASS)
    assert result == SenderAuth("verified", "dmarc=pass for example.org (by mx.club.example)", "example.org")


def test_a_gmail_style_single_field_with_comments_and_folding_is_read():
    gmail = (AR, ("mx.club.example;\r\n       dkim=pass header.i=@example.org header.s=20230601 header.b=AbC+/12=;"
                  "\r\n       spf=pass (mx.club.example: domain of anna.berg@example.org designates 192.0.2.7 as "
                  "permitted sender) smtp.mailfrom=anna.berg@example.org;\r\n"
                  "       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.org"))
    assert check(gmail).status == "verified"


def test_dmarc_fail_from_the_trusted_mx_is_not_verified():
    result = check(DMARC_FAIL, SPF_PASS)
    assert result.status == "not_verified"
    assert result.reason == "dmarc=fail for example.org (by mx.club.example)"


def test_a_forged_pass_from_another_server_below_a_real_fail_is_ignored():
    result = check(DMARC_FAIL, FORGED_PASS)
    assert (result.status, result.reason) == ("not_verified", "dmarc=fail for example.org (by mx.club.example)")


def test_a_forged_pass_below_and_no_field_from_the_mx_is_not_verified():
    result = check(FORGED_PASS)
    assert result.status == "not_verified"
    assert result.reason == "no Authentication-Results from mx.club.example (1 from other servers ignored)"


def test_a_forged_field_above_the_real_ones_is_ignored_too():
    assert check(FORGED_PASS, DMARC_FAIL).reason == "dmarc=fail for example.org (by mx.club.example)"
    assert check(FORGED_PASS, DMARC_PASS).status == "verified"


@pytest.mark.parametrize("authserv_id", ["mx.club.example.evil.example", "evil-mx.club.example", "mx.club.exampl"])
def test_an_authserv_id_that_only_resembles_the_trusted_one_is_not_trusted(authserv_id):
    forged = (AR, f"{authserv_id}; dmarc=pass header.from=example.org")
    assert check(forged).reason.startswith("no Authentication-Results from mx.club.example")


def test_arc_authentication_results_are_ignored_even_with_the_trusted_id():
    arc = ("ARC-Authentication-Results", f"i=1; {MX}; dmarc=pass header.from=example.org")
    assert check(arc).reason == "no Authentication-Results from mx.club.example"


def test_no_authentication_results_at_all():
    result = check()
    assert result == SenderAuth("not_verified", "no Authentication-Results from mx.club.example", "example.org")


@pytest.mark.parametrize("trusted", [None, "", "  "])
def test_without_a_trusted_authserv_id_the_check_is_off(trusted):
    result = check(DMARC_PASS, trusted=trusted)
    assert result == SenderAuth("off", "sender authentication is off (ACEDESK_TRUSTED_AUTHSERV_ID is not set)",
                                "example.org")


def test_the_authserv_id_and_domains_compare_case_insensitively():
    shouting = (AR, "MX.Club.Example; dmarc=pass header.from=Example.ORG")
    result = check(shouting, sender="Anna <Anna.Berg@EXAMPLE.org>", trusted="mx.CLUB.example")
    assert (result.status, result.from_domain) == ("verified", "example.org")


def test_dkim_pass_for_a_subdomain_is_aligned():
    result = check((AR, f"{MX}; dkim=pass header.d=mail.example.org header.s=s1 header.b=abc"))
    assert result.status == "verified"
    assert result.reason == "dkim=pass for mail.example.org (aligned with example.org) (by mx.club.example)"


def test_dkim_header_i_counts_when_there_is_no_header_d():
    assert check((AR, f"{MX}; dkim=pass header.i=anna.berg@lists.example.org")).status == "verified"


@pytest.mark.parametrize("signer", ["lists.example.net", "example.org.evil.example", "org"])
def test_dkim_pass_for_an_unrelated_domain_is_not_aligned(signer):
    # A mailing-list provider signs with its own domain; a public suffix aligns with nobody.
    result = check((AR, (f"{MX}; dkim=pass header.d={signer}; spf=pass smtp.mailfrom=bounces@{signer}; "
                         "dmarc=none header.from=example.org")))
    assert result.status == "not_verified"
    assert result.reason == (f"mx.club.example reports no dmarc=pass or aligned dkim=pass for example.org; it says "
                             f"dkim=pass for {signer} (not aligned with example.org), spf=pass for {signer}, "
                             "dmarc=none for example.org")


def test_dkim_for_a_public_suffix_does_not_align_under_a_two_label_suffix():
    tom = "Tom Baker <tom.baker@example.co.uk>"
    assert check((AR, f"{MX}; dkim=pass header.d=co.uk"), sender=tom).status == "not_verified"
    assert check((AR, f"{MX}; dkim=pass header.d=mail.example.co.uk"), sender=tom).status == "verified"


def test_spf_pass_alone_and_best_guess_dmarc_do_not_verify():
    assert check(SPF_PASS).status == "not_verified"
    assert check((AR, f"{MX}; dmarc=bestguesspass header.from=example.org")).status == "not_verified"


def test_dmarc_pass_for_another_domain_does_not_verify_this_from():
    result = check((AR, f"{MX}; dmarc=pass header.from=example.net"))
    assert result.status == "not_verified" and "dmarc=pass for example.net" in result.reason


def test_dmarc_without_header_from_is_taken_for_the_single_from_domain():
    passed = check((AR, f"{MX}; dmarc=pass (p=none dis=none)"))
    assert passed.status == "verified"
    assert passed.reason == ("dmarc=pass for example.org (the result names no domain) (by mx.club.example)")
    assert check((AR, f"{MX}; dmarc=fail"), DKIM_PASS).reason.startswith("contradictory results")


def test_fields_of_several_milters_with_the_trusted_id_are_merged():
    # OpenDKIM's pass in one field, OpenDMARC's fail in another: the fail wins, with the reason said.
    result = check(DMARC_FAIL, DKIM_PASS)
    assert result.status == "not_verified"
    assert result.reason == ("contradictory results from mx.club.example: dkim=pass for example.org "
                             "but dmarc=fail for example.org")


@pytest.mark.parametrize("fields", [
    [DMARC_PASS, DMARC_FAIL],
    [DMARC_PASS, (AR, f"{MX}; dkim=fail (bad signature) header.d=example.org")],
    [(AR, f"{MX}; dkim=pass header.d=example.org; dkim=fail header.d=mail.example.org")],
])
def test_conflicting_trusted_results_are_not_verified(fields):
    result = check(*fields)
    assert result.status == "not_verified" and result.reason.startswith("contradictory results from mx.club.example")


def test_a_failed_signature_of_an_unrelated_domain_is_no_contradiction():
    list_signature = (AR, f"{MX}; dkim=fail (body hash did not verify) header.d=lists.example.net")
    assert check(DMARC_PASS, list_signature).status == "verified"


def test_several_from_fields_or_addresses_are_never_verified():
    two_fields = authenticate_sender([DMARC_PASS, *MAIL_HEADERS, ("From", "x@evil.example")], ANNA, MX)
    assert (two_fields.status, two_fields.reason) == ("not_verified", "the mail has 2 From header fields")
    two_addresses = check(DMARC_PASS, sender="anna.berg@example.org, x@evil.example")
    assert two_addresses.reason == "the From header holds 2 addresses: anna.berg@example.org, x@evil.example"
    assert two_addresses.from_domain is None
    assert check(DMARC_PASS, sender="undisclosed-recipients:;").reason == "the From header holds no address"


def test_punycode_and_unicode_spellings_of_a_domain_meet():
    punycode = (AR, f"{MX}; dmarc=pass header.from=XN--EXMPLE-CUA.ORG")
    assert check(punycode, sender="a@xn--exmple-cua.org") == SenderAuth(
        "verified", "dmarc=pass for exämple.org (by mx.club.example)", "exämple.org")
    assert check(punycode, sender="a@exämple.org").status == "verified"  # an internationalised (EAI) From


def test_real_world_forms_authres_refuses_are_read_clause_by_clause():
    trailing_semicolon = (AR, f"{MX}; dkim=pass header.d=example.org header.s=s1;")
    utf8_comment = (AR, f"{MX}; dkim=pass (Schlüssel geprüft) header.d=example.org")
    assert check(trailing_semicolon).status == "verified"
    assert check(utf8_comment).status == "verified"


def test_an_unreadable_trusted_field_is_ignored_and_said():
    result = check((AR, f"{MX}; dkim="), DMARC_PASS)
    assert result.status == "verified"
    assert result.reason.endswith("; ignored 1 unreadable part(s) of its Authentication-Results")
    partly = check((AR, f"{MX}; dmarc=pass header.from=example.org; ===; spf=pass smtp.mailfrom=example.org"))
    assert partly.status == "verified" and "ignored 1 unreadable part(s)" in partly.reason
    only_garbage = check((AR, f"{MX} garbage"))
    assert only_garbage.status == "not_verified" and "ignored 1 unreadable part(s)" in only_garbage.reason


def test_deeply_nested_comments_do_not_break_the_parser():
    # Far deeper than Python's recursion limit, within MAX_TRUSTED_RESULTS_CHARS.
    nested = (AR, f"{MX}; dmarc=pass " + "(" * 4000 + ")" * 4000 + " header.from=example.org")
    assert check(nested).status == "verified"


# What the real MX writes when the From domain has no DMARC record: no pass anywhere.
MX_NO_DMARC = (AR, (f"{MX}; spf=softfail smtp.mailfrom=attacker.example;\r\n dkim=none;"
                    " dmarc=none header.from=example.org"))


@pytest.mark.parametrize("forged_id", [
    "=?us-ascii?q?mx.club.example?=",
    "=?UTF-8?B?bXguY2x1Yi5leGFtcGxl?=",
    "=?utf-8?q?mx=2Eclub=2Eexample?=",
    "=?us-ascii?q?mx.club?= =?us-ascii?q?.example?=",   # two adjacent encoded words decode as one
    "mx.club.example=?us-ascii?q??=",                   # the id as written, an empty encoded word after it
])
def test_the_trusted_id_hidden_in_an_encoded_word_is_never_trusted(forged_id):
    # The MX strips fields whose raw id is its own; this raw id is not, so the field reaches us.
    forged = (AR, f"{forged_id}; dmarc=pass header.from=example.org")
    for fields in ((MX_NO_DMARC, forged), (forged, MX_NO_DMARC), (forged,)):
        result = check(*fields)
        assert result.status == "not_verified"
        assert "inside an encoded word" in result.reason or result.reason.startswith("no Authentication-Results")
    assert check(MX_NO_DMARC, forged).reason == (
        "1 Authentication-Results field(s) claim mx.club.example inside an encoded word (=?...?=): "
        "a forgery the MX does not remove")
    # A genuine field still verifies, also beside an encoded word that claims another server.
    assert check(DMARC_PASS, (AR, "=?us-ascii?q?relay.example.net?=; dmarc=pass header.from=example.org")
                 ).status == "verified"


def test_problems_found_in_the_header_make_the_mail_not_verified():
    result = authenticate_sender([DMARC_PASS, *MAIL_HEADERS], ANNA, MX, ["the header holds a bare CR"])
    assert (result.status, result.reason) == ("not_verified", "the header holds a bare CR")
    assert authenticate_sender([DMARC_PASS, *MAIL_HEADERS], ANNA, MX, []).status == "verified"


@pytest.mark.parametrize("sender", [
    "Anna <anna.berg@example.org",             # no closing bracket
    "Anna Berg <anna.berg@example.org>;",
    "Anna [Club] <anna.berg@example.org>",     # Python reads this as "Anna" alone
    "Berg, Anna <anna.berg@example.org.>",     # an unquoted comma, but the address is malformed too
    "Berg, Anna <@relay.example:anna.berg@example.org>",  # a source route: not the plain form
])
def test_a_from_the_parser_finds_malformed_is_not_verified_and_flagged(sender):
    result = check(DMARC_PASS, sender=sender)
    assert result.status == "not_verified" and result.reason == result.from_problem
    assert result.reason.startswith("the From header is malformed (") and "anna.berg@example.org" in result.reason
    assert address_tricks(sender, None) == [result.reason]


def test_an_unquoted_comma_in_the_display_name_is_one_mailbox():
    # Some clients write the name "Berg, Anna" unquoted: it names no address and hides nothing.
    sender = "Berg, Anna <anna.berg@example.org>"
    assert check(DMARC_PASS, sender=sender) == SenderAuth(
        "verified", "dmarc=pass for example.org (by mx.club.example)", "example.org")
    assert address_tricks(sender, None) == []


@pytest.mark.parametrize("sender", ["Club: anna.berg@example.org;", '"x@evil.example": anna.berg@example.org;'])
def test_a_group_from_is_not_verified_and_flagged(sender):
    # RFC 6854 syntax: a reader may show the group's name as the sender.
    result = check(DMARC_PASS, sender=sender)
    assert result.status == "not_verified" and result.reason.startswith("the From header is a group (")
    assert result.reason in address_tricks(sender, None)


@pytest.mark.parametrize("sender", [
    "x@mailbox.example (anna.berg@example.org)",          # the old way to write a name, still shown
    "Anna <x@mailbox.example> (anna.berg@example.org)",
])
def test_an_address_in_a_comment_is_flagged(sender):
    assert address_tricks(sender, None) == [
        "the From header also shows anna.berg@example.org, but the address is x@mailbox.example"]


def test_why_the_from_names_no_single_mailbox_is_kept_with_authentication_off():
    result = check(sender="anna.berg@example.org <x@mailbox.example>", trusted=None)
    assert (result.status, result.from_problem) == (
        "off", "the From header holds 2 addresses: anna.berg@example.org, x@mailbox.example")
    assert check(trusted=None).from_problem is None
    assert authenticate_sender([*MAIL_HEADERS, ("From", "x@evil.example")], ANNA, None).from_problem == (
        "the mail has 2 From header fields")


# Display names as people write them, an unquoted comma included: no @ < > " ( ) [ ] \ : ; and
# no encoded word, also once NFKC-normalised (the full-width ＠ is an @).
_NOT_IN_A_PLAIN_NAME = set('@<>"()[]\\:;')
_PLAIN_NAMES = st.text(st.characters(categories=["Lu", "Ll", "Lo", "Nd"], include_characters=" ,.'-&!#$%*+/?^_`{|}~="),
                       max_size=30).filter(lambda name: "=?" not in name and not _NOT_IN_A_PLAIN_NAME.intersection(
                           unicodedata.normalize("NFKC", name)))
_LABELS = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_DOMAINS = st.builds(lambda labels, tld: ".".join([*labels, tld]), st.lists(_LABELS, min_size=1, max_size=3),
                     st.sampled_from(["org", "de", "example", "co.uk"]))
_ADDRESSES = st.builds(lambda local, domain: f"{local}@{domain}",
                       st.from_regex(r"[a-z0-9](?:[a-z0-9._+-]{0,10}[a-z0-9])?", fullmatch=True)
                       .filter(lambda local: ".." not in local), _DOMAINS)


@settings(max_examples=300, deadline=None)
@given(name=_PLAIN_NAMES, address=_ADDRESSES)
def test_any_plain_display_name_before_one_angle_addr_is_that_mailbox(name, address):
    sender = f"{name} <{address}>"
    domain = address.rpartition("@")[2]
    result = check((AR, f"{MX}; dmarc=pass header.from={domain}"), sender=sender)
    assert (result.status, result.from_domain, result.from_problem) == ("verified", domain, None), result.reason
    assert address_tricks(sender, None) == []


def _q(text: str) -> str:
    return text.replace("=", "=3D").replace("_", "=5F").replace("@", "=40").replace("?", "=3F").replace(" ", "_")


def _b(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def two_address_froms(shown: str, real: str, name: str) -> list[tuple[str, str | None]]:
    """From fields that hold two addresses, each with its one real mailbox (None: none, or not plainly one)."""
    wide = shown.replace("@", "\uff20")
    return [
        (f"{shown}, {real}", None),
        (f"{shown} <{real}>", None),                      # an encoded word decoded and left unquoted
        (f"{name} {shown} <{real}>", None),
        (f"{name}, {shown} <{real}>", None),              # an unquoted comma, an address after it
        (f"{name}, {wide} <{real}>", None),
        (f"{name} <{shown}> <{real}>", None),
        (f"{name} <{shown}>, {name} <{real}>", None),
        (f"{name} ({shown}), {name} <{real}>", None),
        (f"{shown}<{real}>", None),
        (f"<{shown}> {real}", None),
        (f"{name}: {shown}, {real};", None),
        (f'"{shown}": {real};', None),                    # a group named like an address
        (f'"{shown}" <{real}>', real),
        (f'"{wide}" <{real}>', real),
        (f"{real} ({shown})", real),
        (f"{name} <{real}> ({shown})", real),
        (f"=?utf-8?q?{_q(shown)}?= <{real}>", real),
        (f"=?utf-8?b?{_b(f'{name} <{shown}>')}?= <{real}>", real),
    ]


@settings(max_examples=150, deadline=None)
@given(shown=_ADDRESSES, real=_ADDRESSES, name=_PLAIN_NAMES.filter(str.strip), form=st.integers(0, 17))
def test_two_addresses_in_any_form_are_never_trusted(shown, real, name, form):
    assume(shown != real)
    sender, single = two_address_froms(shown, real, name)[form]
    # The MX vouches for both domains: only the reading of the From can tell them apart.
    passes = [(AR, f"{MX}; dmarc=pass header.from={address.rpartition('@')[2]}") for address in (shown, real)]
    result = check(*passes, sender=sender)
    flags = address_tricks(sender, None)
    if single is None or result.from_problem:  # a comma in the name can make a form malformed
        assert result.status == "not_verified" and result.from_problem in flags, (sender, result)
    else:  # one real mailbox: what the MX vouched for is its domain, and the other address is named
        assert result.from_domain == real.rpartition("@")[2], (sender, result)
        assert any(shown in flag for flag in flags), (sender, flags)


_TRUSTED_OR_NOT = st.sampled_from(["", f"{MX};", f"{MX}; dmarc=pass ", f"{MX}; dkim=pass header.d=", "x;"])


@given(prefix=_TRUSTED_OR_NOT, value=st.text(), sender=st.text())
def test_garbage_header_values_and_from_never_raise(prefix, value, sender):
    result = authenticate_sender([(AR, prefix + value), ("From", sender)], sender, MX)
    assert result.status in ("verified", "not_verified") and isinstance(result.reason, str)


@given(fields=st.lists(st.tuples(st.sampled_from([AR, "From", "ARC-Authentication-Results", "X"]), st.text())),
       sender=st.text(), trusted=st.none() | st.text())
def test_any_header_list_gives_a_verdict(fields, sender, trusted):
    assert authenticate_sender(fields, sender, trusted).status in ("verified", "not_verified", "off")


# -- address_tricks -------------------------------------------------------------------------------

def test_an_ordinary_from_has_no_tricks():
    assert address_tricks(ANNA, None) == []
    assert address_tricks("anna.berg@example.org", "Anna <Anna.Berg@Example.ORG>") == []
    assert address_tricks('"anna.berg@example.org" <anna.berg@example.org>', "") == []


@pytest.mark.parametrize("sender", [
    '"anna.berg@example.org" <x@mailbox.example>',                    # quoted, or decoded by the caller
    "=?utf-8?q?anna.berg=40example.org?= <x@mailbox.example>",         # still an encoded word
    "=?utf-8?b?YW5uYS5iZXJnQGV4YW1wbGUub3Jn?= <x@mailbox.example>",
    '"Anna Berg (anna.berg＠example.org)" <x@mailbox.example>',        # a full-width at sign
])
def test_a_display_name_showing_another_address_is_flagged(sender):
    assert address_tricks(sender, None) == [
        "the display name shows anna.berg@example.org, but the address is x@mailbox.example"]


def test_an_encoded_word_decoded_without_quotes_reads_as_two_addresses():
    assert address_tricks("anna.berg@example.org <x@mailbox.example>", None) == [
        "the From header holds 2 addresses: anna.berg@example.org, x@mailbox.example"]


def test_a_reply_to_elsewhere_is_flagged():
    assert address_tricks(ANNA, "helper@evil.example") == [
        "replies would go to helper@evil.example, not the sender anna.berg@example.org"]
    assert address_tricks(ANNA, "Anna <anna.berg@example.org>, helper@evil.example") == [
        "replies would go to helper@evil.example, not the sender anna.berg@example.org"]


@pytest.mark.parametrize(("sender", "reply_to"), [
    ("Anna <anna@ex\u00e4mple.org>", "anna@xn--exmple-cua.org"),       # the same domain, punycode
    ("Anna <anna@example.org>", "Anna@EXAMPLE.org."),                  # case and the final dot
    ('"anna@xn--exmple-cua.org" <anna@ex\u00e4mple.org>', None),
])
def test_one_mailbox_in_two_spellings_is_no_trick(sender, reply_to):
    assert address_tricks(sender, reply_to) == []


def test_a_plus_tag_is_another_address():
    # Whether anna+club reaches anna is the provider's rule: the mail cannot prove it.
    assert address_tricks(ANNA, "anna.berg+club@example.org") == [
        "replies would go to anna.berg+club@example.org, not the sender anna.berg@example.org"]


@pytest.mark.parametrize(("sender", "flag"), [
    ("", "the From header holds no address"),
    ("Anna Berg", "the From header holds no address"),
    ("Anna <anna@>", "the From header holds no address"),
    ("a@example.org, b@example.net", "the From header holds 2 addresses: a@example.org, b@example.net"),
])
def test_a_from_with_no_address_or_several_is_flagged(sender, flag):
    assert address_tricks(sender, None) == [flag]


@given(sender=st.text(), reply_to=st.none() | st.text())
def test_address_tricks_never_raise(sender, reply_to):
    flags = address_tricks(sender, reply_to)
    assert isinstance(flags, list) and all(isinstance(flag, str) for flag in flags)


# -- looks_alike ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("sender_domain", "account_domain"), [
    ("ex\u0430mple.org", "example.org"),     # a Cyrillic a
    ("xn--exmple-4nf.org", "example.org"),   # the same, as punycode
    ("\u0435\u0445\u0430m\u0440l\u0435.org", "example.org"),  # e, x, a, p, e in Cyrillic
    ("examp1e.org", "example.org"),
    ("g00gle.com", "google.com"),
    ("exarnple.org", "example.org"),         # rn for m
    ("c1ub.org", "club.org"),                # 1 for l beside a c: "cl" reads as "d" either way
    ("c1ub-berlin.de", "club-berlin.de"),
    ("exmaple.org", "example.org"),          # two letters swapped
    ("exampel.org", "example.org"),
    ("examplle.org", "example.org"),         # one letter added
    ("mail.examp1e.org", "example.org"),
    ("example.com", "example.org"),          # same name, another public suffix
    ("example.co.uk", "example.org"),
    ("example.org.evil.example", "example.org"),  # the account's domain first, someone else's after
])
def test_lookalike_domains(sender_domain, account_domain):
    assert looks_alike(sender_domain, account_domain)
    assert looks_alike(account_domain, sender_domain)


@pytest.mark.parametrize(("domain_a", "domain_b"), [
    ("example.org", "club.example"),
    ("gmail.com", "gmx.de"),
    ("example.org", "example.org"),
    ("example.org", "EXAMPLE.ORG."),
    ("mail.example.org", "example.org"),     # same owner
    ("gmx.de", "gmy.de"),                    # one edit in a short name changes too much
    ("exampel.com", "example.org"),          # one edit *and* another suffix
    ("faß.de", "fass.de"),
    ("", "example.org"),
])
def test_domains_that_do_not_look_alike(domain_a, domain_b):
    assert not looks_alike(domain_a, domain_b)


@given(st.text(), st.text())
def test_looks_alike_never_raises_and_is_symmetric(domain_a, domain_b):
    assert looks_alike(domain_a, domain_b) == looks_alike(domain_b, domain_a)
    assert not looks_alike(domain_a, domain_a)


# -- the demo mailbox -----------------------------------------------------------------------------

with open(DEMO_MAIL / "EXPECTED.csv", newline="", encoding="utf-8") as _handle:
    EXPECTED = list(csv.DictReader(_handle))


@pytest.mark.parametrize("row", EXPECTED, ids=lambda row: row["file"])
def test_every_demo_mail_gets_the_expected_verdict(row):
    message = email.message_from_bytes((DEMO_MAIL / row["file"]).read_bytes())
    result = authenticate_sender([(name, str(value)) for name, value in message.items()],
                                 str(message["From"]), MX)
    assert result.status == row["sender_auth"], result.reason


def test_the_forged_demo_mail_is_caught_both_ways():
    message = email.message_from_bytes((DEMO_MAIL / "31-forged-anna-cancel-reply-to.eml").read_bytes())
    result = authenticate_sender(list(message.items()), message["From"], MX)
    assert result.reason == "dmarc=fail for example.org (by mx.club.example)"
    assert address_tricks(message["From"], message["Reply-To"]) == [
        "replies would go to helper@evil.example, not the sender anna.berg@example.org"]


# -- case and length of the trusted fields ---------------------------------------------------------

@pytest.mark.parametrize(("value", "status", "reason"), [
    (f"{MX}; DMARC=PASS header.from=example.org", "verified", "dmarc=pass for example.org (by mx.club.example)"),
    (f"{MX}; Dmarc=Pass HEADER.FROM=evil.example", "not_verified",
     "mx.club.example reports no dmarc=pass or aligned dkim=pass for example.org; it says dmarc=pass for evil.example"),
    (f"{MX}; DKIM=Pass Header.D=Mail.Example.ORG", "verified",
     "dkim=pass for mail.example.org (aligned with example.org) (by mx.club.example)"),
    (f"{MX}; DKIM=pass header.d=example.org; DMARC=FAIL", "not_verified",
     ("contradictory results from mx.club.example: dkim=pass for example.org "
     "but dmarc=fail for example.org (the result names no domain)")),
])
def test_method_and_property_names_are_read_whatever_their_case(value, status, reason):
    # RFC 8601 has them case-insensitive; authres gives "DMARC" a class without header_from.
    assert (check((AR, value)).status, check((AR, value)).reason) == (status, reason)


_CASINGS = st.sampled_from([str.lower, str.upper, str.title, str.swapcase])
_CLAUSES = st.sampled_from([("dmarc", "header.from"), ("dkim", "header.d"), ("dkim", "header.i"),
                            ("spf", "smtp.mailfrom")])
_RESULTS = st.sampled_from(["pass", "fail", "none", "neutral", "temperror", "permerror", "bestguesspass"])
_SIGNERS = st.sampled_from(["example.org", "mail.example.org", "evil.example", "example.org.evil.net", "org"])


@settings(max_examples=150, deadline=None)
@given(clauses=st.lists(st.tuples(_CLAUSES, _RESULTS, _SIGNERS, _CASINGS, _CASINGS, _CASINGS), min_size=1, max_size=4))
def test_the_verdict_does_not_depend_on_how_the_names_are_cased(clauses):
    lower = "; ".join(f"{method}={result} {key}={domain}" for (method, key), result, domain, *_ in clauses)
    recased = "; ".join(f"{case_m(method)}={case_r(result)} {case_k(key)}={case_k(domain)}"
                        for (method, key), result, domain, case_m, case_r, case_k in clauses)
    assert check((AR, f"{MX}; {recased}")) == check((AR, f"{MX}; {lower}"))


def _clipped_trusted_field(value: str) -> list[tuple[str, str]]:
    """The header items the intake reads from a mail with this trusted field (cut as it cuts it)."""
    raw = f"{AR}: {value}\r\nFrom: {ANNA}\r\nTo: support@club.example\r\nSubject: Cancel\r\n\r\nPlease cancel.\r\n"
    return parse_eml(raw.encode()).raw_header_items


def _cut_after(what: str, padding: str, tail: str) -> str:
    """A trusted field value that the intake's cut of long fields ends just after ``what``."""
    room = MAX_HEADER_FIELD_BYTES - len(f"{AR}: {MX}; ") - len(what)
    return f"{MX}; " + (padding * (room // len(padding) + 1))[:room] + what + tail


@pytest.mark.parametrize(("value", "misread_as"), [
    # A signer's own domain, cut after the part that names the club member's domain.
    (_cut_after("dkim=pass header.d=example.org", " ", ".evil.net"), "dkim=pass header.d=example.org"),
    # A pass for another domain, cut before the domain: a dmarc result naming none is the From's.
    (_cut_after("dmarc=pass (p=none)", "(x)", " header.from=evil.example"), "dmarc=pass (p=none)"),
])
def test_a_trusted_field_cut_by_the_intake_is_not_read(value, misread_as):
    items = _clipped_trusted_field(value)
    assert items[0][1].endswith(misread_as)  # what the cut leaves would verify the forged From
    result = authenticate_sender(items, ANNA, MX)
    assert result.status == "not_verified"
    assert result.reason.startswith("the Authentication-Results from mx.club.example are ")
    assert result.reason.endswith(f"over {MAX_TRUSTED_RESULTS_CHARS}: more than an MX writes, so they were not read")


@pytest.mark.parametrize("filler", ["(x)", "x=y ", "dkim=none; "])
def test_a_megabyte_of_trusted_results_is_refused_at_once(filler):
    value = f"{MX}; dmarc=pass " + filler * (1_000_000 // len(filler)) + " header.from=example.org"
    started = time.perf_counter()
    result = check((AR, value))
    assert time.perf_counter() - started < 1  # took 45 to 100 s to parse
    assert result.status == "not_verified" and "characters long, over 8192" in result.reason


def test_a_long_but_real_set_of_trusted_results_is_still_read():
    # An ESP's mail: several signatures, Gmail-style comments, all in one field, and the milters' fields.
    signatures = "".join(f"dkim=pass header.i=@{signer} header.s=s{i} header.b=AbCdEf{i};\r\n       "
                         for i, signer in enumerate(["example.org", "esp-mailer.example", "bounces.esp-mailer.example"]))
    gmail = (AR, (f"{MX};\r\n       {signatures}spf=pass (mx.club.example: domain of bounce@esp-mailer.example "
                 "designates 192.0.2.7 as permitted sender) smtp.mailfrom=bounce@esp-mailer.example;\r\n"
                 "       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.org"))
    assert check(gmail, DMARC_PASS, SPF_PASS, DKIM_PASS).status == "verified"
    at_the_limit = (f"{MX}; dmarc=pass header.from=example.org (" + "x" * MAX_TRUSTED_RESULTS_CHARS)[
        :MAX_TRUSTED_RESULTS_CHARS - 1] + ")"
    assert len(at_the_limit) == MAX_TRUSTED_RESULTS_CHARS and check((AR, at_the_limit)).status == "verified"


@pytest.mark.parametrize("forged", [
    (AR, f"{MX}; dmarc=pass header.from=example.org"),
    (AR, f"{MX}; dkim=pass header.d=example.org header.s=s1"),
    (AR, f"{MX}; dkim=pass header.d=example.org; dmarc=pass header.from=example.org"),
], ids=["dmarc", "dkim", "both"])
def test_a_pass_under_the_mxs_id_beside_its_own_none_is_contradictory_in_either_order(forged):
    # The MX judged the mail once: it found no signature and no DMARC pass (MX_NO_DMARC). A field
    # under its id that it failed to remove (RFC 8601 section 5) said pass, and the mail verified.
    for fields in ((MX_NO_DMARC, forged), (forged, MX_NO_DMARC)):
        result = check(*fields)
        assert result.status == "not_verified" and "contradictory" in result.reason, result.reason


def test_an_mx_that_found_a_signature_but_no_dmarc_record_still_verifies_by_dkim():
    # dmarc=none beside a dkim pass is one judgement: the domain publishes no DMARC record
    result = check((AR, f"{MX}; dkim=pass header.d=example.org header.s=s1; dmarc=none header.from=example.org"))
    assert result.status == "verified", result.reason
    assert check(DKIM_PASS, (AR, f"{MX}; dkim=none")).status == "not_verified"
