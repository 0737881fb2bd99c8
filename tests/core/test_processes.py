"""core/processes.py: a process named host:pid runs only while that pid is still the process named."""

import os
import socket
import subprocess
import time

import psutil

from core.processes import ProcessState, process_name, process_state


def test_this_process_runs_under_its_name():
    assert process_name() == f"{socket.gethostname()}:{os.getpid()}"
    assert process_state(process_name(), time.time()) is ProcessState.RUNS


def test_a_pid_given_to_a_process_created_later_is_gone():
    created = psutil.Process().create_time()
    assert process_state(process_name(), created - 60) is ProcessState.GONE


def test_an_ended_process_and_a_zombie_are_gone():
    ended = subprocess.Popen(["true"])
    ended.wait()
    assert process_state(f"{socket.gethostname()}:{ended.pid}", time.time()) is ProcessState.GONE
    zombie = subprocess.Popen(["true"])
    while psutil.Process(zombie.pid).status() != psutil.STATUS_ZOMBIE:  # ended, not yet collected
        time.sleep(0.01)
    assert process_state(f"{socket.gethostname()}:{zombie.pid}", time.time()) is ProcessState.GONE
    zombie.wait()


def test_another_machines_process_cannot_be_seen():
    assert process_state("elsewhere.example:1", time.time()) is ProcessState.ELSEWHERE
    assert process_state("operator", time.time()) is ProcessState.ELSEWHERE
