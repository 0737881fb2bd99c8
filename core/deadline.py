"""A wall-clock bound on a conversation with a server whose client library bounds only each read.

imaplib, smtplib and requests take a timeout for one wait on the socket, so a server that sends a
byte just inside it, again and again, holds the caller for as long as it likes (a mail at a byte a
second: weeks). The one remedy for a thread blocked in a read is to shut its socket down: the read
then fails as on a dropped connection, and the caller, seeing :attr:`SocketDeadline.passed`, says
it was the deadline.

    with SocketDeadline(seconds, lambda: client.sock) as deadline:
        answer = client.request(...)          # raises, or returns cut short, once it has passed
    if deadline.passed:
        raise TimeoutError(...)
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Self

RECHECK_S = 0.05
"""How often a passed deadline shuts down the socket again: the connection may not be open yet
when it passes, or may open another one (a retry) afterwards."""


class SocketDeadline:
    """Shuts down whatever socket ``current_socket()`` returns once ``seconds`` have passed, and
    keeps doing so until stopped (left as a context manager, or :meth:`stop`)."""

    def __init__(self, seconds: float, current_socket: Callable[[], socket.socket | None]):
        self.seconds = seconds
        self.passed = False
        self._current_socket = current_socket
        self._stopped = threading.Event()

    def start(self) -> Self:
        threading.Thread(target=self._cut_when_passed, name="socket-deadline", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _cut_when_passed(self) -> None:
        if self._stopped.wait(self.seconds):
            return
        self.passed = True
        while not self._stopped.is_set():
            shut_down(self._current_socket())
            self._stopped.wait(RECHECK_S)


def shut_down(sock: socket.socket | None) -> None:
    """End both directions of ``sock`` so that a thread blocked reading it wakes with an error."""
    if sock is None:
        return
    try:  # the plain socket's shutdown, also under TLS: SSLSocket.shutdown would unwrap it under the reader
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except (OSError, TypeError):  # closed meanwhile, not connected yet, or a TLS-in-TLS wrapper
        pass
