"""Inspect the ticket store.

    python -m support.tickets export     # every ticket as one JSON line
"""

from __future__ import annotations

import argparse
import json
import sys

from model.schema import FIELDS
from support.store import TicketStore


def export_line(ticket: dict) -> str:
    triage = ticket["triage"] or {}
    return json.dumps({
        "id": ticket["id"],
        "message_id": ticket["message_id"],
        "state": ticket["state"],
        "flags": ticket["flags"],
        "category": triage.get("category"),
        "confidence": triage.get("confidence"),
        **{name: triage.get(name) for name in FIELDS},
        "machine_mail": ticket["machine_mail"],
        "quarantine_reason": ticket["quarantine_reason"],
    }, ensure_ascii=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["export"])
    parser.parse_args(argv)
    for ticket in TicketStore().tickets():
        sys.stdout.write(export_line(ticket) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
