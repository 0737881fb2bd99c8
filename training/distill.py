"""Optional distillation: paraphrases of generated mails from a teacher model.

    ACEDESK_TEACHER_URL=http://host/v1 ACEDESK_TEACHER_KEY=... ACEDESK_TEACHER_MODEL=... \\
        .venv/bin/python -m training.generate_data --teacher

The three settings may also sit in .streamlit/secrets.toml (core/settings.py reads them). Any OpenAI-compatible chat endpoint works. Requests are rate limited, retried with backoff on
429/5xx, and cached on disk (JSON lines keyed by a hash of the request), so a rerun costs
nothing and gives the same data. A paraphrase keeps its row's label and must still contain
every extracted field verbatim, else it is dropped. Only train-split rows are paraphrased, and a
paraphrase is kept only if it hashes into the train split too. The key, and the URL's
user:password@ and query, are never logged, printed or put in errors; a key or URL that no request
could carry is refused when the config is made, naming the setting.

The teacher is someone else's server, so its answers are bounded: each try has a wall-clock
deadline (``timeout_s``, also for an answer dripped a byte at a time), an answer is read up to
``MAX_ANSWER_BYTES``, a redirect is never followed (a 307 would re-send the mail to whatever host
``Location`` names), a ``Retry-After`` is honoured up to ``MAX_RETRY_AFTER_S``, and a paraphrase
much longer than its original is dropped. Only well-formed answers are cached, and a cache line
cut short by a crash is skipped, not fatal.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import time
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import urlsplit

import requests

from core.http import TRANSPORT_ERRORS, BearerToken, WatchedAdapter, bounded_request
from core.settings import Settings, api_endpoint, load_settings, public_url
from model.replies import render_reply
from model.schema import FIELDS
from training.generate_data import split_of

log = logging.getLogger(__name__)

ENV_URL, ENV_KEY, ENV_MODEL = "ACEDESK_TEACHER_URL", "ACEDESK_TEACHER_KEY", "ACEDESK_TEACHER_MODEL"
DEFAULT_CACHE = Path(__file__).parent / "data" / "teacher_cache.jsonl"
RETRY_STATUSES = {429, 500, 502, 503, 504}
MAX_ANSWER_BYTES = 1 << 20
"""A chat completion with a few paraphrased mails is a few KB; more is not an answer to our prompt."""
MAX_RETRY_AFTER_S = 120.0
"""A teacher asking for a longer pause would stall a data run for it; retrying sooner costs one 429."""
PARAPHRASE_MAX_GROWTH, PARAPHRASE_MIN_LIMIT = 4, 1000
"""A paraphrase may be up to 4x its original (at least 1000 characters): longer is padding or a
ramble, and one such row would dominate a training batch."""

PARAPHRASE_PROMPT = (
    "Rewrite the customer email below in {count} different ways, as different people would write it: "
    "vary wording, length and tone; keep the same request and meaning. Copy these strings exactly, "
    "character for character: {keep}. Answer with a JSON list of {count} strings (email bodies only)."
)


class TeacherError(RuntimeError):
    """The teacher could not be configured or did not answer."""


@dataclass(frozen=True, repr=False)
class TeacherConfig:
    url: str
    model: str
    key: str
    timeout_s: float = 60.0
    max_retries: int = 4
    backoff_s: float = 2.0
    min_interval_s: float = Settings.model_fields["teacher_min_interval_s"].default
    cache_path: Path = DEFAULT_CACHE

    def __post_init__(self) -> None:
        # A malformed setting fails every try alike: said now, naming the setting, never its value
        # (requests' own error would quote the key; retried, it cost 5 tries and 30 s of waits).
        if not _is_http_url(self.url):
            raise TeacherError(f"{ENV_URL} must be an http:// or https:// URL with a host, e.g. https://host/v1")
        if not self.key or not all("!" <= char <= "~" for char in self.key):
            raise TeacherError(f"{ENV_KEY} may hold only printable ASCII without spaces or line breaks: "
                               "paste the key alone")

    def __repr__(self) -> str:
        # A logged or printed config shows neither the key nor the URL's user:password@ or query.
        shown = {item.name: getattr(self, item.name) for item in fields(self) if item.name != "key"}
        shown["url"] = public_url(self.url)
        return f"TeacherConfig({', '.join(f'{name}={value!r}' for name, value in shown.items())})"

    @classmethod
    def from_settings(cls, settings: Settings, **overrides) -> TeacherConfig:
        """The teacher the ``ACEDESK_TEACHER_*`` settings name (the environment or
        .streamlit/secrets.toml, read as every other setting: ``core/settings.py``)."""
        key = settings.secret("teacher_key")  # trimmed there: a key read from a file keeps its newline
        missing = [name for name, value in ((ENV_URL, settings.teacher_url), (ENV_KEY, key),
                                            (ENV_MODEL, settings.teacher_model)) if not (value or "").strip()]
        if missing:
            raise TeacherError(f"--teacher needs these settings (environment or .streamlit/secrets.toml): "
                               f"{', '.join(missing)}")
        overrides.setdefault("min_interval_s", settings.teacher_min_interval_s)
        return cls(url=settings.teacher_url.strip().rstrip("/"), model=settings.teacher_model.strip(), key=key,
                   **overrides)


def _is_http_url(url: str) -> bool:
    if not url.isprintable() or any(char.isspace() for char in url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is no number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def request_key(payload: dict) -> str:
    """Cache key: the request without endpoint or key, so a new key or host reuses the cache."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class Teacher:
    """A chat-completions client with a disk cache, a rate limit and retries."""

    def __init__(self, config: TeacherConfig, session: requests.Session | None = None, sleep=time.sleep,
                 clock=time.monotonic) -> None:
        self.config = config
        self.session = session or requests.Session()
        adapter = WatchedAdapter()  # bounded_request's deadline cuts its connections
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.sleep, self.clock = sleep, clock
        self.requests_sent = 0
        self._last_request: float | None = None
        self._cache = self._load_cache()

    def complete(self, messages: list[dict], temperature: float = 0.8) -> str:
        payload = {"model": self.config.model, "messages": messages, "temperature": temperature}
        key = request_key(payload)
        if key not in self._cache:
            self._cache[key] = self._post(payload)
            self._append_cache(key, self._cache[key])
        return self._cache[key]

    def _load_cache(self) -> dict[str, str]:
        path = self.config.cache_path
        if not path.exists():
            return {}
        cache, unreadable = {}, 0
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            entry = _cache_entry(line)
            if entry:
                cache[entry[0]] = entry[1]
            elif line.strip():
                unreadable += 1
        if unreadable:  # a write cut short (Ctrl-C, a crash): those requests are simply asked again
            log.warning("teacher cache %s: skipped %d unreadable line(s)", path, unreadable)
        return cache

    def _append_cache(self, key: str, content: str) -> None:
        self.config.cache_path.parent.mkdir(parents=True, exist_ok=True)
        with self.config.cache_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"key": key, "content": content}, ensure_ascii=False) + "\n")

    def _wait_turn(self) -> None:
        """Keep at least ``min_interval_s`` between requests (shared endpoints have rate limits)."""
        if self._last_request is not None:
            wait = self.config.min_interval_s - (self.clock() - self._last_request)
            if wait > 0:
                self.sleep(wait)
        self._last_request = self.clock()

    def _post(self, payload: dict) -> str:
        problem, where = "", public_url(self.config.url)  # user:password@ in the URL stays out of errors
        for attempt in range(self.config.max_retries + 1):
            self._wait_turn()
            self.requests_sent += 1
            try:
                response, body = self._try(payload)
            except TimeoutError:
                problem = f"no complete answer within {self.config.timeout_s:g} s"
                delay = self.config.backoff_s * 2**attempt
            except TRANSPORT_ERRORS as err:
                problem = type(err).__name__  # the class name only: messages can echo request details
                delay = self.config.backoff_s * 2**attempt
            else:
                if len(body) > MAX_ANSWER_BYTES:
                    raise TeacherError(f"teacher at {where} answered more than {MAX_ANSWER_BYTES} bytes "
                                       f"(HTTP {response.status_code}): not an answer to a paraphrase request")
                if response.status_code == 200:
                    return _content(body)
                problem = f"HTTP {response.status_code}"
                if response.is_redirect:
                    raise TeacherError(f"teacher at {where} answered {problem}, a redirect: not followed, "
                                       f"check {ENV_URL}")
                if response.status_code not in RETRY_STATUSES:
                    raise TeacherError(f"teacher at {where} answered {problem}")
                delay = _retry_after(response) or self.config.backoff_s * 2**attempt
            if attempt < self.config.max_retries:
                log.warning("teacher request failed (%s), retry %d in %.1fs", problem, attempt + 1, delay)
                self.sleep(delay)
        raise TeacherError(f"teacher at {where} failed {self.config.max_retries + 1} times: {problem}")

    def _try(self, payload: dict) -> tuple[requests.Response, bytes]:
        """One request and its answer (up to one byte over ``MAX_ANSWER_BYTES``), read whole within
        ``timeout_s`` (core/http.py ``bounded_request``); raises TimeoutError past it."""
        return bounded_request(self.session, "POST", api_endpoint(self.config.url, "chat/completions"),
                               deadline_s=self.config.timeout_s, max_bytes=MAX_ANSWER_BYTES, json=payload,
                               auth=BearerToken(self.config.key), timeout=self.config.timeout_s)


