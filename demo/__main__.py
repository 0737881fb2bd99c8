"""``python -m demo``: everything the demo needs, on embedded defaults (what ``make demo`` runs).

1. the stand-in club backend on http://127.0.0.1:8700 (``data/club.sqlite3``, seeded once);
2. the demo mailbox: ``demo/mail`` copied to ``data/demo-inbox``, dated as if just arrived;
3. the worker, polling that folder every 30 s: fetch, triage, check against the backend;
4. the Streamlit app on http://127.0.0.1:8501 (this machine only; ``ACEDESK_APP_ADDRESS`` opens it
   to a network), without Streamlit's file watcher.

The backend's token is made up per run unless ``ACEDESK_CLUB_API_TOKEN`` is set, and handed to
the children through their environment only. Replies go to ``data/outbox`` unless
``ACEDESK_SMTP_*`` is set. Ctrl-C stops everything.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time

import requests

from core.settings import load_settings
from demo.prepare_mailbox import prepare_mailbox

BACKEND_PORT = 8700


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)  # `kill` stops the children too, as Ctrl-C does
    settings = load_settings()
    data = settings.data_dir
    env = {**os.environ, "ACEDESK_DATA_DIR": str(data),
           "ACEDESK_CLUB_API_URL": settings.club_api_url or f"http://127.0.0.1:{BACKEND_PORT}",
           "ACEDESK_CLUB_API_TOKEN": settings.secret("club_api_token") or secrets.token_urlsafe(24)}
    inbox = data / "demo-inbox"
    env["ACEDESK_EML_DIR"] = str(inbox)  # the inbox page's "Fetch new mail" reads the same folder
    print(f"demo mailbox: {len(prepare_mailbox(inbox))} new mails in {inbox}")
    python = sys.executable
    children = [subprocess.Popen([python, "-m", "club_backend", "--db", str(data / "club.sqlite3"),
                                  "--port", str(BACKEND_PORT), "--log-level", "warning"], env=env)]
    try:
        wait_for_backend(env["ACEDESK_CLUB_API_URL"])
        children.append(subprocess.Popen([python, "-m", "support.worker", "--eml-dir", str(inbox), "--every", "30"],
                                          env=env))
        port = os.environ.get("PORT", "8501")
        # Only this machine may open the app unless ACEDESK_APP_ADDRESS says otherwise; no file
        # watcher (it would watch .venv too, flood inotify and take CPU from the model).
        app = subprocess.Popen([python, "-m", "streamlit", "run", "dashboard.py", "--server.port", port,
                                "--server.address", settings.app_address, "--server.headless", "true",
                                "--server.fileWatcherType", "none", "--server.runOnSave", "false"], env=env)
        children.append(app)
        return app.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for child in reversed(children):
            child.terminate()
        for child in children:
            child.wait(timeout=10)


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
