"""The real things the tests and the benchmarks start: a private Dovecot, an aiosmtpd server,
the stand-in club backend and the Streamlit app as processes, Chromium, and the tiny model.

No pytest here: tests/fixtures/ wraps these in fixtures, benchmarks/ uses them directly, and
the stand-in backend is only ever started as a process (never imported).
"""

from __future__ import annotations

import socket
import subprocess
import time

import requests


def answers(url: str, process: subprocess.Popen, seconds: float) -> bool:
    """Wait until ``url`` answers 2xx; False when ``process`` ended first or time ran out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(url, timeout=1).ok:
                return True
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
