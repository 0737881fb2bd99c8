"""``python -m demo``: everything the demo needs, on embedded defaults (what ``make demo`` runs).

1. the stand-in club backend on http://127.0.0.1:8700 (``data/club.sqlite3``, seeded once);
2. the demo mailbox: ``demo/mail`` copied to ``data/demo-inbox``, dated as if just arrived;
3. the worker, polling that folder every 30 s: fetch, triage, check against the backend (a
   worker or backend that dies is started again, after a pause that grows to a minute);
4. the Streamlit app on http://127.0.0.1:8501 (this machine only; ``ACEDESK_APP_ADDRESS`` opens it
   to a network), without Streamlit's file watcher.

The backend's token is made up per run unless ``ACEDESK_CLUB_API_TOKEN`` is set, and handed to
the children through their environment only. Replies go to ``data/outbox`` unless
``ACEDESK_SMTP_*`` is set. Ctrl-C (or SIGTERM) stops everything: the children are asked to end, and
killed after 10 s; a second Ctrl-C kills them at once.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from core.settings import load_settings
from demo.prepare_mailbox import prepare_mailbox

BACKEND_PORT = 8700
MAX_RESTART_PAUSE_S = 60
HEALTHY_RUN_S = 300
"""A child that ran this long before it died crashed afresh: its restart pauses start again at 1 s."""
STOP_GRACE_S = 10
"""How long the children together get to end on SIGTERM before they are killed."""
DEMO_MX = "mx.club.example"


def main() -> int:
    settings = load_settings()
    port = os.environ.get("PORT", "8501")
    if taken := taken_ports([("club backend", "127.0.0.1", BACKEND_PORT), ("app", settings.app_address, int(port))]):
        # a leftover backend would answer the demo's calls with its own token (every call a 401) while
        # ours, unable to bind, is restarted forever; a second demo would also race the first one's worker
        print(f"demo: {taken} already in use: another demo, or a process one left behind, still runs there;"
              " stop it first (it is named by: ss -ltnp); PORT=... moves the app", file=sys.stderr)
        return 1
    data = settings.data_dir
    env = {**os.environ, "ACEDESK_DATA_DIR": str(data),
           "ACEDESK_CLUB_API_URL": settings.club_api_url or f"http://127.0.0.1:{BACKEND_PORT}",
           "ACEDESK_CLUB_API_TOKEN": settings.secret("club_api_token") or secrets.token_urlsafe(24),
           # the demo mails carry Authentication-Results from the demo's own MX, as a club's would
           "ACEDESK_TRUSTED_AUTHSERV_ID": settings.trusted_authserv_id or DEMO_MX}
    inbox = data / "demo-inbox"
    env["ACEDESK_EML_DIR"] = str(inbox)  # the inbox page's "Fetch new mail" reads the same folder
    print(f"demo mailbox: {len(prepare_mailbox(inbox))} new mails in {inbox}")
    python = sys.executable
    backend = [python, "-m", "club_backend", "--db", str(data / "club.sqlite3"), "--port", str(BACKEND_PORT),
               "--log-level", "warning"]
    worker = [python, "-m", "support.worker", "--eml-dir", str(inbox), "--every", "30"]
    # Only this machine may open the app unless ACEDESK_APP_ADDRESS says otherwise; no file
    # watcher (it would watch .venv too, flood inotify and take CPU from the model).
    app = [python, "-m", "streamlit", "run", "dashboard.py", "--server.port", port, "--server.address",
           settings.app_address, "--server.headless", "true", "--server.fileWatcherType", "none",
           "--server.runOnSave", "false"]
    services = [Service("club backend", backend, env, ready=lambda: wait_for_backend(env["ACEDESK_CLUB_API_URL"])),
                Service("worker", worker, env), Service("app", app, env)]
    return run(services, f"AceDesk: http://{settings.app_address}:{port}")


def run(services: list[Service], started_message: str = "") -> int:
    """Start ``services`` in order, each one ready before the next, and :func:`supervise` them until the
    last one (the app) ends, or Ctrl-C or SIGTERM; then :func:`stop_all`. The app's exit code, else 0."""
    signal.signal(signal.SIGTERM, _stop)  # `kill` stops the children too, as Ctrl-C does
    try:
        for service in services:
            service.start()
            if service.ready:
                service.ready()
        if started_message:
            print(started_message, flush=True)
        return supervise(services)
    except KeyboardInterrupt:
        return 0
    finally:
        stop_all(services)