def _cache_entry(line: str) -> tuple[str, str] | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    if isinstance(entry, dict) and isinstance(entry.get("key"), str) and isinstance(entry.get("content"), str):
        return entry["key"], entry["content"]
    return None


def _content(body: bytes) -> str:
    try:
        content = json.loads(body)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError, RecursionError) as err:
        raise TeacherError("teacher answer is not a chat completion") from err
    if not isinstance(content, str):  # null (a refusal, a tool call), a number: nothing to paraphrase or cache
        raise TeacherError("teacher answer is not a chat completion (its content is no text)")
    return content


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return min(float(value), MAX_RETRY_AFTER_S) if value.replace(".", "", 1).isdigit() else None


# ---------------------------------------------------------------------------------------------
# Paraphrases
# ---------------------------------------------------------------------------------------------


def parse_list(text: str) -> list[str]:
    """The teacher's JSON list of strings; tolerate a code fence around it."""
    text = re.sub(r"^```(?:json)?\s*|\s*```$", "", text.strip())
    try:
        items = json.loads(text)
    except (json.JSONDecodeError, RecursionError):  # RecursionError: lists nested a hundred thousand deep
        return []
    return [item.strip() for item in items if isinstance(item, str) and item.strip()] if isinstance(items, list) else []


def keeps_fields(row: dict[str, str], body: str) -> bool:
    """Every extracted field must still stand verbatim in subject + new body."""
    text = f"{row['subject']}\n{body}"
    for name in FIELDS:
        value = row.get(name)
        if not value:
            continue
        if name == "booking_id" and value.startswith("BK-"):
            if value[3:] not in text:  # BK ids are normalised: the digits must survive in any spelling
                return False
        elif value not in text:
            return False
    return True


