"""Teacher distillation against a fake OpenAI-compatible endpoint on 127.0.0.1."""

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.settings import Settings
from training import distill
from training.distill import Teacher, TeacherConfig, TeacherError
from training.generate_data import split_of

KEY = "sk-test-SECRET-0123456789"


class FakeEndpoint:
    """Answers POST /v1/chat/completions with scripted (status, content) pairs; the last one repeats."""

    def __init__(self):
        self.script: list[tuple[int, str]] = [(200, "[]")]
        self.requests: list[dict] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint.requests.append({"path": self.path, "auth": self.headers["Authorization"], "body": body})
                status, content = endpoint.script.pop(0) if len(endpoint.script) > 1 else endpoint.script[0]
                payload = {"choices": [{"message": {"role": "assistant", "content": content}}]}
                data = json.dumps(payload).encode() if status == 200 else b'{"error": "boom"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def endpoint():
    fake = FakeEndpoint()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def make_teacher(endpoint, tmp_path, **overrides):
    options = {"min_interval_s": 0.0, "backoff_s": 0.01, "max_retries": 2, "timeout_s": 5.0,
               "cache_path": tmp_path / "cache.jsonl", **overrides}
    return Teacher(TeacherConfig(url=endpoint.url, model="teacher-1", key=KEY, **options))


ROW = {
    "sender": "Anna Berg <anna.berg@gmail.com>", "subject": "Booking", "body": "Please move bk 30917 to next Saturday.",
    "date": "", "category": "modify_booking", "username": "", "booking_id": "BK-30917", "member_name": "",
    "member_email": "", "new_date": "next Saturday", "new_time": "", "new_court": "", "response": "", "lang": "en",
    "family": "modify.plain.en",
}


def test_request_shape_and_cache(endpoint, tmp_path):
    endpoint.script = [(200, "hello")]
    messages = [{"role": "user", "content": "hi"}]
    assert make_teacher(endpoint, tmp_path).complete(messages) == "hello"
    assert endpoint.requests[0]["path"] == "/v1/chat/completions"
    assert endpoint.requests[0]["auth"] == f"Bearer {KEY}"
    assert endpoint.requests[0]["body"]["model"] == "teacher-1"
    again = make_teacher(endpoint, tmp_path)  # a fresh client reads the cache from disk
    assert again.complete(messages) == "hello"
    assert again.requests_sent == 0 and len(endpoint.requests) == 1
    assert KEY not in (tmp_path / "cache.jsonl").read_text()


def test_retries_on_server_error(endpoint, tmp_path):
    endpoint.script = [(500, ""), (503, ""), (200, "ok")]
    teacher = make_teacher(endpoint, tmp_path)
    assert teacher.complete([{"role": "user", "content": "x"}]) == "ok"
    assert len(endpoint.requests) == 3


def test_no_retry_on_client_error(endpoint, tmp_path):
    endpoint.script = [(401, "")]
    with pytest.raises(TeacherError, match="401"):
        make_teacher(endpoint, tmp_path).complete([{"role": "user", "content": "x"}])
    assert len(endpoint.requests) == 1


def test_key_never_in_logs_or_errors(endpoint, tmp_path, caplog):
    endpoint.script = [(500, "")]
    teacher = make_teacher(endpoint, tmp_path)
    with caplog.at_level(logging.DEBUG), pytest.raises(TeacherError) as err:
        teacher.complete([{"role": "user", "content": "x"}])
    assert len(endpoint.requests) == 3  # 1 try + 2 retries
    assert "retry" in caplog.text
    assert KEY not in caplog.text and KEY not in str(err.value) and KEY not in repr(err.value)
    assert KEY not in repr(teacher.config)


def test_rate_limit_spaces_requests(endpoint, tmp_path):
    slept = []
    teacher = make_teacher(endpoint, tmp_path, min_interval_s=5.0)
    teacher.sleep = slept.append
    endpoint.script = [(200, "a")]
    teacher.complete([{"role": "user", "content": "1"}])
    teacher.complete([{"role": "user", "content": "2"}])
    assert len(slept) == 1 and 4.0 < slept[0] <= 5.0


def test_paraphrase_missing_a_field_is_dropped(endpoint, tmp_path):
    kept = "Hi, could booking BK-30917 go to next Saturday instead?"
    lost_date = "Hi, could booking BK-30917 be moved to another day?"
    lost_id = "Please move my booking to next Saturday."
    endpoint.script = [(200, json.dumps([kept, lost_date, lost_id]))]
    rows = distill.paraphrase_row(make_teacher(endpoint, tmp_path), ROW, count=3)
    assert [r["body"] for r in rows] == [kept]
    assert rows[0]["category"] == "modify_booking" and rows[0]["family"] == "modify.plain.en+teacher"
    assert "BK-30917" in rows[0]["response"]
    prompt = endpoint.requests[0]["body"]["messages"][0]["content"]
    assert '"30917"' in prompt and '"next Saturday"' in prompt


