"""The inbox's worker cell (ui/inbox_connections.py): a worker that runs while its mailbox cannot
be used is not shown as "ok" (no mail arrives), and is again once a round fetched."""

from integrations.connections import DOWN, OK
from support.health import Round, record_round, worker_started
from support.store import TicketStore
from ui.inbox_connections import worker_connection


def test_the_worker_cell_warns_while_the_mailbox_is_down_and_is_ok_after_a_good_round(tmp_path):
    store = TicketStore(tmp_path / "t.sqlite3")
    worker_started(store, "host:1", every_s=60)
    refused = "IMAP desk@imap.example.org:993 (tls): cannot connect: ConnectionRefusedError"
    for _ in range(3):
        record_round(store, "host:1", Round(errors=1, last_error=refused, mailbox_error=refused))
    cell = worker_connection(store)
    assert cell.state == DOWN and "but cannot reach the mailbox since" in cell.text and cell.text.endswith(refused)

    record_round(store, "host:1", Round(fetched=2))
    cell = worker_connection(store)
    assert cell.state == OK and cell.text.endswith("latest round 2 fetched, 0 triaged, 0 errors"), cell
