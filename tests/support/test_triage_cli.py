import json

from model.schema import CATEGORIES
from support.triage import main


def test_cli_prints_the_result_of_an_eml_file(tiny_base_dir, tmp_path, capsys):
    eml = tmp_path / "mail.eml"
    eml.write_bytes(b"From: Anna <anna@example.org>\r\nSubject: Cancel\r\n\r\nPlease cancel BK-12345.\r\n")
    assert main([str(eml), "--base-model", str(tiny_base_dir), "--adapter", ""]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["category"] in CATEGORIES and "confidence" in printed


def test_cli_reports_a_missing_file_without_a_traceback(tmp_path, capsys):
    assert main([str(tmp_path / "nope.eml")]) == 2
    assert "nope.eml" in capsys.readouterr().err
