"""core/deadline.py: a read blocked past its deadline wakes; one that ends in time is left alone."""

import socket
import time

from core.deadline import SocketDeadline


def test_a_read_blocked_past_the_deadline_wakes_and_the_deadline_says_it_passed():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        started = time.monotonic()
        with SocketDeadline(0.3, lambda: ours) as deadline:
            assert ours.recv(1) == b""  # a shut-down socket reads as closed, never as data
        assert deadline.passed
        assert 0.3 <= time.monotonic() - started < 2


def test_a_conversation_ended_in_time_is_not_cut():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        with SocketDeadline(0.3, lambda: ours) as deadline:
            theirs.sendall(b"x")
            assert ours.recv(1) == b"x"
        time.sleep(0.5)
        assert not deadline.passed
        theirs.sendall(b"y")
        assert ours.recv(1) == b"y"


def test_a_socket_opened_after_the_deadline_passed_is_cut_too():
    """A retry connects anew: the deadline is the call's, not its first connection's."""
    current: list[socket.socket] = []
    with SocketDeadline(0.1, lambda: current[0] if current else None) as deadline:
        time.sleep(0.3)
        ours, theirs = socket.socketpair()
        with ours, theirs:
            current.append(ours)
            started = time.monotonic()
            assert ours.recv(1) == b""
            assert time.monotonic() - started < 1
    assert deadline.passed
