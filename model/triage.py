"""Triage one saved email from the command line.

    python -m model.triage path/to/mail.eml [--adapter PATH] [--base-model ID]

Prints the TriageResult as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from integrations.mail_parsing import MailParseError, parse_eml
from model.inference import DEFAULT_ADAPTER, load_triager


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("eml", type=Path, help="an RFC 5322 message file (.eml)")
    parser.add_argument("--adapter", default=str(DEFAULT_ADAPTER), help="LoRA adapter folder; '' for none")
    parser.add_argument("--base-model", default=None, help="base model id or path (default: the adapter's)")
    args = parser.parse_args(argv)
    try:
        parsed = parse_eml(args.eml.read_bytes())
    except (OSError, MailParseError) as error:
        print(f"error: {args.eml}: {error}", file=sys.stderr)
        return 2
    triager = load_triager(args.base_model, args.adapter or None)
    print(json.dumps(triager.triage(parsed.email).to_dict(), ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