@dataclass
class Service:
    """A child process the demo keeps running: restarted with growing pauses when it dies."""

    name: str
    command: list[str]
    env: dict
    process: subprocess.Popen | None = None
    restarts: int = 0
    due: float = 0.0
    """When a dead one is started again (monotonic seconds)."""
    started: float = 0.0
    """When it was last started (monotonic seconds)."""
    ready: Callable[[], None] | None = None
    """Waits, after the first start, until the next service may start (raises if this one never gets ready)."""

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, env=self.env)
        self.started = time.monotonic()


def stop_all(services: list[Service], grace_s: float = STOP_GRACE_S) -> None:
    """End every running child: SIGTERM to all at once, then SIGKILL to those still running after
    ``grace_s`` (one deadline for all, not one each), or at once on another Ctrl-C or SIGTERM, which
    would otherwise abort the shutdown half way and leave the rest running without a supervisor."""
    running = [service.process for service in services if service.process is not None and service.process.poll() is None]

    def kill_all(signum: int | None = None, frame: object = None) -> None:
        for process in running:
            process.kill()  # Popen skips one it has already collected: no other process of that pid is hit

    previous = {signum: signal.signal(signum, kill_all) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        if running:
            print("demo: stopping (Ctrl-C again to kill at once)", flush=True)
        for process in running:
            process.terminate()
        deadline = time.monotonic() + grace_s
        for process in running:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0))
            except subprocess.TimeoutExpired:
                break
        kill_all()
        for process in running:
            process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def supervise(services: list[Service], poll_s: float = 1.0, healthy_run_s: float = HEALTHY_RUN_S) -> int:
    """Run until the app ends; a worker or backend that dies is started again after 1, 2, 4 ...
    up to 60 s, and the demo says so. One that had run ``healthy_run_s`` before it died starts the
    series again at 1 s: crashes hours apart are no crash loop."""
    app = services[-1]
    while True:
        if app.process.poll() is not None:
            return app.process.returncode
        for service in services[:-1]:
            code = service.process.poll()
            if code is None:
                continue
            now = time.monotonic()
            if not service.due:
                if now - service.started >= healthy_run_s:
                    service.restarts = 0
                pause = min(2 ** service.restarts, MAX_RESTART_PAUSE_S)
                service.due = now + pause
                print(f"demo: the {service.name} exited with code {code}; starting it again in {pause:.0f} s",
                      flush=True)
            elif now >= service.due:
                service.restarts, service.due = service.restarts + 1, 0.0
                service.start()
                print(f"demo: the {service.name} started again (restart {service.restarts})", flush=True)
        time.sleep(poll_s)


def taken_ports(ports: list[tuple[str, str, int]]) -> str:
    """The ports of ``(what, address, port)`` that something already listens on, in words ('' if none)."""
    return ", ".join(f"port {port} ({what})" for what, address, port in ports if _listened_on(address, port))


def _listened_on(address: str, port: int) -> bool:
    family, kind, protocol, _, where = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, protocol) as probe:
        # as uvicorn and Streamlit bind: a port a stopped demo left in TIME_WAIT is free to them
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(where)
        except OSError:
            return True
    return False


def _stop(signum, frame):
    raise KeyboardInterrupt


def wait_for_backend(url: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/health", timeout=1).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the club backend did not answer on {url} within {seconds:.0f} s")


if __name__ == "__main__":
    raise SystemExit(main())
