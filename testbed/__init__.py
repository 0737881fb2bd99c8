"""The real things the tests and the benchmarks start: a private Dovecot, an aiosmtpd server,
the stand-in club backend and the Streamlit app as processes, Chromium, and the tiny model.

No pytest here: tests/fixtures/ wraps these in fixtures, benchmarks/ uses them directly, and
the stand-in backend is only ever started as a process (never imported).
"""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
