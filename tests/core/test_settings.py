"""Settings come from the environment and .streamlit/secrets.toml, the file winning; every
default is defined once, and secrets stay out of reprs."""

import pytest
from pydantic import ValidationError

from core.settings import NO_ADAPTER, SecretsFileSource, Settings, operator_address
from integrations.imap_mailbox import ImapSettings
from integrations.mail_sending import SmtpSettings
from model.active import default_choice
from model.metadata import DEFAULT_ADAPTER
from tests.conftest import REPO_ROOT


def test_the_secrets_file_wins_over_the_environment_and_only_for_acedesk_names(tmp_path, monkeypatch):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('ACEDESK_CLUB_API_URL = "https://booking.example"\nACEDESK_IMAP_PORT = 993\n'
                       'OTHER = "x"\n[auth]\nclient_id = "streamlit-s-own"\n')
    monkeypatch.setattr(SecretsFileSource, "path", secrets)
    monkeypatch.setenv("ACEDESK_CLUB_API_URL", "http://127.0.0.1:8700")
    monkeypatch.setenv("ACEDESK_DATA_DIR", "/srv/acedesk")
    settings = Settings()
    assert settings.club_api_url == "https://booking.example"
    assert settings.imap_port == 993 and str(settings.data_dir) == "/srv/acedesk"


def test_an_empty_variable_is_unset_except_for_the_adapter(monkeypatch):
    monkeypatch.setenv("ACEDESK_SMTP_HOST", "")
    monkeypatch.setenv("ACEDESK_ADAPTER", "")
    settings = Settings()
    assert settings.smtp_host is None and settings.adapter == ""
    assert default_choice(settings).adapter is None and "" in NO_ADAPTER
    monkeypatch.delenv("ACEDESK_ADAPTER")
    assert default_choice(Settings()).adapter == str(DEFAULT_ADAPTER)


def test_operators_are_a_comma_separated_list_and_a_wrong_value_names_its_setting(monkeypatch):
    monkeypatch.setenv("ACEDESK_OPERATORS", "Desk@Club.example, coach@club.example ,")
    assert Settings().operators == ("desk@club.example", "coach@club.example")
    monkeypatch.setenv("ACEDESK_IMAP_PORT", "imap")
    with pytest.raises(ValidationError, match="imap_port"):
        Settings()


@pytest.mark.parametrize("entry", ["Anna <anna@club.example>", "*", "anna", "a@b@club.example", "anna @club.example"])
def test_an_operator_entry_that_is_no_bare_address_is_named_not_left_to_match_nobody(monkeypatch, entry):
    monkeypatch.setenv("ACEDESK_OPERATORS", f"desk@club.example,{entry}")
    with pytest.raises(ValidationError, match="operators") as raised:
        Settings()
    assert "not one bare address" in str(raised.value)


def test_an_operator_list_lower_cases_ascii_letters_only(monkeypatch):
    """Unicode's lower() made the Kelvin sign an ASCII k, and Ölaf's entry never matched Ölaf's login."""
    monkeypatch.setenv("ACEDESK_OPERATORS", "\u00d6laf@Club.example,KIM@club.example")
    assert Settings().operators == ("\u00d6laf@club.example", "kim@club.example")


def test_the_example_secrets_file_configures_every_connection_and_keeps_secrets_out_of_reprs(monkeypatch):
    monkeypatch.setattr(SecretsFileSource, "path", REPO_ROOT / ".streamlit" / "secrets.toml.example")
    settings = Settings()
    assert settings.club_api_url and settings.secret("club_api_token")
    imap = ImapSettings.from_settings(settings)
    assert imap is not None and imap.security == "tls" and imap.port == 993
    assert SmtpSettings.from_settings(settings) is not None
    assert "paste-the" not in repr(settings) and "paste-the" not in repr(imap)


def test_public_url_drops_credentials_query_and_fragment():
    from core.settings import public_url

    assert public_url("https://user:hunter2@models.example:8443/v1?key=s3cret#x") == "https://models.example:8443/v1"
    assert public_url("http://127.0.0.1/v1") == "http://127.0.0.1/v1"


def test_a_bearer_token_read_from_a_file_loses_its_newline(monkeypatch, tmp_path):
    # `export ACEDESK_CLUB_API_TOKEN=$(cat token)` keeps no newline, but a secrets manager's file mount does
    monkeypatch.setattr(SecretsFileSource, "path", tmp_path / "none.toml")
    monkeypatch.setenv("ACEDESK_CLUB_API_TOKEN", "tok-123\n")
    assert Settings().secret("club_api_token") == "tok-123"
    assert Settings(model_api_key=" key \r\n").secret("model_api_key") == "key"


# Tennisclub Müller's domain, as its club writes it and as DNS (and an identity provider) may spell it
MUELLER_UNICODE, MUELLER_PUNYCODE = "tennisclub-m\u00fcller.de", "xn--tennisclub-mller-uzb.de"


@pytest.mark.parametrize("entry", [f"Anna@{MUELLER_UNICODE}", f"anna@{MUELLER_PUNYCODE.upper()}"])
def test_an_operator_entry_with_an_international_domain_is_listed_in_its_idna_form(monkeypatch, entry):
    """The list's Unicode spelling never matched the provider's punycode one: the operator was refused."""
    monkeypatch.setenv("ACEDESK_OPERATORS", entry)
    assert Settings().operators == (f"anna@{MUELLER_PUNYCODE}",)


@pytest.mark.parametrize("domain", ["\u212alub.example",  # KELVIN SIGN: IDNA 2003 and UTS 46 map it to "k"
                                    "\uff43lub.example",  # FULLWIDTH c: mapped to "c" by the same
                                    "tennisclub-mu\u0308ller.de",  # u and a combining diaeresis: NFC is ü
                                    "tennisclub-M\u00dcller.de"])  # upper-case Ü: IDNA 2008 has no case
def test_a_domain_idna_2008_does_not_allow_is_kept_as_written_not_mapped_to_another(domain):
    assert operator_address(f"anna@{domain}") == f"anna@{domain.translate(str.maketrans('M', 'm'))}"


def test_a_full_width_or_ideographic_dot_keeps_a_login_its_own_operator():
    # Found by the auth fuzz test: idna.encode splits labels at U+FF0E, U+3002 and U+FF61 too, so
    # "coach@club．example" was admitted as coach@club.example.
    for dot in "\u3002\uff0e\uff61":
        assert operator_address(f"coach@club{dot}example") != operator_address("coach@club.example")
