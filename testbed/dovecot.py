"""A private Dovecot 2.3 IMAP server for the tests and the ingestion benchmark.

One instance per test session (stopping Dovecot takes seconds): its own base/state/log
folders under a temp folder, one passwd-file per user so tests add users at runtime (Dovecot
reads a new file on the first login), a plain IMAP listener (STARTTLS offered, not required)
and an implicit-TLS listener with a self-signed certificate when openssl is available.
Mail belongs to uid/gid 5000: Dovecot refuses to run mail processes as root.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Self

from imap_tools import MailBoxUnencrypted

from integrations.imap_mailbox import ImapSettings
from testbed import free_port

DOVECOT = "/usr/sbin/dovecot"
DOVEADM = "/usr/bin/doveadm"
MAIL_UID = 5000

CONFIG = """\
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
info_log_path = {base}/dovecot.log
protocols = imap
listen = 127.0.0.1
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
first_valid_uid = {uid}
last_valid_uid = {uid}
mail_location = maildir:~/Maildir
mail_fsync = never
passdb {{
  driver = passwd-file
  args = {base}/passwd.d/%u
}}
userdb {{
  driver = passwd-file
  args = {base}/passwd.d/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
{ssl}
"""

SSL_ON = "ssl = yes\nssl_cert = <{base}/cert.pem\nssl_key = <{base}/key.pem\n"


class DovecotServer:
    """A running private Dovecot: ``start()``, add users, drop mail in, ``stop()``."""

    def __init__(self, base: Path | None = None):
        self.base = Path(base or tempfile.mkdtemp(prefix="acedesk-dovecot-"))
        self.imap_port = free_port()
        self.imaps_port = free_port()
        self.config = self.base / "dovecot.conf"
        self.cert: Path | None = None
        self.passwords: dict[str, str] = {}
        self._process: subprocess.Popen | None = None
        self._user_numbers = itertools.count(1)

    @property
    def tls(self) -> bool:
        return self.cert is not None

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> Self:
        # Mail processes run as uid 5000 and must reach the users' homes below this folder.
        self.base.chmod(0o755)
        (self.base / "home").mkdir(mode=0o755, exist_ok=True)
        (self.base / "passwd.d").mkdir(mode=0o755, exist_ok=True)
        self.cert = self._make_certificate()
        ssl_block = SSL_ON.format(base=self.base) if self.cert else "ssl = no\n"
        self.config.write_text(CONFIG.format(base=self.base, uid=MAIL_UID, imap_port=self.imap_port,
                                             imaps_port=self.imaps_port, ssl=ssl_block))
        with (self.base / "stderr.log").open("wb") as stderr:  # a file: a full pipe would block Dovecot
            self._process = subprocess.Popen([DOVECOT, "-F", "-c", str(self.config)],
                                             stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            self._wait_listening()
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _make_certificate(self) -> Path | None:
        if shutil.which("openssl") is None:
            return None  # no TLS listener then: the TLS tests skip
        cert, key = self.base / "cert.pem", self.base / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
        return cert

    def _wait_listening(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.imap_port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"dovecot not listening on {self.imap_port} after {timeout} s: {self.log()}")

    def log(self) -> str:
        """Dovecot's log and anything it printed before the log was open."""
        paths = [self.base / "stderr.log", self.base / "dovecot.log"]
        return "".join(path.read_text(errors="replace") for path in paths if path.exists())

    # -- users and mail -----------------------------------------------------------------
    def add_user(self, name: str | None = None, password: str = "secret") -> str:
        """A new user with an empty mailbox; returns the name (a fresh one when none given)."""
        name = name or f"user{next(self._user_numbers)}"
        home = self.home(name)
        home.mkdir(mode=0o700)
        os.chown(home, MAIL_UID, MAIL_UID)
        # One passwd-file per user: Dovecot re-reads a changed file at most once a second, but a
        # file it has never seen is read on the first login, so a new user can log in at once.
        (self.base / "passwd.d" / name).write_text(f"{name}:{{PLAIN}}{password}:{MAIL_UID}:{MAIL_UID}::{home}::\n")
        self.passwords[name] = password
        return name

    def home(self, user: str) -> Path:
        return self.base / "home" / user

    def settings(self, user: str, **overrides) -> ImapSettings:
        """Settings for the plain listener (override security/port for STARTTLS or TLS)."""
        values = {"host": "127.0.0.1", "port": self.imap_port, "security": "plain", "user": user,
                  "password": self.passwords[user], **overrides}
        return ImapSettings(**values)

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts this server's self-signed certificate."""
        return ssl.create_default_context(cafile=str(self.cert))

    def append(self, user: str, raw: bytes, folder: str = "INBOX") -> None:
        self.append_many(user, [raw], folder)

    def append_many(self, user: str, raws: Iterable[bytes], folder: str = "INBOX") -> None:
        """APPEND each message over one IMAP connection, as a mail client would."""
        with MailBoxUnencrypted("127.0.0.1", self.imap_port).login(user, self.passwords[user], None) as box:
            if folder != "INBOX" and not box.folder.exists(folder):
                box.folder.create(folder)
            for raw in raws:
                box.append(raw, folder)

    def drop_into_maildir(self, user: str, raw: bytes, name: str) -> Path:
        """Deliver a file straight into the INBOX's Maildir/new, as a local delivery agent does.

        For messages Dovecot refuses on APPEND; it picks the file up on the next sync.
        """
        maildir = self.home(user) / "Maildir"
        for sub in ("", "new", "cur", "tmp"):
            (maildir / sub).mkdir(exist_ok=True)
            os.chown(maildir / sub, MAIL_UID, MAIL_UID)
        path = maildir / "new" / f"{time.time_ns()}.{name}.acedesk-test"
        path.write_bytes(raw)
        os.chown(path, MAIL_UID, MAIL_UID)
        return path

    def kick(self, user: str) -> bool:
        """Drop every IMAP connection of a user, as a server restart or network loss would.

        False when the user had none (doveadm then exits 68)."""
        done = subprocess.run([DOVEADM, "-c", str(self.config), "kick", user],
                              check=False, capture_output=True, text=True)
        if done.returncode not in (0, 68):
            raise RuntimeError(f"doveadm kick {user} failed: {done.stderr}")
        return done.returncode == 0


def dovecot_available() -> bool:
    return Path(DOVECOT).exists() and Path(DOVEADM).exists() and os.geteuid() == 0
