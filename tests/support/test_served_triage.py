"""Triage rounds through a model server (model/served.py ``ServedTriager``, support/triage.py) that is
slow on one mail, slow on every mail, or away. The server is a stdlib stand-in that answers as
llama-cpp-python's does: one request at a time, ``/v1/models`` too waiting for the one it is on."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.mail import MailRef
from model.metadata import DEFAULT_ADAPTER
from model.served import ModelServerUnavailable, ServedTriager, served_model_name
from support.states import State
from support.store import PARK_AFTER_FAILURES, TicketStore
from support.triage import TRIAGE_RUNS, triage_received
from tests.model.test_served import free_port

SLOW = "SLOW-MAIL"
"""Written in the mail the stand-in is slow on."""
TIMEOUT_S = 1.0


class StandIn:
    """``/v1/models`` lists the shipped adapter's name; a completion answers "other" at once, but one
    whose prompt holds ``slow_word`` only after ``slow_s``. One request at a time, as llama-cpp-python
    answers (its model lock), so after a client's timeout the next request waits for the late one."""

    def __init__(self, slow_word: str = SLOW, slow_s: float = 1.5 * TIMEOUT_S):
        self.slow_word, self.slow_s = slow_word, slow_s
        self.slow_asked = 0
        self._lock, self._closing = threading.Lock(), threading.Event()

    def __enter__(self) -> str:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                with stand_in._lock:
                    self._send({"object": "list", "data": [{"id": served_model_name(DEFAULT_ADAPTER)}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with stand_in._lock:
                    if stand_in.slow_word in body["prompt"]:
                        stand_in.slow_asked += 1
                        stand_in._closing.wait(stand_in.slow_s)
                    if body.get("stream"):
                        event = {"choices": [{"text": "other", "logprobs": {"top_logprobs": [{"other": -0.01}]}}]}
                        self._send(f"data: {json.dumps(event)}\n\ndata: [DONE]\n\n", "text/event-stream")
                    else:
                        self._send({"choices": [{"text": 'other","response":"Thanks."}', "finish_reason": "stop"}]})

            def _send(self, payload, content_type: str = "application/json"):
                data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up on a late answer: what the tests are about
                    self.close_connection = True

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __exit__(self, *exc):
        self._closing.set()  # a late answer still waiting goes now
        self._server.shutdown()
        self._server.server_close()


def served(url: str) -> ServedTriager:
    triager = ServedTriager(url, timeout_s=TIMEOUT_S, backoff_s=0.01)
    triager.check_weight = 0.0  # the stand-in's category alone
    return triager


def store_with(tmp_path, subjects: list[str]) -> tuple[TicketStore, list[int]]:
    store = TicketStore(tmp_path / "t.sqlite3")
    ids = [store.add_ticket(MailRef("INBOX", "1", str(n), f"<m{n}@example.org>"), content_hash=str(n) * 64,
                            sender=f"m{n}@example.org", subject=subject, body="Hello, a question about the club.")
           for n, subject in enumerate(subjects, start=1)]
    return store, ids


def test_a_mail_the_server_is_slow_on_goes_to_review_and_the_others_are_triaged(tmp_path):
    # before, its timeout ended every round as "the server is away": no mail was triaged again, ever
    store, ids = store_with(tmp_path, ["Booking", f"{SLOW} please", "Booking", "Booking", "Booking"])
    slow = ids[1]
    counted, asked = [], []
    stand_in = StandIn()
    with stand_in as url:
        triager = served(url)
        for _ in range(PARK_AFTER_FAILURES + 1):
            stand_in.slow_asked = 0
            triage_received(store, triager)
            counted.append(store.failures(slow).get(TRIAGE_RUNS, 0))
            asked.append(stand_in.slow_asked)
            if len(counted) == 1:  # the others are done in the first round
                assert [store.state_of(ticket_id) for ticket_id in ids].count(State.TRIAGED) == 4
    assert counted == [1, 2, 3, 0]  # counted each round, then parked without being read
    assert asked == [2, 1, 1, 0]  # its batch's fallback asks it again once; alone, it is asked once
    assert store.state_counts() == {State.TRIAGED: 4, State.NEEDS_REVIEW: 1}
    parked = store.ticket(slow)
    assert parked.flags[0].startswith(f"the triage process stopped on this mail {PARK_AFTER_FAILURES} times")
    assert not parked.triage["valid"] and all(store.failures(ticket_id) == {} for ticket_id in ids)


def test_a_server_slow_on_every_mail_has_one_mail_a_round_counted_and_the_round_ended(tmp_path):
    # a busy CPU makes every mail late: parking each after three rounds would send the whole inbox
    # to review, so a second late mail among the others ends the round with its run taken back
    store, ids = store_with(tmp_path, [f"{SLOW} {n}" for n in range(4)])
    stand_in = StandIn()
    with stand_in as url, pytest.raises(ModelServerUnavailable, match="the server is slow, not the mails"):
        triage_received(store, served(url))
    assert stand_in.slow_asked == 3  # the batch, then its first two mails alone: no more once the round ends
    assert [store.failures(ticket_id) for ticket_id in ids] == [{TRIAGE_RUNS: 1}, {}, {}, {}]
    assert store.state_counts() == {State.RECEIVED: 4}


@pytest.mark.parametrize("server", ["busy past a second timeout", "away"])
def test_a_server_that_does_not_answer_after_the_timeout_counts_nothing(tmp_path, server):
    store, ids = store_with(tmp_path, [f"{SLOW} please", "Booking"])
    started = time.monotonic()
    with pytest.raises(ModelServerUnavailable):
        if server == "away":
            triage_received(store, served(f"http://127.0.0.1:{free_port()}/v1"))
        else:  # stuck as far as anyone can tell: the probe after the timeout waits in vain too
            with StandIn(slow_s=4 * TIMEOUT_S) as url:
                triage_received(store, served(url))
    assert time.monotonic() - started < 10
    assert [store.failures(ticket_id) for ticket_id in ids] == [{}, {}]
    assert store.state_counts() == {State.RECEIVED: 2}


def test_a_round_the_server_ends_keeps_the_deaths_a_mail_caused_before(tmp_path):
    # before, the round's end took back every run counted on the mail: two deaths of the worker
    # on it were forgotten, and it was read in a batch again
    store, [suspect] = store_with(tmp_path, ["Booking"])
    store.begin_runs([suspect], TRIAGE_RUNS)
    store.begin_runs([suspect], TRIAGE_RUNS)  # the worker died on it twice, unread
    with pytest.raises(ModelServerUnavailable):
        triage_received(store, served(f"http://127.0.0.1:{free_port()}/v1"))  # its third run starts, then ends
    assert store.failures(suspect) == {TRIAGE_RUNS: 2}
