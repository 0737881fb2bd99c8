"""Settings come from the environment and .streamlit/secrets.toml, the file winning."""

from support.settings import DeskSettings, read_secrets_file, setting_values
from tests.conftest import REPO_ROOT


def test_the_secrets_file_wins_over_the_environment_and_only_for_acedesk_names(tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('ACEDESK_CLUB_API_URL = "https://booking.example"\nACEDESK_IMAP_PORT = 993\nOTHER = "x"\n')
    env = {"ACEDESK_CLUB_API_URL": "http://127.0.0.1:8700", "ACEDESK_DATA_DIR": "/srv/acedesk", "PATH": "/bin"}
    values = setting_values(env, read_secrets_file(secrets))
    assert values["ACEDESK_CLUB_API_URL"] == "https://booking.example"
    assert values["ACEDESK_IMAP_PORT"] == "993" and values["ACEDESK_DATA_DIR"] == "/srv/acedesk"
    assert "OTHER" not in values
    assert setting_values(env, read_secrets_file(tmp_path / "missing.toml")) == env


def test_the_example_secrets_file_configures_every_connection():
    example = REPO_ROOT / ".streamlit" / "secrets.toml.example"
    settings = DeskSettings.from_env(setting_values({}, read_secrets_file(example)))
    assert settings.club_api_url and settings.club_api_token
    assert settings.imap is not None and settings.imap.security == "tls" and settings.imap.port == 993
    assert settings.smtp is not None
    assert "paste-the" not in repr(settings)  # secrets stay out of reprs
