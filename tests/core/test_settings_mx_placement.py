"""ACEDESK_MX_RESULTS_PLACEMENT: the default keeps the reading every deployment had; a value that
names no placement is refused with the setting's name, not read as the default."""

import pytest
from pydantic import ValidationError

from core.settings import SecretsFileSource, Settings


@pytest.fixture(autouse=True)
def no_secrets_file(monkeypatch, tmp_path):
    monkeypatch.setattr(SecretsFileSource, "path", tmp_path / "none.toml")


def test_the_mx_results_placement_defaults_to_either_side_of_its_received_field(monkeypatch):
    monkeypatch.delenv("ACEDESK_MX_RESULTS_PLACEMENT", raising=False)
    assert Settings().mx_results_placement == "either"


@pytest.mark.parametrize("written", ["above", "Above", " ABOVE "])
def test_above_is_read_whatever_its_case(monkeypatch, written):
    monkeypatch.setenv("ACEDESK_MX_RESULTS_PLACEMENT", written)
    assert Settings().mx_results_placement == "above"


def test_a_placement_that_is_neither_is_refused_naming_the_setting(monkeypatch):
    monkeypatch.setenv("ACEDESK_MX_RESULTS_PLACEMENT", "below")
    with pytest.raises(ValidationError, match="mx_results_placement"):
        Settings()
