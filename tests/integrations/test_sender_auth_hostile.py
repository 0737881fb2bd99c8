"""Authentication-Results an attacker writes into the mail before sending it, under the club MX's
own authserv-id, read from real mail bytes through ``parse_eml`` as the intake reads them. The MX
is supposed to strip such fields (RFC 8601 section 5); these are the forms that give themselves
away when it does not. The genuine layouts copy where Postfix's milters and rspamd put theirs."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.mail_parsing import parse_eml
from integrations.sender_auth import SenderAuth, authenticate_sender

MX = "mx.club.example"
MX_RECEIVED = (f"Received: from mail.example.org (mail.example.org [192.0.2.7])\r\n\tby {MX} (Postfix) with ESMTPS "
               "id 4Fq2x1; Tue, 24 Nov 2026 08:02:01 +0100 (CET)")
LMTP_RECEIVED = f"Received: from {MX} by imap.club.example with LMTP id Xa1; Tue, 24 Nov 2026 08:02:02 +0100"
RELAY_RECEIVED = ("Received: from [10.0.0.5] (unknown [198.51.100.4])\r\n\tby relay.evil.example with ESMTPSA id 77; "
                  "Tue, 24 Nov 2026 08:01:59 +0100")
DMARC_PASS = f"Authentication-Results: {MX}; dmarc=pass (p=reject dis=none) header.from=example.org"
DKIM_PASS = (f"Authentication-Results: {MX};\r\n\tdkim=pass (2048-bit key; unprotected) header.d=example.org "
             "header.i=@example.org header.a=rsa-sha256 header.s=s1 header.b=XzvXEY5+")
SPF_ONLY = f"Authentication-Results: {MX}; spf=softfail smtp.mailfrom=evil.example"
FORGED_DMARC = f"Authentication-Results: {MX}; dmarc=pass header.from=example.org"
MESSAGE = ("From: Anna Berg <anna.berg@example.org>\r\nTo: support@club.example\r\nSubject: Cancel BK-48213\r\n"
           "Message-ID: <1@example.org>\r\n\r\nPlease cancel BK-48213.\r\n")


def verdict(*fields: str) -> SenderAuth:
    parsed = parse_eml(("\r\n".join(fields) + "\r\n" + MESSAGE).encode())
    return authenticate_sender(parsed.raw_header_items, parsed.raw_from, MX, parsed.header_problems)


@pytest.mark.parametrize("fields", [
    (MX_RECEIVED, DMARC_PASS, DKIM_PASS, RELAY_RECEIVED),  # OpenDMARC and OpenDKIM at index 1, below the Received
    (DMARC_PASS, DKIM_PASS, MX_RECEIVED, RELAY_RECEIVED),  # at index 0 (their 2026 fix), rspamd
    (LMTP_RECEIVED, MX_RECEIVED, DKIM_PASS, DMARC_PASS),  # Dovecot's LMTP hop prepends its own Received
    (DMARC_PASS,),  # one field holding everything, no Received at all (the demo mails)
], ids=["index-1-milters", "index-0-milters", "lmtp-hop", "one-field"])
def test_the_mxs_own_fields_verify_wherever_its_milters_put_them(fields):
    result = verdict(*fields)
    assert result.status == "verified", result.reason


@pytest.mark.parametrize("forged_below", [
    (RELAY_RECEIVED, FORGED_DMARC),
    (RELAY_RECEIVED, "X-Mailer: x", FORGED_DMARC),
    (RELAY_RECEIVED, "Received: by relay2.evil.example; Tue, 24 Nov 2026 08:01:58 +0100", FORGED_DMARC),
])
@pytest.mark.parametrize("mx_fields", [(MX_RECEIVED, SPF_ONLY), (SPF_ONLY, MX_RECEIVED)], ids=["index-1", "index-0"])
def test_a_field_under_the_mxs_id_below_an_earlier_hops_received_is_a_forgery(mx_fields, forged_below):
    # The MX here checked SPF only, so nothing in its own field contradicts the forged dmarc=pass
    # (before: verified). The forged field sits below the Received field of the hop that sent it.
    result = verdict(*mx_fields, *forged_below)
    assert result.status == "not_verified"
    assert "below a Received field" in result.reason and "forgery" in result.reason, result.reason


@pytest.mark.parametrize("clause", [
    "dmarc=pass header.from=evil.example header.from=example.org",
    "dmarc=pass header.from=example.org header.from=evil.example",
    "dmarc=pass header.from=example.org HEADER.FROM=evil.example",
    "dkim=pass header.d=example.org header.d=evil.example header.s=s1",
    "dkim=pass header.i=@example.org header.i=@evil.example",
    "dkim=pass header.d=example.org header.i=@evil.example",
])
def test_one_result_naming_two_domains_is_contradictory(clause):
    # Before: the first one counted, and every one of these verified example.org.
    result = verdict(MX_RECEIVED, f"Authentication-Results: {MX}; {clause}")
    assert result.status == "not_verified"
    assert "one result names two domains" in result.reason, result.reason


@pytest.mark.parametrize("clause", [
    "dmarc=pass header.from=example.org header.from=EXAMPLE.ORG.",  # one domain, spelled twice
    "dkim=pass header.d=example.org header.i=anna.berg@mail.example.org",  # i= in a subdomain of d=
    "dmarc=pass header.from=example.org; dkim=pass header.d=esp-mailer.example",  # two results, one domain each
])
def test_one_domain_per_result_is_no_contradiction(clause):
    result = verdict(MX_RECEIVED, f"Authentication-Results: {MX}; {clause}")
    assert result.status == "verified", result.reason


_DOMAINS = st.sampled_from(["example.org", "EXAMPLE.org", "example.org.", "evil.example", "mail.example.org",
                            "xn--exmple-cua.org", "example.org.evil.example"])
_PROPERTIES = st.sampled_from(["header.from", "HEADER.From", "header.d", "header.i"])


@settings(max_examples=200, deadline=None)
@given(method=st.sampled_from(["dmarc", "DKIM", "dkim"]), pairs=st.lists(st.tuples(_PROPERTIES, _DOMAINS),
                                                                         min_size=2, max_size=4))
def test_a_clause_never_verifies_a_domain_it_also_contradicts(method, pairs):
    # Whatever order and case the properties come in, a clause whose identities are not all the
    # From's organisational domain never verifies it on the strength of the first one.
    props = " ".join(f"{name}={'@' if name.lower() == 'header.i' else ''}{domain}" for name, domain in pairs)
    result = verdict(MX_RECEIVED, f"Authentication-Results: {MX}; {method}=pass {props}")
    identities = {domain.lower().rstrip(".") for name, domain in pairs
                  if name.lower() in ({"header.from"} if method == "dmarc" else {"header.d", "header.i"})}
    if result.status == "verified":
        assert len(identities) <= 1 or method.lower() == "dkim" and identities <= {"example.org", "mail.example.org"}
