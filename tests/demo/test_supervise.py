"""make demo keeps its worker alive: a worker that dies is started again, with growing pauses,
and the demo says so (demo/__main__.py supervise)."""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import psutil

from demo.__main__ import BACKEND_PORT, Service, stop_all, supervise, taken_ports, wait_for_backend
from tests.conftest import REPO_ROOT
from tests.support.test_worker import cli_env


def test_a_dying_worker_is_restarted_with_backoff_until_the_app_ends(capsys):
    env = dict(os.environ)
    worker = Service("worker", [sys.executable, "-c", "import sys; sys.exit(3)"], env)
    app = Service("app", [sys.executable, "-c", "import time; time.sleep(4)"], env)
    for service in (worker, app):
        service.start()
    assert supervise([worker, app], poll_s=0.1) == 0
    printed = capsys.readouterr().out
    assert "the worker exited with code 3; starting it again in 1 s" in printed
    assert "the worker started again (restart 1)" in printed
    assert "starting it again in 2 s" in printed  # the pause grows
    assert worker.restarts >= 1


def test_a_child_that_ran_healthily_before_it_died_starts_its_restart_pauses_again_at_one_second(capsys):
    """Crashes hours apart are no crash loop: the fifth of a day waited the full minute before."""
    env = dict(os.environ)
    worker = Service("worker", [sys.executable, "-c", "import sys, time; time.sleep(0.6); sys.exit(3)"], env)
    app = Service("app", [sys.executable, "-c", "import time; time.sleep(6)"], env)
    for service in (worker, app):
        service.start()
    assert supervise([worker, app], poll_s=0.1, healthy_run_s=0.3) == 0
    printed = capsys.readouterr().out
    assert printed.count("the worker exited with code 3; starting it again in 1 s") >= 2, printed
    assert "starting it again in 2 s" not in printed


# os.write: one write of the whole line (print may write the text and its newline apart, unbuffered,
# and three children share the pipe: "child upchild up", then "\n", was read once)
STUBBORN = ("import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); signal.signal(signal.SIGINT, "
            "signal.SIG_IGN); os.write(1, b'child up\\n'); time.sleep(600)")
"""A child that a polite stop does not end (a server stuck in its shutdown, a worker deep in a model call)."""


def test_children_that_ignore_sigterm_are_stopped_together_with_one_deadline(capsys):
    services = [Service(name, [sys.executable, "-c", STUBBORN], dict(os.environ))
                for name in ("club backend", "worker", "app")]
    for service in services:
        service.start()
    time.sleep(1)  # each has set its signals aside
    began = time.monotonic()
    stop_all(services, grace_s=1)
    took = time.monotonic() - began
    assert [service.process.returncode for service in services] == [-signal.SIGKILL] * 3
    assert took < 2.5, f"{took:.1f} s: one grace each, not one for all"  # one each: 3 s and more


def test_a_second_signal_during_the_shutdown_kills_every_child_and_the_demo_exits():
    """A first Ctrl-C (or `kill`) asks the children to end; a second one used to abort the shutdown half
    way, the demo gone and its backend and worker left running with nobody to stop them."""
    driver = textwrap.dedent(f"""
        import os, sys
        from demo.__main__ import Service, run
        stubborn = [sys.executable, "-c", {STUBBORN!r}]
        sys.exit(run([Service(name, stubborn, dict(os.environ)) for name in ("club backend", "worker", "app")],
                     "all started"))
    """)
    demo = subprocess.Popen([sys.executable, "-c", driver], cwd=REPO_ROOT, env=cli_env(), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = [demo.stdout.readline() for _ in range(4)]
        assert sorted(lines) == ["all started\n"] + ["child up\n"] * 3, lines
        children = psutil.Process(demo.pid).children()
        assert len(children) == 3
        demo.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert demo.poll() is None  # waiting for its children, which ignore the request
        demo.send_signal(signal.SIGINT)
        output = demo.communicate(timeout=5)[0]
        _, alive = psutil.wait_procs(children, timeout=2)
        assert alive == [] and demo.returncode == 0, output
        assert "Traceback" not in output
    finally:
        try:
            os.killpg(demo.pid, signal.SIGKILL)  # whatever of the driver's group is left
        except ProcessLookupError:
            pass
        demo.wait()


def test_a_demo_whose_backend_port_is_taken_refuses_to_start_and_says_which(tmp_path):
    """A backend left behind on 8700 (a demo killed with SIGKILL, a second make demo) answered the
    new demo's health check, then refused its every call with 401 (another token), while the demo's
    own backend, unable to bind, was restarted forever."""
    env = cli_env(ACEDESK_DATA_DIR=str(tmp_path / "data"), ACEDESK_MODEL_URL="http://127.0.0.1:9", PORT=str(free_port()))
    left_behind = subprocess.Popen([sys.executable, "-m", "club_backend", "--db", str(tmp_path / "old.sqlite3"),
                                    "--port", str(BACKEND_PORT), "--log-level", "warning"], cwd=REPO_ROOT,
                                   env={**env, "ACEDESK_CLUB_API_TOKEN": "the-old-demo's-token"},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    demo = None
    try:
        wait_for_backend(f"http://127.0.0.1:{BACKEND_PORT}")  # it, or whatever holds the port, answers
        demo = subprocess.Popen([sys.executable, "-m", "demo"], cwd=REPO_ROOT, env=env, start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        output = demo.communicate(timeout=30)[0]
    finally:
        if demo is not None and demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)  # the old demo and the children it started
        left_behind.terminate()
        left_behind.wait(timeout=30)
    assert demo.returncode == 1 and f"port {BACKEND_PORT} (club backend) already in use" in output, output
    assert not (tmp_path / "data" / "demo-inbox").exists()  # nothing started, no mail touched


def test_a_taken_app_port_is_named_and_a_free_one_is_not(tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken, free = listener.getsockname()[1], free_port()
        assert taken_ports([("app", "127.0.0.1", taken), ("club backend", "127.0.0.1", free)]) == f"port {taken} (app)"
    assert taken_ports([("app", "127.0.0.1", taken)]) == ""  # closed: free again


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