def test_add_paraphrases_skips_handwritten_and_injections(endpoint, tmp_path):
    endpoint.script = [(200, json.dumps(["Please move bk 30917 to next Saturday, thanks!"]))]
    rows = [ROW, {**ROW, "family": "handwritten"}, {**ROW, "family": "inject.modify.en"}]
    new = distill.add_paraphrases(rows, share=1.0, teacher=make_teacher(endpoint, tmp_path))
    assert len(endpoint.requests) == 1 and len(new) == 1


def test_missing_settings_are_a_clear_error():
    with pytest.raises(TeacherError, match="ACEDESK_TEACHER_KEY"):
        TeacherConfig.from_settings(Settings(teacher_url="http://x/v1", teacher_model="m"))
    config = TeacherConfig.from_settings(Settings(teacher_url="http://x/v1/", teacher_model="m", teacher_key=KEY,
                                                  teacher_min_interval_s=0.5))
    assert config.url == "http://x/v1" and config.min_interval_s == 0.5 and KEY not in repr(config)


def test_the_teacher_is_read_from_the_environment_as_every_setting_is(monkeypatch):
    for name, value in (("URL", "http://x/v1"), ("MODEL", "m"), ("KEY", f"{KEY}\n"), ("MIN_INTERVAL_S", "0.25")):
        monkeypatch.setenv(f"ACEDESK_TEACHER_{name}", value)
    config = TeacherConfig.from_settings(Settings())
    assert (config.url, config.model, config.key, config.min_interval_s) == ("http://x/v1", "m", KEY, 0.25)


def test_parse_list_tolerates_fences_and_junk():
    assert distill.parse_list('```json\n["a", "b"]\n```') == ["a", "b"]
    assert distill.parse_list("not json") == []
    assert distill.parse_list('{"a": 1}') == []


def test_repr_of_the_config_shows_no_credentials(caplog):
    config = TeacherConfig(url="https://admin:hunter2@teacher.example/v1?api_key=QUERYKEY", model="m", key=KEY)
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("teacher config %r / %s", config, config)
    for shown in (repr(config), str(config), caplog.text):
        assert "hunter2" not in shown and "QUERYKEY" not in shown and KEY not in shown
        assert "https://teacher.example/v1" in shown  # still says which teacher


@pytest.mark.parametrize("key", ["sk-abc\nsecond-line", "sk abc", "sk-\x00abc", "sk-€", ""],
                         ids=["newline", "space", "control", "non-latin-1", "empty"])
def test_a_malformed_key_is_a_setting_error_said_at_once(key):
    with pytest.raises(TeacherError, match="ACEDESK_TEACHER_KEY") as err:
        TeacherConfig(url="http://127.0.0.1:9/v1", model="m", key=key)  # nothing listens: a try would fail slowly
    if key:
        assert key not in str(err.value)


def test_a_key_pasted_with_its_newline_is_trimmed(endpoint, tmp_path):
    config = TeacherConfig.from_settings(Settings(teacher_url=f" {endpoint.url}\n", teacher_model="m",
                                                  teacher_key=f"{KEY}\n"),
                                         cache_path=tmp_path / "cache.jsonl", min_interval_s=0.0)
    endpoint.script = [(200, "ok")]
    assert Teacher(config).complete([{"role": "user", "content": "x"}]) == "ok"
    assert endpoint.requests[0]["auth"] == f"Bearer {KEY}"


@pytest.mark.parametrize("url", ["localhost:8000/v1", "ftp://host/v1", "http:///v1", "http://ho st/v1",
                                 "http://host:port/v1", "http://host/v1\n/x"])
def test_a_malformed_url_is_a_setting_error_said_at_once(url):
    with pytest.raises(TeacherError, match="ACEDESK_TEACHER_URL"):
        TeacherConfig(url=url, model="m", key=KEY)


def test_a_query_in_the_url_stays_the_query(endpoint, tmp_path):
    endpoint.script = [(200, "ok")]
    teacher = Teacher(TeacherConfig(url=f"{endpoint.url}?api-version=2", model="m", key=KEY, min_interval_s=0.0,
                                    cache_path=tmp_path / "cache.jsonl"))
    assert teacher.complete([{"role": "user", "content": "x"}]) == "ok"
    assert endpoint.requests[0]["path"] == "/v1/chat/completions?api-version=2"


def body_in(split: str, template: str) -> str:
    """The first numbered variant of ``template`` whose row (ROW's subject) hashes into ``split``."""
    return next(body for body in (template.format(number) for number in range(1000))
                if split_of({**ROW, "body": body}) == split)


def test_paraphrases_come_from_and_stay_in_the_train_split(endpoint, tmp_path):
    source = "Please move bk 30917 to next Saturday. ({})"
    rows = [{**ROW, "body": body_in(split, source)} for split in ("test", "val", "train")]
    paraphrase = "Could booking 30917 go to next Saturday? ({})"
    stays, leaves = body_in("train", paraphrase), body_in("test", paraphrase)
    endpoint.script = [(200, json.dumps([stays, leaves]))]
    new = distill.add_paraphrases(rows, share=1.0, teacher=make_teacher(endpoint, tmp_path))
    assert len(endpoint.requests) == 1  # the test and validation mails are never sent to be paraphrased
    assert rows[2]["body"] in endpoint.requests[0]["body"]["messages"][0]["content"]
    assert [row["body"] for row in new] == [stays]  # a paraphrase hashing into test would be measured on
