"""ACEDESK_MX_RESULTS_PLACEMENT: where the club's MX writes its Authentication-Results relative to
its own Received field. A sender that connects straight to the MX and writes a field under the
MX's id into its own header block gets it right below the MX's Received field, where a milter at
index 1 also writes; only a deployment that states its MX writes above that field can tell them
apart. Real header bytes, read through ``parse_eml`` as the intake reads them."""

import pytest

from integrations.mail_parsing import parse_eml
from integrations.sender_auth import SenderAuth, authenticate_sender
from tests.integrations.test_sender_auth_hostile import (
    DKIM_PASS,
    DMARC_PASS,
    FORGED_DMARC,
    LMTP_RECEIVED,
    MESSAGE,
    MX,
    MX_RECEIVED,
    RELAY_RECEIVED,
)

SPF_PASS = f"Authentication-Results: {MX}; spf=pass smtp.mailfrom=example.org"
DIRECT_SEND_FORGERIES = {
    # Its milter was down and the MX accepted the mail unchecked (Postfix's milter_default_action=accept)
    "mx-wrote-nothing": (MX_RECEIVED, FORGED_DMARC),
    # An SPF milter that writes at index 1 and no DMARC milter: nothing contradicts the forged pass
    "mx-wrote-spf-below": (MX_RECEIVED, SPF_PASS, FORGED_DMARC),
    # The sender also wrote a Received field of its own under the forgery, so that one looks like the MX's
    "with-a-fake-received-below": (MX_RECEIVED, FORGED_DMARC, RELAY_RECEIVED),
}


def verdict(*fields: str, placement: str = "either") -> SenderAuth:
    parsed = parse_eml(("\r\n".join(fields) + "\r\n" + MESSAGE).encode())
    return authenticate_sender(parsed.raw_header_items, parsed.raw_from, MX, parsed.header_problems,
                               mx_results_placement=placement)


@pytest.mark.parametrize("fields", DIRECT_SEND_FORGERIES.values(), ids=DIRECT_SEND_FORGERIES.keys())
def test_guard_either_cannot_tell_a_direct_send_forgery_from_a_milter_at_index_1(fields):
    # A guard of the documented limit of the default, not a wish: the forged field stands where an
    # index-1 milter's genuine one stands, so "either" verifies it.
    assert verdict(*fields).status == "verified"


@pytest.mark.parametrize("fields", DIRECT_SEND_FORGERIES.values(), ids=DIRECT_SEND_FORGERIES.keys())
def test_above_rejects_a_field_under_the_mxs_id_below_its_received_field(fields):
    result = verdict(*fields, placement="above")
    assert result.status == "not_verified"
    assert "below the topmost Received field" in result.reason and "ACEDESK_MX_RESULTS_PLACEMENT" in result.reason, \
        result.reason


@pytest.mark.parametrize("fields", [
    (DMARC_PASS, DKIM_PASS, MX_RECEIVED, RELAY_RECEIVED),  # milters at index 0, rspamd
    (DMARC_PASS,),  # one field, no Received at all (the demo mails)
], ids=["index-0", "one-field"])
def test_above_still_verifies_the_mxs_own_fields_above_its_received_field(fields):
    result = verdict(*fields, placement="above")
    assert result.status == "verified", result.reason


@pytest.mark.parametrize("fields", [
    (MX_RECEIVED, DMARC_PASS, DKIM_PASS, RELAY_RECEIVED),  # an MX whose milters write at index 1
    (LMTP_RECEIVED, DKIM_PASS, DMARC_PASS, MX_RECEIVED),  # index 0, but Dovecot's LMTP hop added a Received on top
], ids=["index-1-milters", "index-0-below-an-lmtp-hop"])
def test_above_does_not_verify_genuine_fields_below_the_topmost_received_field(fields):
    # The price of "above", stated in the setting: the reader cannot tell these genuine fields from
    # the forgeries above, so a deployment laid out like this must keep "either".
    assert verdict(*fields).status == "verified"
    result = verdict(*fields, placement="above")
    assert result.status == "not_verified"
    assert "below the topmost Received field" in result.reason, result.reason