def keep_strings(row: dict[str, str]) -> list[str]:
    values = [row[name] for name in FIELDS if row.get(name)]
    if row.get("booking_id", "").startswith("BK-"):
        values[values.index(row["booking_id"])] = row["booking_id"][3:]
    return values


def paraphrase_row(teacher: Teacher, row: dict[str, str], count: int = 2) -> list[dict[str, str]]:
    keep = ", ".join(f'"{value}"' for value in keep_strings(row)) or "(nothing)"
    prompt = PARAPHRASE_PROMPT.format(count=count, keep=keep)
    answer = teacher.complete([{"role": "user", "content": f"{prompt}\n\n{row['body']}"}])
    new_rows = []
    longest = max(PARAPHRASE_MAX_GROWTH * len(row["body"]), PARAPHRASE_MIN_LIMIT)
    for body in parse_list(answer)[:count]:
        if len(body) > longest:
            log.info("dropped a paraphrase of %d characters (%s)", len(body), row["family"])
            continue
        if not keeps_fields(row, body):
            log.info("dropped a paraphrase that lost a field (%s)", row["family"])
            continue
        fields = {name: row[name] for name in FIELDS if row.get(name)}
        new_rows.append({
            **row,
            "body": body,
            "family": f"{row['family']}+teacher",
            "response": render_reply(row["category"], fields, row["sender"], row["lang"]),
        })
    return new_rows


def add_paraphrases(rows: list[dict[str, str]], seed: int = 13, share: float = 0.1,
                    teacher: Teacher | None = None) -> list[dict[str, str]]:
    """Paraphrases for a seeded sample of generated train-split rows (never the hand-written or
    injection ones). A paraphrase is kept only if it hashes into the train split too, as
    ``build_chat_rows`` does: one of a validation or test mail in train, or one of a train mail in
    test, would measure the model on what it learnt."""
    teacher = teacher or Teacher(TeacherConfig.from_settings(load_settings()))
    candidates = [r for r in rows if r["family"] != "handwritten" and not r["family"].startswith("inject.")
                  and split_of(r) == "train"]
    sample = random.Random(seed).sample(candidates, int(len(candidates) * share))
    new_rows, outside_train = [], 0
    for index, row in enumerate(sample, 1):
        for new_row in paraphrase_row(teacher, row):
            if split_of(new_row) == "train":
                new_rows.append(new_row)
            else:
                outside_train += 1
        if index % 50 == 0:
            log.info("teacher: %d/%d rows, %d paraphrases", index, len(sample), len(new_rows))
    if outside_train:
        log.info("dropped %d paraphrase(s) that hash into the validation or test split", outside_train)
    return new_rows
