"""The teacher client against a teacher that drips, floods, redirects or answers nonsense: a real
loopback HTTP server answers what each test scripts."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.scripted_http import Scripted
from tests.training.test_distill import KEY, ROW
from training import distill
from training.distill import MAX_ANSWER_BYTES, MAX_RETRY_AFTER_S, Teacher, TeacherConfig, TeacherError
from training.generate_data import split_of

MESSAGES = [{"role": "user", "content": "x"}]


def chat(content: object) -> bytes:
    return json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()


def answer(handler, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def make_teacher(url: str, cache_dir: Path, **overrides) -> Teacher:
    options = {"min_interval_s": 0.0, "backoff_s": 0.01, "max_retries": 0, "timeout_s": 5.0,
               "cache_path": cache_dir / "cache.jsonl", **overrides}
    return Teacher(TeacherConfig(url=f"{url}/v1", model="teacher-1", key=KEY, **options))


def drip(handler, raw: bytes, pause_s: float = 0.1) -> None:
    for byte in raw:
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        time.sleep(pause_s)


def drip_body(handler):
    data = chat("[]")
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    drip(handler, data)


def drip_headers(handler):
    drip(handler, b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"p" * 200 + b"\r\n\r\n")


@pytest.mark.parametrize("behave", [drip_body, drip_headers], ids=["body", "headers"])
def test_a_dripped_answer_ends_at_the_deadline(scripted, tmp_path, behave):
    server = scripted(behave)  # a byte every 0.1 s, so no single read ever times out
    teacher = make_teacher(server.url, tmp_path, timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(TeacherError, match="no complete answer within 1 s") as err:
        teacher.complete(MESSAGES)
    assert time.monotonic() - started < 3.0
    assert KEY not in str(err.value)


def test_an_answer_past_the_cap_is_refused_unread(scripted, tmp_path):
    padded = chat('["a"]') + b" " * (8 * MAX_ANSWER_BYTES)  # valid JSON: only its size is wrong
    server = scripted(lambda handler: answer(handler, 200, padded))
    with pytest.raises(TeacherError, match=f"more than {MAX_ANSWER_BYTES} bytes"):
        make_teacher(server.url, tmp_path).complete(MESSAGES)
    assert not (tmp_path / "cache.jsonl").exists()


@pytest.mark.parametrize("status", [302, 307, 308])
def test_a_redirect_is_not_followed(scripted, tmp_path, status):
    elsewhere = scripted(lambda handler: answer(handler, 200, chat('["from elsewhere"]')))
    location = elsewhere.url.replace("127.0.0.1", "localhost") + "/collect"
    server = scripted(lambda handler: answer(handler, status, b"", {"Location": location}))
    with pytest.raises(TeacherError, match=f"HTTP {status}, a redirect: not followed, check ACEDESK_TEACHER_URL"):
        make_teacher(server.url, tmp_path).complete(MESSAGES)
    assert elsewhere.requests == []  # neither the mail nor the key went to the other host
    assert len(server.requests) == 1


def test_a_huge_retry_after_is_capped(scripted, tmp_path):
    replies = iter([(429, b"", {"Retry-After": "99999999"}), (200, chat("ok"), {})])
    server = scripted(lambda handler: answer(handler, *next(replies)))
    teacher = make_teacher(server.url, tmp_path, max_retries=1)
    slept = []
    teacher.sleep = slept.append
    assert teacher.complete(MESSAGES) == "ok"
    assert slept == [MAX_RETRY_AFTER_S]


def test_credentials_in_the_url_stay_out_of_errors(scripted, tmp_path):
    server = scripted(lambda handler: answer(handler, 401, b""))
    url = server.url.replace("http://", "http://admin:hunter2@")
    with pytest.raises(TeacherError, match="HTTP 401") as err:
        make_teacher(url, tmp_path).complete(MESSAGES)
    assert "hunter2" not in str(err.value) and KEY not in str(err.value)
    assert server.requests[0].headers.get("Authorization") == f"Bearer {KEY}"  # the key, not the URL's user:password, authenticates


def test_a_cache_line_cut_short_is_skipped_and_asked_again(scripted, tmp_path):
    server = scripted(lambda handler: answer(handler, 200, chat("fresh")))
    first = make_teacher(server.url, tmp_path)
    assert first.complete(MESSAGES) == "fresh"
    with (tmp_path / "cache.jsonl").open("a") as handle:  # what Ctrl-C during a write leaves
        handle.write('{"key": "abc", "content": "[\\"half')
    again = make_teacher(server.url, tmp_path)
    assert again.complete(MESSAGES) == "fresh" and again.requests_sent == 0
    assert again.complete([{"role": "user", "content": "y"}]) == "fresh" and again.requests_sent == 1


@pytest.mark.parametrize("content", [None, float("nan"), 3, ["a"], {"text": "a"}])
def test_content_that_is_no_text_is_an_error_and_never_cached(scripted, tmp_path, content):
    server = scripted(lambda handler: answer(handler, 200, chat(content)))
    for _ in range(2):  # a rerun asks again instead of reading the same junk from the cache
        with pytest.raises(TeacherError, match="not a chat completion"):
            distill.paraphrase_row(make_teacher(server.url, tmp_path), ROW)
    assert len(server.requests) == 2


def test_a_paraphrase_far_longer_than_its_original_is_dropped(scripted, tmp_path):
    ramble = "Please move bk 30917 to next Saturday. " + "Also, about the weather. " * 4000
    kept = "Could bk 30917 go to next Saturday?"
    server = scripted(lambda handler: answer(handler, 200, chat(json.dumps([ramble, kept]))))
    rows = distill.paraphrase_row(make_teacher(server.url, tmp_path), ROW)
    assert [row["body"] for row in rows] == [kept]


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=40),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=4),
                           max_leaves=12)
CONTENTS = (JSON_VALUES | JSON_VALUES.map(json.dumps) | st.text(max_size=200)
            | st.integers(1, 200_000).map(lambda depth: "[" * depth))


@pytest.fixture(scope="module")
def one_server():
    server = Scripted(lambda handler: None)
    yield server
    server.stop()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=CONTENTS)
def test_whatever_the_teacher_says_gives_valid_rows_or_a_teacher_error(one_server, content):
    server = one_server
    server.behave = lambda handler: answer(handler, 200, chat(content))
    with tempfile.TemporaryDirectory() as cache_dir:
        try:
            rows = distill.paraphrase_row(make_teacher(server.url, Path(cache_dir)), ROW)
        except TeacherError:
            return
        for row in rows:
            assert isinstance(row["body"], str) and distill.keeps_fields(ROW, row["body"])
            assert row["category"] == ROW["category"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(wrappers=st.lists(st.tuples(st.text(max_size=30), st.text(max_size=30)), min_size=2, max_size=2))
def test_whatever_the_teacher_paraphrases_no_text_reaches_validation_or_test(one_server, wrappers):
    # bodies that keep ROW's fields, so only the split can drop them; a few in ten hash outside train
    bodies = [f"{before} bk 30917 next Saturday {after}" for before, after in wrappers]
    server = one_server
    server.behave = lambda handler: answer(handler, 200, chat(json.dumps(bodies)))
    with tempfile.TemporaryDirectory() as cache_dir:
        rows = distill.add_paraphrases([ROW], share=1.0, teacher=make_teacher(server.url, Path(cache_dir)))
    assert all(split_of(row) == "train" for row in rows)
    assert {row["body"] for row in rows} <= {body.strip() for body in bodies}
