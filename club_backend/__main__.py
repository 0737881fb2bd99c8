"""``python -m club_backend --db PATH [--host H] [--port P] [--test-mode] [--reseed]``

The bearer token comes only from ``$ACEDESK_CLUB_API_TOKEN``: a command-line flag would
show it in ``ps`` and shell history. It is never logged.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import datetime

import uvicorn

from club_backend import TOKEN_ENV
from club_backend.app import create_app
from club_backend.db import Database
from club_backend.seed import seed

log = logging.getLogger("club_backend")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m club_backend", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--db", required=True, help="SQLite file; created and seeded when new")
    parser.add_argument("--test-mode", action="store_true", help="add the /_test/ routes (faults, effects, reset)")
    parser.add_argument("--reseed", action="store_true", help="replace the data with the demo club first")
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        print(f"club_backend: refusing to start without a token: set {TOKEN_ENV}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s:     %(message)s")
    if args.reseed:
        database = Database(args.db)
        database.initialise()
        seed(database, datetime.now())
    app = create_app(args.db, token, test_mode=args.test_mode)
    log.info("club backend on http://%s:%d, database %s%s", args.host, args.port, args.db,
             ", TEST MODE (/_test/ routes on)" if args.test_mode else "")
    # A short graceful shutdown: an injected timeout must not hold up stopping the server.
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, timeout_graceful_shutdown=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
