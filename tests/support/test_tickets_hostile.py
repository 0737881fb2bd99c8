"""The operator CLI attacked: hostile mail in the store, odd arguments, odd output paths, two
operators at once. The CLI runs as the operator runs it, a process against a real store."""

import json
import os
import subprocess
import sys

import pytest

from core.mail import MailRef
from model.schema import TriageResult
from support.store import TicketStore
from tests.conftest import REPO_ROOT

TERMINAL_CONTROLS = ("\x1b[2J", "\x1b]8;;https://evil.example/\x1b\\here\x1b]8;;\x1b\\",
                     "\x1b]52;c;cm0gLXJmIH4=\x07", "\u202eexe.txt\u202c", "\x9b2J", "\x9d52;c;AA\x9c", "\x7f",
                     "\u200b", "\U000e0041")
HOSTILE = "".join(TERMINAL_CONTROLS) + " paid\rrefunded"
RAW_CONTROLS = {char for char in HOSTILE if not char.isprintable()}
"""What a terminal acts on, or draws as nothing, when printed as it is."""


def cli(data_dir, *args, club=None, timeout=60) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if not name.startswith("ACEDESK_")}
    env["ACEDESK_DATA_DIR"] = str(data_dir)
    if club is not None:
        env |= {"ACEDESK_CLUB_API_URL": club.url, "ACEDESK_CLUB_API_TOKEN": club.token}
    return subprocess.run([sys.executable, "-m", "support.tickets", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, timeout=timeout, check=False)


def add(store, uid, *, sender="anna.berg@example.org", subject="cancel", body="Please cancel BK-48213.",
        triage=None) -> int:
    ticket = store.add_ticket(MailRef("eml:x", "1", str(uid), f"<m{uid}@example.org>"), sender=sender,
                              subject=subject, body=body)
    if triage is not None:
        store.record_triage(ticket, triage.to_dict(), [])
    return ticket


@pytest.fixture
def store(tmp_path):
    return TicketStore(tmp_path / "acedesk.sqlite3")


def raw_controls(output: bytes) -> set[str]:
    return RAW_CONTROLS.intersection(output.decode())


def test_show_prints_a_hostile_mail_visibly_and_its_values_whole(store, tmp_path):
    ticket = add(store, 1, sender=f"anna{HOSTILE}@example.org", subject=HOSTILE, body=HOSTILE)
    shown = cli(tmp_path, "show", str(ticket))
    assert shown.returncode == 0, shown.stderr
    assert raw_controls(shown.stdout) == set()
    assert json.loads(shown.stdout)["subject"] == HOSTILE


def test_export_prints_what_the_mail_and_the_model_wrote_visibly_and_whole(store, tmp_path):
    ticket = store.add_ticket(MailRef("eml:x", "1", "1", f"<{HOSTILE}@example.org>"), sender="a@example.org",
                              subject="s", body="b")
    store.record_triage(ticket, {"category": "cancel_booking", "booking_id": HOSTILE, "member_name": HOSTILE}, [])
    exported = cli(tmp_path, "export")
    assert exported.returncode == 0, exported.stderr
    assert raw_controls(exported.stdout) == set()
    [line] = exported.stdout.decode().splitlines()
    assert json.loads(line)["booking_id"] == HOSTILE and json.loads(line)["message_id"] == f"<{HOSTILE}@example.org>"


def test_a_refusal_that_names_the_senders_from_shows_it_visibly(store, tmp_path, club_backend):
    """The From is the mail author's: the approval's refusal quotes it to the operator's terminal."""
    ticket = add(store, 1, sender="\x1b[2J\x1b]52;c;cm0gLXJmIH4=\x07Club \u202enimda <a@x.example>, b@y.example",
                 triage=TriageResult(category="other", response="Thank you, we will look into it."))
    refused = cli(tmp_path, "approve", str(ticket), club=club_backend)
    assert refused.returncode == 1
    assert b"holds no single address" in refused.stderr
    assert raw_controls(refused.stderr) == set() and "⟨U+202E⟩" in refused.stderr.decode()
    assert club_backend.effects()["cancel"] == 0


@pytest.mark.parametrize("number", ["99999999999999999999", "-99999999999999999999", "0x10", "seven", ""])
def test_a_ticket_number_out_of_range_or_not_a_number_is_refused_in_a_line(store, tmp_path, number):
    add(store, 1)
    for command in (["show", number], ["reject", number, "--reason", "spam"]):
        refused = cli(tmp_path, *command)
        assert refused.returncode == 2 and b"Traceback" not in refused.stderr, refused.stderr
        assert b"ticket" in refused.stderr.splitlines()[-1]
    assert store.tickets()[0].state == "received"


def decided(store) -> int:
    ticket = add(store, 1, sender="=HYPERLINK(\"https://evil.example\",\"x\")", subject="+SUM(1,2)",
                 body="@cmd|' /C calc'!A0", triage=TriageResult(category="cancel_booking", booking_id="BK-48213"))
    store.move(ticket, "rejected", "operator", reason="-spam")
    return ticket


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_corrections_to_a_path_that_is_no_file_is_refused_and_the_path_left_alone(store, tmp_path, kind):
    decided(store)
    out = tmp_path / "out.csv"
    out.mkdir() if kind == "directory" else os.mkfifo(out)
    refused = cli(tmp_path, "corrections", "--out", str(out))
    assert refused.returncode == 1 and b"Traceback" not in refused.stderr, refused.stderr
    assert f"{out} is not a file".encode() in refused.stderr
    assert out.is_dir() if kind == "directory" else out.is_fifo()
    assert [path.name for path in tmp_path.iterdir() if path.name.endswith(".partial")] == []


def test_corrections_through_a_link_writes_the_file_it_names_and_keeps_the_link(store, tmp_path):
    decided(store)
    target, link = tmp_path / "exports" / "2026-12.csv", tmp_path / "latest.csv"
    target.parent.mkdir()
    target.write_text("old")
    link.symlink_to(target)
    written = cli(tmp_path, "corrections", "--out", str(link))
    assert written.returncode == 0, written.stderr
    assert link.is_symlink() and target.read_text().startswith("sender,subject,body")


def test_corrections_under_a_file_says_so_in_a_line(store, tmp_path):
    decided(store)
    (tmp_path / "afile").write_text("")
    refused = cli(tmp_path, "corrections", "--out", str(tmp_path / "afile" / "out.csv"))
    assert refused.returncode == 1 and b"Traceback" not in refused.stderr, refused.stderr
    assert refused.stderr.decode().startswith(f"corrections failed: cannot write {tmp_path / 'afile' / 'out.csv'}")


def test_guard_every_cell_of_the_corrections_csv_is_kept_from_being_a_formula(store, tmp_path):
    """Guard (held before): sender, subject, body and the reason all start a formula in the mail."""
    import csv

    decided(store)
    written = cli(tmp_path, "corrections", "--out", str(tmp_path / "c.csv"))
    assert written.returncode == 0, written.stderr
    [row] = list(csv.DictReader((tmp_path / "c.csv").open(newline="")))
    starts = {column: value[:1] for column, value in row.items() if value}
    assert not {column for column, start in starts.items() if start in "=+-@\t\r"}, row
    assert row["subject"] == "'+SUM(1,2)" and row["body"].startswith("'@")


@pytest.mark.parametrize("value", ["BK-48213\nBK-1", "BK-48213\u200b", "BK-\u202e31284", "BK-48213\x1b[2J"])
def test_guard_a_field_value_the_operator_cannot_see_whole_is_refused(store, tmp_path, club_backend, value):
    """Guard (held before): --field values go through the approval's own check (support/actions.py)."""
    ticket = add(store, 1, triage=TriageResult(category="cancel_booking", booking_id="BK-48213"))
    refused = cli(tmp_path, "approve", str(ticket), "--field", f"booking_id={value}", club=club_backend)
    assert refused.returncode == 1 and b"holds a line break or a character" in refused.stderr
    assert raw_controls(refused.stderr) == set()
    assert club_backend.effects()["cancel"] == 0


def test_guard_two_operators_approving_one_ticket_at_once_cancel_and_reply_once(store, tmp_path, club_backend,
                                                                               smtp_server):
    """Guard (held before): two CLI processes started together; the claim lets one of them run."""
    ticket = add(store, 1, triage=TriageResult(category="cancel_booking", booking_id="BK-48213"))
    env = {name: value for name, value in os.environ.items() if not name.startswith("ACEDESK_")}
    env |= {"ACEDESK_DATA_DIR": str(tmp_path), "ACEDESK_CLUB_API_URL": club_backend.url,
            "ACEDESK_CLUB_API_TOKEN": club_backend.token, "ACEDESK_SMTP_HOST": smtp_server.host,
            "ACEDESK_SMTP_PORT": str(smtp_server.port), "ACEDESK_SMTP_SECURITY": "plain",
            "ACEDESK_SMTP_FROM": "Club support <support@club.example>"}
    operators = [subprocess.Popen([sys.executable, "-m", "support.tickets", "approve", str(ticket),
                                   "--actor", f"operator{n}"], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for n in range(2)]
    outcomes = [(operator.wait(timeout=60), operator.stdout.read() + operator.stderr.read()) for operator in operators]
    assert sorted(code for code, _ in outcomes) == [0, 1], outcomes
    assert all(b"Traceback" not in said for _, said in outcomes), outcomes
    assert club_backend.effects()["cancel"] == 1 and len(smtp_server.messages) == 1
    assert store.ticket(ticket).state == "replied"


def test_export_streams_the_store_rather_than_holding_every_mail(store, tmp_path):
    # 100,000 tickets of 8 KB took 1.25 GB: every row, body included, was read into one list first.
    # 1,500 bodies of 200 KB (300 MB) must pass through without the process growing by them.
    for uid in range(1500):
        add(store, uid, body=f"{uid} " + "x" * 200_000)
    measured = ("import sys, tracemalloc\n"
                "from support.tickets import main\n"
                "tracemalloc.start()\n"
                "code = main(['export'])\n"
                "print(tracemalloc.get_traced_memory()[1], file=sys.stderr)\n"
                "sys.exit(code)\n")
    env = {name: value for name, value in os.environ.items() if not name.startswith("ACEDESK_")}
    result = subprocess.run([sys.executable, "-c", measured], cwd=REPO_ROOT, env={**env, "ACEDESK_DATA_DIR": str(tmp_path)},
                            capture_output=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1500
    peak_mb = int(result.stderr.decode().split()[-1]) / 1e6
    assert peak_mb < 30, f"the export held {peak_mb:.0f} MB at once"
