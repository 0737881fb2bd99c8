"""A model server's answers are hostile input (model/served.py): a misconfigured, proxied or
compromised server is held to the in-process decoder's contract, and a bad answer stays the
problem of the one mail it was for. Real HTTP servers in this process (tests/model/test_served.py's
stub, or a handler of their own where the stub cannot misbehave that way)."""

from __future__ import annotations

import json
import math
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from model.metadata import DEFAULT_ADAPTER
from model.review import model_review_reasons, read_review_rule
from model.served import (
    MAX_NEW_TOKENS,
    ModelServerError,
    ModelServerTimeout,
    ModelServerUnavailable,
    ServedTriager,
    base_tokenizer_file,
    prompt_tokenizer,
)
from tests.model.test_served import EMAIL, KEY, QUOTED, SERVED, _answer, _event, _running, _Stub, _trickle

GOOD = 'cancel_booking","booking_id":"BK-48213","response":"Done."}'


def _triage(replies: list, email=EMAIL, url_suffix: str = "", key: str | None = KEY, **options):
    stub = _Stub(replies)
    with stub.serving() as url:
        served = ServedTriager(url + url_suffix, key, backoff_s=0.01, **options)
        served.check_weight = 0.0  # the server's category alone
        return served.triage(email)


def _review(result) -> list[str]:
    return model_review_reasons(result, read_review_rule(DEFAULT_ADAPTER).thresholds)


# -- the category step ------------------------------------------------------------------------
def test_a_log_probability_too_large_for_a_float_is_the_servers_error_not_an_overflow():
    # JSON allows an integer of any length; float() of it raised OverflowError, named as no server's fault
    with pytest.raises(ModelServerError, match="not log-probabilities"):
        _triage([_event({"cancel": -10 ** 400, "other": -1.0})])


def test_choices_that_are_no_list_are_the_servers_error_not_a_key_error():
    with pytest.raises(ModelServerError, match="answered without choices"):
        _triage([_event({"cancel": -0.01}), (200, {"choices": {"first": {"text": GOOD}}})])


def test_guard_ten_thousand_alternatives_still_give_the_categorys_share_among_the_five():
    top = {f"piece{n}": -20.0 for n in range(10_000)} | {"cancel": math.log(0.6), "other": math.log(0.2)}
    result = _triage([_event(top), _answer(GOOD)])
    assert result.category == "cancel_booking" and result.confidence == pytest.approx(0.75, abs=1e-4)


def test_guard_no_category_among_the_alternatives_is_confidence_zero_and_review():
    result = _triage([_event({"cancel": -math.inf, "the": -0.01}), _answer(GOOD)])
    assert result.confidence == 0.0 and "low confidence (0%)" in _review(result)


# -- the answer step --------------------------------------------------------------------------
@pytest.mark.parametrize("reply", ["Done. " * 150_000, "x" * 500_000], ids=["repeated", "one-word"])
def test_an_answer_far_over_the_token_budget_is_refused(reply):
    # the server ignored max_tokens: before, a 900 KB reply came back valid, nothing to review, ready to send
    answer = f'cancel_booking","booking_id":"BK-48213","response":"{reply}"}}'
    with pytest.raises(ModelServerError, match=f"more than {MAX_NEW_TOKENS} tokens"):
        _triage([_event({"cancel": -0.01}), _answer(answer)])


def test_guard_an_answer_re_encoded_past_the_token_budget_is_still_taken():
    # re-encoding the text may split it otherwise than the server generated it: the bound has slack
    tokenizer = prompt_tokenizer(base_tokenizer_file(None))
    reply = "We have cancelled your booking. " * 40
    answer = f'cancel_booking","booking_id":"BK-48213","response":"{reply}"}}'
    assert MAX_NEW_TOKENS < len(tokenizer(answer, add_special_tokens=False).input_ids) <= 2 * MAX_NEW_TOKENS
    result = _triage([_event({"cancel": -0.01}), _answer(answer)])
    assert result.valid and result.response == reply.strip()


def test_an_answer_nested_too_deep_to_parse_is_the_servers_error_not_a_recursion_error():
    nested = 'cancel_booking","x":' + "[" * 100_000 + "]" * 100_000 + ',"response":"Done."}'
    with pytest.raises(ModelServerError):
        _triage([_event({"cancel": -0.01}), _answer(nested)])
    deep = 'cancel_booking","x":' + "[" * 5_000 + "]" * 5_000 + ',"response":"Done."}'  # within 1 MB and few tokens
    with pytest.raises(ModelServerError):
        _triage([_event({"cancel": -0.01}), _answer(deep)])


@pytest.mark.parametrize("answer, named", [
    ('cancel_booking","category":"add_user","booking_id":"BK-48213","response":"Done."}', "category"),
    ('cancel_booking","booking_id":"BK-99999","booking_id":"BK-48213","response":"Done."}', "booking_id"),
])
def test_a_field_written_twice_sends_the_answer_to_review(answer, named):
    # the grammar writes each field once; twice, a reader of the raw answer may take the other value
    # (the first category, add_user, where the result says cancel_booking)
    result = _triage([_event({"cancel": -0.01}), _answer(answer)])
    assert not result.valid and f"the model server wrote {named} twice" in result.problems
    assert "model answer was malformed" in _review(result)


