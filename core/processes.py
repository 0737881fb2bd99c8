"""A process as AceDesk names it to other processes (``host:pid:<boot id>:<start ticks>``: a worker's
heartbeat, a ticket's lease, a job's recorder), and whether the process so named still runs.

A pid alone does not name a process for long: once it ends, the system gives its pid to the next
one. So the name carries the process's identity too: this boot's id and the clock ticks from boot
to the process's start. Neither moves when the wall clock is stepped (NTP, by hand), whereas
psutil's ``create_time()`` is boot time + ticks with the boot time read as *wall time minus
uptime*: after a step of X seconds every process reads as created X seconds later or earlier, so a
comparison with a recorded Unix time took a live worker for gone (and a lease from it), or a newer
process with a recycled pid for the old one.

A name without the identity (``host:pid``: written by an earlier version, or off Linux) is read
together with a Unix time by which the process had started: a process of that pid created later
is another program. psutil offers the start ticks only privately (``Process._proc``) and no boot
id, hence /proc read here.
"""

from __future__ import annotations

import os
import socket
from enum import Enum
from pathlib import Path
from typing import NamedTuple

import psutil

BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")


class ProcessState(Enum):
    RUNS = "runs"
    GONE = "gone"
    ELSEWHERE = "elsewhere"
    """On another machine: whether it runs cannot be seen from here."""


class ProcessName(NamedTuple):
    host: str
    pid: str
    """As written: not a number in a name that is no process's (an operator's address)."""
    identity: str | None
    """``<boot id>:<start ticks>`` (process_identity); None in a ``host:pid`` name."""

    @property
    def address(self) -> str:
        """``host:pid``: what a person needs to find the process (and what the UI shows)."""
        return f"{self.host}:{self.pid}"


def process_name() -> str:
    """This process's name for others: ``host:pid:<boot id>:<start ticks>``, or ``host:pid`` where
    the identity cannot be read (no /proc)."""
    identity = process_identity(os.getpid())
    return f"{socket.gethostname()}:{os.getpid()}" + (f":{identity}" if identity else "")


def parse_process_name(name: str) -> ProcessName:
    """The parts of a name process_name wrote, in either format."""
    host_and_pid, _, start_ticks = name.rpartition(":")
    host_and_pid, _, boot_id = host_and_pid.rpartition(":")
    host, _, pid = host_and_pid.rpartition(":")
    if host and pid.isdigit() and _is_boot_id(boot_id) and start_ticks.isdigit():
        return ProcessName(host, pid, f"{boot_id}:{start_ticks}")
    host, _, pid = name.rpartition(":")
    return ProcessName(host, pid, None)


def shown_name(name: str) -> str:
    """A name as a person reads it: ``host:pid`` for a process's (the identity is for machines), any
    other actor (an operator's address) as it is."""
    parsed = parse_process_name(name)
    return parsed.address if parsed.identity else name


def of_this_boot(name: str | None) -> bool:
    """Whether the process named ``name`` (process_name) is of this machine since its last boot, so
    that this boot's clocks measure its times; False for a name without identity."""
    if not name:
        return False
    parsed, boot_id = parse_process_name(name), _this_boot_id()
    return (parsed.identity is not None and boot_id is not None and parsed.host == socket.gethostname()
            and parsed.identity.partition(":")[0] == boot_id)


def process_identity(pid: int) -> str | None:
    """What names process ``pid`` of this machine whatever the wall clock does: ``<boot id>:<start
    ticks>``; None where /proc does not tell (not Linux, no such process)."""
    boot_id = _this_boot_id()
    try:
        _, start_ticks = _stat(pid)
    except OSError:
        return None
    return f"{boot_id}:{start_ticks}" if boot_id else None


def process_state(name: str, started_by: float) -> ProcessState:
    """Whether the process named ``name`` (process_name), which had started by ``started_by`` (a Unix
    time, needed only for a name without identity), still runs. One exited but not yet collected by
    its parent (a zombie) is gone."""
    parsed = parse_process_name(name)
    if parsed.host != socket.gethostname() or not parsed.pid.isdigit():
        return ProcessState.ELSEWHERE
    return ProcessState.RUNS if pid_runs(int(parsed.pid), started_by, parsed.identity) else ProcessState.GONE


def pid_runs(pid: int, started_by: float, identity: str | None = None) -> bool:
    """Whether process ``pid`` of this machine still runs and is the one meant, not a zombie: the one
    of ``identity`` (process_identity) where that is given and /proc can be read, else one created
    by ``started_by`` (a Unix time), not a younger process given its pid since."""
    if identity is not None:
        known = _runs_as(pid, identity)
        if known is not None:
            return known
    try:
        process = psutil.Process(pid)
        created, zombie = process.create_time(), process.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:  # no such process, or one the system will not describe
        return False
    # the times are stored to the second, cut down: a process may have been created in that second
    return not zombie and created < started_by + 1


def _runs_as(pid: int, identity: str) -> bool | None:
    """Whether ``pid`` is the live process of ``identity``; None where this machine cannot tell (no
    boot id or /proc to read: the caller falls back to the time rule)."""
    boot_id, _, start_ticks = identity.partition(":")
    this_boot = _this_boot_id()
    if this_boot is None:
        return None
    if boot_id != this_boot:  # named before a reboot: every process of then has ended
        return False
    try:
        state, ticks_now = _stat(pid)
    except (FileNotFoundError, ProcessLookupError):  # no such process (or it ended while read)
        return False
    except OSError:
        return None
    return state != "Z" and str(ticks_now) == start_ticks


def _this_boot_id() -> str | None:
    try:
        boot_id = BOOT_ID_FILE.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return boot_id if _is_boot_id(boot_id) else None


def _is_boot_id(text: str) -> bool:
    """A boot id as the kernel writes it (a UUID: hex digits and dashes), so never mistaken for the
    host part of a ``host:pid`` name."""
    return len(text) == 36 and all(character in "0123456789abcdef-" for character in text)


def _stat(pid: int) -> tuple[str, int]:
    """Process ``pid``'s state letter and start time in clock ticks since boot (fields 3 and 22 of
    /proc/<pid>/stat). OSError where it cannot be read (FileNotFoundError: no such process)."""
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    # the command name (field 2, in parentheses) may hold spaces and parentheses itself
    fields = stat[stat.rfind(b")") + 1:].split()
    try:
        return fields[0].decode("ascii"), int(fields[19])
    except (IndexError, ValueError, UnicodeDecodeError) as error:
        raise OSError(f"/proc/{pid}/stat: unreadable ({error})") from error
