"""A process as AceDesk names it to other processes (``host:pid``: a worker's heartbeat, a ticket's
lease), and whether the process so named still runs.

A pid alone does not name a process for long: once it ends, the system gives its pid to the next
one. So a name is read together with a time by which the process had started (a heartbeat's start,
a lease's); a process of that pid created later is another program.
"""

from __future__ import annotations

import os
import socket
from enum import Enum

import psutil


class ProcessState(Enum):
    RUNS = "runs"
    GONE = "gone"
    ELSEWHERE = "elsewhere"
    """On another machine: whether it runs cannot be seen from here."""


def process_name() -> str:
    """This process's name for others: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_state(name: str, started_by: float) -> ProcessState:
    """Whether the process named ``name`` (``host:pid``), which had started by ``started_by`` (a Unix
    time), still runs. One exited but not yet collected by its parent (a zombie) is gone."""
    host, _, pid = name.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return ProcessState.ELSEWHERE
    return ProcessState.RUNS if pid_runs(int(pid), started_by) else ProcessState.GONE


def pid_runs(pid: int, started_by: float) -> bool:
    """Whether process ``pid`` of this machine, which had started by ``started_by`` (a Unix time),
    still runs: not a younger process given its pid since, nor a zombie."""
    try:
        process = psutil.Process(pid)
        created, zombie = process.create_time(), process.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:  # no such process, or one the system will not describe
        return False
    # the times are stored to the second, cut down: a process may have been created in that second
    return not zombie and created < started_by + 1
