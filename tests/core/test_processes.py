"""core/processes.py: a process named host:pid runs only while that pid is still the process named,
whatever the wall clock did since."""

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from core import processes
from core.processes import ProcessState, process_name, process_state
from tests.conftest import REPO_ROOT

AN_HOUR = 3600
NAMES_ITSELF = "from core.processes import process_name; print(process_name(), flush=True); import time; time.sleep(60)"


def identity_in_proc(pid: int) -> tuple[str, int]:
    """This boot's id and the start of ``pid`` in clock ticks since boot, as /proc says: the test's
    own reading, to check the names against."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip(), int(stat.rsplit(")", 1)[1].split()[19])


@contextmanager
def named_child() -> Iterator[tuple[subprocess.Popen, str, float]]:
    """A live child process, the name it gave itself, and a Unix time recorded just before it started
    (as a heartbeat's start or a lease records one, to the second)."""
    started_by = float(int(time.time()))
    child = subprocess.Popen([sys.executable, "-c", NAMES_ITSELF], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        yield child, child.stdout.readline().strip(), started_by
    finally:
        child.kill()
        child.wait()
        child.stdout.close()


def test_this_process_runs_under_its_name_which_carries_its_boot_and_start():
    boot_id, start_ticks = identity_in_proc(os.getpid())
    assert process_name() == f"{socket.gethostname()}:{os.getpid()}:{boot_id}:{start_ticks}"
    assert process_state(process_name(), time.time()) is ProcessState.RUNS


def test_a_live_process_still_runs_after_the_clock_is_stepped_forward():
    """psutil's creation time is boot time + ticks, and the boot time moves with the wall clock: after
    a step forward the process reads as created an hour after the time recorded before the step."""
    with named_child() as (_, name, started_by):
        assert process_state(name, started_by - AN_HOUR) is ProcessState.RUNS


def test_a_pid_recycled_since_is_gone_even_after_the_clock_is_stepped_back():
    """After a step back a younger process reads as created before the time recorded before the step:
    its other start ticks tell it from the process that held its pid."""
    with named_child() as (child, name, started_by):
        boot_id, start_ticks = identity_in_proc(child.pid)
        earlier_holder = f"{socket.gethostname()}:{child.pid}:{boot_id}:{start_ticks - 1}"
        assert process_state(earlier_holder, started_by + AN_HOUR) is ProcessState.GONE
        assert process_state(name, started_by + AN_HOUR) is ProcessState.RUNS


def test_a_process_named_before_a_reboot_is_gone_not_elsewhere():
    _, start_ticks = identity_in_proc(os.getpid())
    before_the_reboot = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4()}:{start_ticks}"
    assert process_state(before_the_reboot, time.time()) is ProcessState.GONE


def test_without_a_boot_id_to_read_the_time_rule_decides(monkeypatch, tmp_path):
    """Off Linux, or /proc not mounted: a name with an identity is judged as one without, never an error."""
    boot_id, start_ticks = identity_in_proc(os.getpid())
    named_before = f"{socket.gethostname()}:{os.getpid()}:{boot_id}:{start_ticks + 1}"  # other ticks: unseen now
    monkeypatch.setattr(processes, "BOOT_ID_FILE", tmp_path / "no-proc" / "boot_id")
    assert process_name() == f"{socket.gethostname()}:{os.getpid()}"
    assert process_state(named_before, time.time()) is ProcessState.RUNS
    assert process_state(named_before, psutil.Process().create_time() - 60) is ProcessState.GONE


def test_an_old_format_name_keeps_the_time_rule():
    """A guard, not a failing-before test: ``host:pid`` rows written by the previous version."""
    old_format = f"{socket.gethostname()}:{os.getpid()}"
    created = psutil.Process().create_time()
    assert process_state(old_format, time.time()) is ProcessState.RUNS
    assert process_state(old_format, created - 60) is ProcessState.GONE  # a pid given to a process created later


def test_an_ended_process_and_a_zombie_are_gone():
    ended = subprocess.Popen(["true"])
    ended.wait()
    assert process_state(f"{socket.gethostname()}:{ended.pid}", time.time()) is ProcessState.GONE
    zombie = subprocess.Popen(["true"])
    while psutil.Process(zombie.pid).status() != psutil.STATUS_ZOMBIE:  # ended, not yet collected
        time.sleep(0.01)
    assert process_state(f"{socket.gethostname()}:{zombie.pid}", time.time()) is ProcessState.GONE
    boot_id, start_ticks = identity_in_proc(zombie.pid)
    assert process_state(f"{socket.gethostname()}:{zombie.pid}:{boot_id}:{start_ticks}", time.time()) \
        is ProcessState.GONE
    zombie.wait()


def test_another_machines_process_cannot_be_seen():
    assert process_state("elsewhere.example:1", time.time()) is ProcessState.ELSEWHERE
    assert process_state("operator", time.time()) is ProcessState.ELSEWHERE


def test_a_process_name_is_shown_to_people_as_host_and_pid_and_any_other_actor_as_it_is():
    # The identity names the process for machines; the audit log shows "host:pid", as ps does.
    from core.processes import shown_name

    name = process_name()
    assert shown_name(name) == f"{socket.gethostname()}:{os.getpid()}" != name
    assert shown_name("anna@club.example") == "anna@club.example"
    assert shown_name("old-host:4242") == "old-host:4242"
