"""make demo keeps its worker alive: a worker that dies is started again, with growing pauses,
and the demo says so (demo/__main__.py supervise)."""

import os
import sys

from demo.__main__ import Service, supervise


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