def test_guard_an_html_page_with_http_200_is_the_servers_error():
    def html(handler):
        page = b"<html><body>502 Bad Gateway</body></html>"
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(page)))
        handler.end_headers()
        handler.wfile.write(page)

    with pytest.raises(ModelServerError, match="other than JSON"):
        _triage([_event({"cancel": -0.01}), (None, html)])


# -- the key is never shown -------------------------------------------------------------------
def _echo_key(text: str):
    return 200, {"choices": [{"text": text, "finish_reason": "stop"}]}


@pytest.mark.parametrize("replies", [
    [(400, {"error": f"bad request from key {KEY}"})],
    [_event({"cancel": -0.01}), _echo_key(f"{KEY} says hello")],
], ids=["error body", "answer text"])
def test_a_server_that_echoes_the_key_never_gets_it_into_the_message(replies):
    with pytest.raises(ModelServerError) as caught:
        _triage(replies)
    assert KEY not in str(caught.value) and "***" in str(caught.value)


def test_a_server_that_echoes_the_urls_query_or_lists_the_key_as_a_model_never_gets_them_into_the_message():
    with pytest.raises(ModelServerError) as caught:
        _triage([(400, {"error": "bad key: api-key=query-secret"})], key=None,
                url_suffix="?api-key=query-secret")
    assert "query-secret" not in str(caught.value)
    stub = _Stub([], models=(f"listed-{KEY}",))
    with stub.serving() as url, pytest.raises(ModelServerError, match=f"not {SERVED!r}") as caught:
        ServedTriager(url, KEY).triage(EMAIL)
    assert KEY not in str(caught.value)


def test_a_short_query_value_is_no_secret_and_leaves_the_message_readable():
    # "?v=1" made "1" a secret: the server's "max_tokens must be at most 1024" read "at most ***024"
    with pytest.raises(ModelServerError) as caught:
        _triage([(400, {"error": "max_tokens must be at most 1024"})], key=None, url_suffix="?v=1")
    assert "at most 1024" in str(caught.value), str(caught.value)


# -- time: a mail is bounded by its timeout and one probe -------------------------------------
def _late(reply: tuple, delay_s: float):
    """Answers ``reply`` (as the stub would) after ``delay_s``."""
    status, payload = reply
    stream = isinstance(payload, list)
    data = ("".join(f"data: {json.dumps(event)}\n\n" for event in payload) + "data: [DONE]\n\n" if stream
            else json.dumps(payload)).encode()

    def write(handler):
        time.sleep(delay_s)
        handler.send_response(status)
        handler.send_header("Content-Type", "text/event-stream" if stream else "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
    return write


def test_a_served_mail_takes_at_most_its_timeout_and_one_probe():
    # a quoted mail costs three requests; each just under the timeout made the mail take three
    # times it (and the check of /models a fourth), so a round stalled far past what timeout_s said
    prompt_tokenizer(base_tokenizer_file(None))  # read once, as at a desk's first mail: no server's time
    answer = 'add_user","username":"mia_s12","member_name":"Mia Stone","response":"Done."}'
    replies = [(None, _late(_event({"other": -0.05, "add": -4.0}), 0.7)), (None, _late(_event({"add": -0.01}), 0.7)),
               (None, _late(_answer(answer), 0.7))]
    started = time.monotonic()
    with pytest.raises(ModelServerTimeout, match="on this mail"):
        _triage(replies, email=QUOTED, timeout_s=1.5)
    assert time.monotonic() - started < 2 * 1.5


class _DrippingModels(BaseHTTPRequestHandler):
    """A completion that never finishes, then a ``/models`` whose headers come a line at a time."""

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        try:
            _trickle(self)
        except OSError:
            pass
        self.close_connection = True

    def do_GET(self):
        try:
            self.send_response(200)
            self.wfile.write(b"".join(self._headers_buffer))
            self._headers_buffer = []
            self.wfile.flush()
            for n in range(40):
                self.wfile.write(f"X-Drip-{n}: .\r\n".encode())
                self.wfile.flush()
                time.sleep(0.5)
        except OSError:
            pass
        self.close_connection = True

    def log_message(self, *args):
        pass


def test_the_probe_after_a_timeout_is_bounded_by_the_timeout_too():
    # the probe read /models with a timeout per read only: headers a line each half second held it 20 s
    with _running(ThreadingHTTPServer(("127.0.0.1", 0), _DrippingModels)) as url:
        served = ServedTriager(url, timeout_s=1, backoff_s=0.01)
        served._model_checked = time.monotonic()  # asked before: only the probe after the timeout asks
        prompt_tokenizer(base_tokenizer_file(None))
        started = time.monotonic()
        with pytest.raises(ModelServerUnavailable, match="did not answer within 1 s$"):
            served.triage(EMAIL)
    assert time.monotonic() - started < 2 * 1 + 1
