"""Triage through an OpenAI-compatible model server instead of a model in this process.

    triager = ServedTriager("http://127.0.0.1:8600/v1", api_key=None)   # python -m model.serve
    triager = ServedTriager.from_settings(load_settings())              # at an edge: ACEDESK_MODEL_URL, _API_KEY
    result = triager.triage(Email(sender, subject, body, date))         # a TriageResult, as in-process
    results = triager.triage_many(emails)

The served model must answer as the in-process one does (model/decoding.py), so each mail
costs two requests to the raw ``/v1/completions`` endpoint (a chat endpoint would wrap the
text in the server's own chat template; the adapter learned ``build_prompt``'s exact text).
Servers tokenize a text prompt with special tokens parsed, so ``<end_of_turn>`` written in a
mail would become the control token; in-process it stays characters (model/prompt.py). The
served prompt therefore puts a word joiner (U+2060) after ``<`` in marker-shaped text of the
mail, which no tokenizer merges into a marker. No mail of the train, val or test split has
such text: for them the prompt is ``build_prompt``'s, byte for byte. Each part of the mail is cut
to its token budget as in-process (model/prompt.py ``mail_parts``, the one cut) with the base's
own tokenizer, its ``tokenizer.json`` read by the tokenizers library (no torch in the client), so
no prompt exceeds ``MAX_PROMPT_TOKENS`` and each fits the server's context (model/serve.py
``N_CTX``): cut by characters only, 3,575 characters of a rare script took 12,891 tokens and the
server failed the mail.

1. The category, as CategoryTrie decides it: one token with the top ``TOP_LOGPROBS``
   alternatives. The five categories' first tokens (add, reset, cancel, modify, other for
   Gemma) are read from them, plus the adapter's calibration bias and the category check's
   weighted log-probabilities (model/category_check.py), renormalised over the
   five: the most likely is the category, its share is the confidence. A category whose
   first token is not among the alternatives counts as probability 0 (it is below the
   20th-best token). For llama-cpp-python the token is streamed: for a reply in one piece
   it computes the log-softmax of every prompt position (~5 s more for a 500-token prompt on
   the shared 2-core machine), for a streamed token only that token's. Why not logprobs on
   the answer itself: it sorts the whole 262k vocabulary in Python for every token it
   returns logprobs for (0.1-0.5 s each, with the CPU shared).
2. The answer, greedy (temperature 0, no repeat penalty), at most ``MAX_NEW_TOKENS``, stopped
   at the style's end marker, under a grammar that fixes the category found in step 1 and
   keeps the rest in the contract's JSON shape (model/schema.py), as the in-process decoder does.
   The server keeps the prompt's KV cache from step 1, so the prompt is evaluated once.

The answer is then validated by ``model.results.build_result``, like a local one.

What in-process triage guarantees, kept here:
- Copied fields (username, booking id, member name and address) are spans of the mail: the
  grammar offers only the mail's spans (model/copying.py), as model/constraint.py does in-process,
  and a value that is none (a server that ignored the grammar) is left out and the answer marked
  invalid, so it goes to review.
- A mail with a quoted part is asked a third time without its quote (one token, as step 1), so
  ``category_without_quote`` and its review rule hold here too.
- The server is the one for this adapter: model/serve.py serves it under ``served_model_name``
  (a digest of the adapter's weights and the prompt and schema it was trained for), and the
  client checks ``/models`` before it triages (again every ``MODEL_CHECK_EVERY_S``): a server for
  another adapter, prompt or base raises ``ModelServerMismatch`` and every mail waits.
- Bounded: a mail's requests (the model check, its two or three steps, their retries) all end
  within ``timeout_s`` of its start, and the probe after a timeout within one more; each reply is
  read up to ``MAX_ANSWER_BYTES``, whatever the server sends. Log-probabilities that are not (NaN,
  positive, not numbers, too large for a float), answers of the wrong shape or over
  ``MAX_NEW_TOKENS`` (re-encoded, with ``ANSWER_TOKEN_SLACK``) are a ``ModelServerError`` of that
  mail; a field the answer writes twice is flagged and the answer sent to review.
- Messages show neither the API key nor the URL's password or query, even where the server echoes
  them back (an error body, an answer, a model's name).
- A mail slower than ``timeout_s`` is that mail's (``ModelServerTimeout``) when the server answers
  ``/models`` right after, so the others go on (support/triage.py); else the server is away.
- An answer that reaches ``MAX_NEW_TOKENS`` inside its reply is closed there and its reply
  replaced by the club's template, as the in-process decoder closes it (``close_cut_reply``).
- The API key is the request's ``Authorization``; a URL's ``user:password@`` is sent (as Basic
  auth) only without a key, and a URL with both is refused: one header cannot carry both.

Servers (``server=``):
- ``"llama.cpp"``: llama-cpp-python's server (``python -m model.serve``); the grammar goes in
  its ``grammar`` field (GBNF; its /v1/completions has no ``json_schema``, and a JSON schema
  could not start mid-object after the prompt's ``{"category":"`` anyway). It must run with
  ``--logits_all true`` (its default), or it refuses logprobs.
- ``"vllm"``: ``vllm serve BASE --enable-lora --max-lora-rank 8 --lora-modules NAME=DIR``
  (NAME: ``served_model_name(DIR)``) with DIR from ``python -m model.export_adapter --format peft``; the same GBNF goes in
  ``structured_outputs: {"grammar": ...}`` (vLLM >= 0.12; older ones took ``guided_grammar``);
  vLLM caps logprobs at ``--max-logprobs`` (20 by default) and batches concurrent requests,
  so ``triage_many`` sends ``batch_size`` mails at a time there.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qsl, urlsplit

import requests
import urllib3.exceptions
from tokenizers import Tokenizer

from core.http import TRANSPORT_ERRORS, WatchedAdapter, bearer, bounded_request
from core.mail import Email
from core.settings import api_endpoint, public_url
from model.calibration import read_category_bias
from model.category_check import load_category_check
from model.copying import COPIED_FIELDS, CopySpans, copy_spans
from model.metadata import (
    DEFAULT_ADAPTER,
    DEFAULT_BASE_MODEL,
    default_base_folder,
    read_metadata,
    reading_adapter,
)
from model.prompt import ANSWER_PREFIX, STYLES, MailParts, PromptStyle, build_prompt, mail_parts
from model.results import build_result
from model.review import read_review_rule
from model.schema import CATEGORIES, FIELDS, TriageResult

if TYPE_CHECKING:
    from core.settings import Settings

MAX_NEW_TOKENS = 160
"""model.inference.MAX_NEW_TOKENS (that module imports torch; tests/model/test_served.py keeps them equal)."""
TOP_LOGPROBS = 20
"""Alternatives asked for at the category's position: vLLM's default cap (--max-logprobs)."""
MODEL_ALIAS = "triage"
"""The start of the name a server serves the adapted model under (``served_model_name``)."""
MAX_ANSWER_BYTES = 1 << 20
"""The most of one reply read: an answer of ``MAX_NEW_TOKENS`` tokens, or the category's event with
its alternatives, takes a few KB; a larger reply is the server's fault, never read into memory."""
MODEL_CHECK_EVERY_S = 60.0
"""How often the client asks the server again which model it serves (a restart may bring another)."""
LOGPROB_SLACK = 1e-3
"""A log-probability above this is none (float rounding may put log 1 a little above 0)."""
ANSWER_TOKEN_SLACK = 2
"""How many times ``MAX_NEW_TOKENS`` an answer may take re-encoded by the base's tokenizer before it
is refused: the server may have generated it in other pieces than the tokenizer splits it into,
so only a server that ignored ``max_tokens`` goes past it."""

SECRET_QUERY_VALUE_MIN_CHARS = 6
"""A value of the URL's query this long or longer may be a key (``?key=...``), and is kept out of messages."""

TOKENIZER_FILE = "tokenizer.json"
_LONGEST_ESCAPE = len("\\u00e9") - 1
"""The most of a JSON escape a cut can leave unfinished (a backslash, ``u`` and three digits)."""

_MARKER = re.compile(r"<(?=[A-Za-z0-9_|]+>)")
"""The start of text shaped like a special token: <end_of_turn>, <eos>, <|eot_id|>."""

Server = Literal["llama.cpp", "vllm"]
SERVERS: tuple[Server, ...] = ("llama.cpp", "vllm")


class ModelServerError(RuntimeError):
    """The model server answered, but not with a usable triage (a 4xx, a broken response)."""


class ModelServerUnavailable(ModelServerError):
    """The model server could not be reached, timed out, or kept failing with 5xx.
    The message names the URL (without credentials), never the API key."""


class ModelServerTimeout(ModelServerError):
    """The server took longer than the timeout on one mail and answered ``/models`` right after: it
    is alive and the mail is what is slow (a long prompt on a busy CPU). Counted against that mail
    (support/triage.py) so the other mails go on, where ``ModelServerUnavailable`` stops them all."""


class ModelServerMismatch(ModelServerUnavailable):
    """The server does not serve this adapter (another adapter, prompt or base, or a server started
    without the name model/serve.py gives it): no mail's fault, so every mail waits, as for a server
    that is away, until the right one is started."""


def served_model_name(adapter: str | Path | None) -> str:
    """The name a server serves ``adapter`` under (model/serve.py's ``--model_alias``, vLLM's
    ``--lora-modules NAME=DIR``): ``triage-`` and a digest of the adapter's weights and of the base,
    prompt style and prompt and schema versions it was trained for (acedesk.json), which its peft
    export keeps. None: the plain base, ``triage-base``."""
    if adapter is None:
        return f"{MODEL_ALIAS}-base"
    digest = hashlib.sha256()
    with reading_adapter(adapter):  # the weights and the metadata of one ship
        meta = read_metadata(adapter)
        digest.update((Path(adapter) / "adapter_model.safetensors").read_bytes())
    for key in ("base_model", "prompt_style", "prompt_format_version", "schema_version"):
        digest.update(f"\n{key}={meta.get(key)}".encode())
    return f"{MODEL_ALIAS}-{digest.hexdigest()[:12]}"


def answer_grammar(categories: tuple[str, ...] = CATEGORIES, spans: CopySpans | None = None) -> str:
    """The answer after the prompt's ``{"category":"`` as GBNF (llama.cpp's grammar format;
    vLLM's xgrammar backend reads it too): one of ``categories`` and its closing quote, the
    contract's fields in ``MODEL_FIELDS`` order (each optional), the response, the closing
    brace. JSON strings: no raw control characters, only valid escapes. With ``spans``, a copied
    field (``COPIED_FIELDS``) is one of the mail's spans, written as JSON writes it, or left out,
    as in-process (model/constraint.py); a field the mail has no span for cannot be written."""
    def value(name: str) -> str:
        if spans is None or name not in COPIED_FIELDS:
            return "string"
        return "(" + " | ".join(json.dumps(json.dumps(span, ensure_ascii=False), ensure_ascii=False)
                                for span in spans.of(name)) + ")"

    category = " | ".join(json.dumps(name) for name in categories)
    fields = " ".join(f'("," {json.dumps(json.dumps(name) + ":")} {value(name)})?' for name in FIELDS
                      if spans is None or name not in COPIED_FIELDS or spans.of(name))
    return "\n".join([
        f'root ::= ({category}) "\\"" {fields} "," "\\"response\\":" string "}}"',
        'string ::= "\\"" char* "\\""',
        'char ::= [^"\\\\\\x00-\\x1f] | "\\\\" (["\\\\/bfnrt] | "u" hex hex hex hex)',
        "hex ::= [0-9a-fA-F]",
    ])


def category_scores(top_logprobs: dict[str, float], bias: dict[str, float]) -> dict[str, float]:
    """Each category's first-token log-probability (plus its calibration bias) among the
    server's alternatives at the answer's first position. A category's first token is the
    longest alternative its name starts with: the tokenizer writes "cancel" in one piece, and
    "c" or "canc" would be other, rarer ways to start it. Categories absent from the
    alternatives are left out (their probability is below every returned one)."""
    scores = {}
    for category in CATEGORIES:
        pieces = [piece for piece in top_logprobs if piece and category.startswith(piece)]
        if pieces:
            scores[category] = top_logprobs[max(pieces, key=len)] + bias.get(category, 0.0)
    return scores


def served_prompt(email: Email, style: PromptStyle, tokenizer: PromptTokenizer) -> str:
    """``build_prompt``'s text, each part cut to its token budget by ``tokenizer`` (the base's), with
    marker-shaped text in the mail defused (module docstring)."""
    def defuse(text: str) -> str:
        return _MARKER.sub("<\u2060", text)

    return build_prompt(replace(email, sender=defuse(email.sender), subject=defuse(email.subject),
                                body=defuse(email.body)), style, tokenizer)


class PromptTokenizer:
    """A base's ``tokenizer.json`` through the tokenizers library, called as model/prompt.py's token
    cut calls a transformers tokenizer: the same Rust tokenizer that one wraps (its
    ``split_special_tokens`` is ``encode_special_tokens``), without importing torch into the client.
    tests/model/test_served.py checks that both cut every mail of the data and hostile ones alike."""

    def __init__(self, path: Path):
        self._tokenizer = Tokenizer.from_file(str(path))
        self._lock = threading.Lock()  # encode_special_tokens is shared state; triage_many's threads share it

    def __call__(self, text: str, add_special_tokens: bool = True, split_special_tokens: bool = False,
                 return_offsets_mapping: bool = False) -> SimpleNamespace:
        with self._lock:
            self._tokenizer.encode_special_tokens = split_special_tokens
            encoding = self._tokenizer.encode(text, add_special_tokens=add_special_tokens)
        return SimpleNamespace(input_ids=encoding.ids, offset_mapping=encoding.offsets)


@functools.cache
def prompt_tokenizer(path: Path) -> PromptTokenizer:
    """The tokenizer at ``path``, read once per process (~2 s for Gemma's 262k tokens)."""
    return PromptTokenizer(path)


def base_tokenizer_file(base_model: str | None) -> Path:
    """The base's ``tokenizer.json``, found offline, never downloaded: the packaged base's in the
    folder ``python -m model.prepare`` converted it to (model/loading.py ``prepare_default_base``,
    which ``make demo`` and ``make model-server`` run), a local folder's, or a Hugging Face id's in
    the local Hugging Face cache."""
    if base_model in (None, "", DEFAULT_BASE_MODEL):
        path = default_base_folder() / TOKENIZER_FILE
    elif Path(base_model).is_dir():
        path = Path(base_model) / TOKENIZER_FILE
    else:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(base_model, TOKENIZER_FILE)
        path = Path(cached) if isinstance(cached, str) else Path(base_model) / TOKENIZER_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no tokenizer of the base model {base_model or DEFAULT_BASE_MODEL} at {path}: "
                                "triage through a model server cuts each mail to the token budgets the "
                                "in-process model uses (run `python -m model.prepare` once)")
    return path


def close_cut_reply(answer_text: str) -> str | None:
    """The answer (the text after ``{"category":"``) that the token budget cut inside its reply,
    closed there as the in-process decoder closes it (model/constraint.py), or None when it was
    cut elsewhere. The reply is the answer's last field (``answer_grammar``), so closing its string
    and the object ends the answer; an escape the cut left unfinished is dropped with the reply's
    end, which the club's template replaces anyway (model/results.py ``reply_cut``)."""
    for end in range(len(answer_text), max(len(answer_text) - _LONGEST_ESCAPE, 0) - 1, -1):
        closed = answer_text[:end] + '"}'
        try:
            data = json.loads(ANSWER_PREFIX + closed)
        except ValueError:
            continue
        return closed if isinstance(data, dict) and list(data)[-1] == "response" else None
    return None


def spans_not_in_mail(answer_text: str, spans: CopySpans) -> list[str]:
    """The copied fields whose value in the answer (the text after ``{"category":"``) is no span
    of the mail: what a server that ignored the grammar made up."""
    try:
        data = json.loads(ANSWER_PREFIX + answer_text)
    except ValueError:
        return []  # build_result flags an answer that is not JSON
    if not isinstance(data, dict):
        return []
    return [name for name in COPIED_FIELDS
            if isinstance(data.get(name), str) and data[name].strip() and data[name] not in spans.of(name)]


def repeated_fields(answer_text: str) -> list[str]:
    """The fields the answer (the text after ``{"category":"``) writes more than once: the grammar
    writes each once, and readers differ in which of two values they take (``json`` the last).
    Raises RecursionError for an answer nested deeper than the parser goes."""
    try:
        pairs = json.loads(ANSWER_PREFIX + answer_text, object_pairs_hook=list)
    except ValueError:
        return []  # build_result flags an answer that is not JSON
    names = [name for name, _ in pairs] if isinstance(pairs, list) else []
    return sorted({name for name in names if names.count(name) > 1})


def _is_log_probability(value) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        value = float(value)  # JSON's integers have no bound
    except OverflowError:
        return False
    return not math.isnan(value) and value <= LOGPROB_SLACK


def _softmax(scores: dict[str, float]) -> dict[str, float]:
    top = max(scores.values())
    weights = {name: math.exp(score - top) for name, score in scores.items()}
    total = sum(weights.values())
    return {name: weight / total for name, weight in weights.items()}


class ServedTriager:
    """``model.inference.Triager``'s triage surface (``triage``, ``triage_many``, ``base_model``,
    ``adapter``) backed by a model server. The caller passes the URL and key (read once at
    its edge); nothing here reads the environment."""

    def __init__(self, url: str, api_key: str | None = None, *, model: str | None = None,
                 adapter: str | Path | None = DEFAULT_ADAPTER, server: Server = "llama.cpp",
                 timeout_s: float = 60.0, connect_timeout_s: float = 3.0, retries: int = 3,
                 backoff_s: float = 0.25):
        """``url`` is the API root (``http://127.0.0.1:8600/v1``); ``model`` the name the server
        serves the adapted model under (default: ``served_model_name(adapter)``, model.serve's alias;
        vLLM's --lora-modules name); ``adapter`` the adapter folder the server was started with, read
        for its base model, prompt style and calibration (None: a plain base in the Gemma style)."""
        if server not in SERVERS:
            raise ValueError(f"server must be one of {SERVERS}, got {server!r}")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"model server URL must start with http:// or https://, got {public_url(url)!r}")
        if api_key and (urlsplit(url).username or urlsplit(url).password):
            raise ValueError(f"the model server URL {public_url(url)!r} holds a user and password and an API key "
                             "is set too: a request carries one Authorization header, so give the key alone "
                             "(ACEDESK_MODEL_API_KEY) or the URL's credentials alone")
        self.url = url.rstrip("/")
        self.server = server
        self.adapter = str(adapter) if adapter is not None else None
        with reading_adapter(adapter):  # its files all from one ship
            meta = read_metadata(adapter) if adapter is not None else {"base_model": model, "prompt_style": "gemma"}
            self.category_bias = read_category_bias(adapter) if adapter is not None else {}
            self.review_rule = read_review_rule(adapter)
            self.model = model or served_model_name(adapter)
        self.base_model: str = meta["base_model"]
        self.style = STYLES[meta["prompt_style"]]
        """The adapter's review rule (model/review.py), as in-process."""
        self.check_weight = self.review_rule.check_weight
        """How much the category check counts in the category decision, as in-process."""
        self.timeout = (connect_timeout_s, timeout_s)
        self.retries = retries
        self.backoff_s = backoff_s
        self._auth = bearer(api_key)
        parts = urlsplit(url)
        # a query's short values ("v=1", "beta=true") are no secrets, and hiding them would blank
        # every "1" of a message ("HTTP 40***")
        self._secrets = tuple(secret for secret in (api_key, parts.password, parts.query,
                                                    *(value for _, value in parse_qsl(parts.query)
                                                      if len(value) >= SECRET_QUERY_VALUE_MIN_CHARS))
                              if secret)
        """What a message must not show, should the server echo it back (longest first, see _redact)."""
        self._local = threading.local()  # one requests.Session per thread (triage_many's workers)
        self._model_checked = -math.inf  # when the server last said it serves self.model
        self._tokenizer_file = base_tokenizer_file(self.base_model)  # missing: the desk fails at start, not per mail

    @classmethod
    def from_settings(cls, settings: Settings, adapter: str | Path | None = DEFAULT_ADAPTER, **options) -> ServedTriager:
        """The triager ``ACEDESK_MODEL_URL`` / ``ACEDESK_MODEL_API_KEY`` describe (core/settings.py),
        for the adapter the server was started with."""
        if not settings.model_url:
            raise ValueError("no model server configured (ACEDESK_MODEL_URL)")
        key = settings.model_api_key.get_secret_value() if settings.model_api_key else None
        return cls(settings.model_url, key, adapter=adapter, **options)

    def __repr__(self) -> str:  # never the key
        return f"ServedTriager({public_url(self.url)!r}, model={self.model!r}, server={self.server!r})"

    @property
    def tokenizer(self) -> PromptTokenizer:
        """The base's tokenizer, for the prompt's token cut (read at the first mail)."""
        return prompt_tokenizer(self._tokenizer_file)

    def mail_parts(self, email: Email) -> MailParts:
        """The mail as the prompt shows it, each part within its token budget, as in-process."""
        return mail_parts(email, self.tokenizer)

    # -- request bodies ---------------------------------------------------------------------
    def category_request(self, email: Email) -> dict:
        """Step 1: one token, with the alternatives the category is read from."""
        body = self._body(served_prompt(email, self.style, self.tokenizer), max_tokens=1, logprobs=TOP_LOGPROBS)
        if self.server == "llama.cpp":
            body["stream"] = True  # see the module docstring
        return body

    def answer_request(self, email: Email, category: str | None, spans: CopySpans | None = None) -> dict:
        """Step 2: the whole answer, its category fixed (None: any of the five), its copied fields
        the mail's spans (``spans``: ``copy_spans`` of the mail, when the caller has them)."""
        body = self._body(served_prompt(email, self.style, self.tokenizer), max_tokens=MAX_NEW_TOKENS)
        spans = spans if spans is not None else copy_spans(self.mail_parts(email))
        grammar = answer_grammar((category,) if category else CATEGORIES, spans)
        if self.server == "llama.cpp":
            body["grammar"] = grammar
        else:
            body["structured_outputs"] = {"grammar": grammar}
        if self.style.answer_end:  # None: the tokenizer's eos, where every server stops anyway
            body["stop"] = [self.style.answer_end]
        return body

    def _body(self, prompt: str, max_tokens: int, logprobs: int | None = None) -> dict:
        body: dict = {"model": self.model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0.0}
        if logprobs is not None:
            body["logprobs"] = logprobs
        if self.server == "llama.cpp":
            body["repeat_penalty"] = 1.0  # its default, 1.1, would not be greedy decoding
        return body

    # -- triage -----------------------------------------------------------------------------
    def triage(self, email: Email) -> TriageResult:
        """Triage one email: the category and its confidence, then the answer (module docstring)."""
        check = load_category_check().log_probabilities(email.subject, email.body) if self.check_weight else {}
        bias = {category: self.category_bias.get(category, 0.0) + self.check_weight * check.get(category, 0.0)
                for category in CATEGORIES}
        parts = self.mail_parts(email)  # before the deadline: reading the tokenizer (~2 s once) is no server's time
        deadline = time.monotonic() + self.timeout[1]
        self.check_model(deadline)
        without_quote = None
        if parts.quoted:  # first: the full prompt after it shares its start in the server's cache
            alone = category_scores(self._alternatives(Email(email.sender, email.subject, parts.text, email.date),
                                                       deadline), bias)
            without_quote = max(alone, key=alone.get) if alone else None
        scores = category_scores(self._alternatives(email, deadline), bias)
        probabilities = _softmax(scores) if scores else {}
        category = max(probabilities, key=probabilities.get) if probabilities else None

        spans = copy_spans(parts)
        answer = self._choice(self._post(self.answer_request(email, category, spans), deadline))
        text = answer.get("text")
        if not isinstance(text, str):
            raise ModelServerError(f"model server {public_url(self.url)} answered without a text")
        decided = next((name for name in CATEGORIES if text.startswith(name + '"')), None)
        if decided is None or (category and decided != category):
            raise ModelServerError(f"model server {public_url(self.url)} ignored the answer grammar "
                                   f"(answer starts {self._redact(text[:40])!r}); is server={self.server!r} right?")
        if len(self.tokenizer(text, add_special_tokens=False).input_ids) > ANSWER_TOKEN_SLACK * MAX_NEW_TOKENS:
            raise ModelServerError(f"model server {public_url(self.url)} answered more than {MAX_NEW_TOKENS} tokens "
                                   f"({len(text)} characters): it ignored max_tokens")
        try:
            repeated = repeated_fields(text)
        except RecursionError:
            raise ModelServerError(f"model server {public_url(self.url)} answered JSON nested too deep to "
                                   "read: it ignored the answer grammar") from None
        stopped = answer.get("finish_reason") == "stop"
        closed = None if stopped else close_cut_reply(text)
        result = build_result(email, decided, probabilities.get(decided, 0.0), closed or text,
                              stopped=stopped or closed is not None, parts=parts, reply_cut=closed is not None)
        result.category_without_quote = without_quote
        if category is None:
            result.problems.append("category confidence unknown: no category among the server's top tokens")
        for name in repeated:  # the grammar was ignored: a person decides which value was meant
            result.problems.append(f"the model server wrote {name} twice")
            result.valid = False
        for name in spans_not_in_mail(text, spans):  # the grammar was ignored: never act on it
            setattr(result, name, None)
            result.problems.append(f"the model server's {name} is not written in the mail; left out")
            result.valid = False
        return result

    def _alternatives(self, email: Email, deadline: float | None = None) -> dict[str, float]:
        """Step 1 for ``email``: the alternatives at the answer's first position, checked to be
        log-probabilities; -inf ones (probability 0) are left out."""
        logprobs = self._choice(self._post(self.category_request(email), deadline)).get("logprobs")
        top = logprobs.get("top_logprobs") if isinstance(logprobs, dict) else None
        first = top[0] if isinstance(top, list) and top else None
        if not first:
            raise ModelServerError(f"model server {public_url(self.url)} returned no logprobs "
                                   "(llama-cpp-python needs --logits_all true)")
        if not isinstance(first, dict) or not all(isinstance(piece, str) and _is_log_probability(value)
                                                  for piece, value in first.items()):
            raise ModelServerError(f"model server {public_url(self.url)} answered alternatives that are not "
                                   "log-probabilities")
        return {piece: float(value) for piece, value in first.items() if value != -math.inf}

    def check_model(self, deadline: float | None = None) -> None:
        """Raise ``ModelServerMismatch`` unless the server lists ``self.model`` among its models
        (asked again after ``MODEL_CHECK_EVERY_S``), answered by ``deadline`` (``time.monotonic``;
        None: within the timeout)."""
        if time.monotonic() - self._model_checked < MODEL_CHECK_EVERY_S:
            return
        try:
            listed = self._request("GET", "models", deadline=deadline)
        except ModelServerUnavailable:
            raise
        except ModelServerError as error:  # a refused key, a 404: no mail's fault either
            raise ModelServerMismatch(f"{error}, asked which models it serves") from None
        data = listed.get("data") if isinstance(listed, dict) else None
        names = {entry.get("id") for entry in data if isinstance(entry, dict)} if isinstance(data, list) else set()
        if self.model not in names:
            shown = ", ".join(sorted(repr(self._redact(name))[:80] for name in names if isinstance(name, str))[:5])
            shown = shown or "nothing"
            raise ModelServerMismatch(
                f"model server {public_url(self.url)} serves {shown}, not {self.model!r} (the adapter "
                f"{Path(self.adapter).name if self.adapter else '(none)'} with its prompt): start it for this "
                "adapter (python -m model.serve --adapter ...)")
        self._model_checked = time.monotonic()

    def triage_many(self, emails: list[Email], batch_size: int = 8) -> list[TriageResult]:
        """Triage many emails, in order. vLLM batches concurrent requests, so ``batch_size``
        mails go at once there; llama-cpp-python's server answers one request at a time, and
        interleaved mails would evict each other's prompt between the two steps."""
        workers = batch_size if self.server == "vllm" else 1
        if workers <= 1 or len(emails) <= 1:
            return [self.triage(email) for email in emails]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(self.triage, emails))

    # -- HTTP -------------------------------------------------------------------------------
    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.auth = self._auth  # set, it is what requests sends: never a URL's or ~/.netrc's instead
            adapter = WatchedAdapter()  # bounded_request's deadline cuts its connections
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        return session

    def _post(self, body: dict, deadline: float | None = None) -> dict:
        """POST to /completions and return the reply (of a streamed reply, its first event)."""
        return self._request("POST", "completions", body, deadline)

    def _request(self, method: str, name: str, body: dict | None = None, deadline: float | None = None) -> dict:
        """Send the request and return the reply's JSON (of a streamed reply, its first event),
        retrying refused connections, 5xx and a reply that broke off with exponential backoff
        (a server restarting, a proxy in front of one, a server that cancels a stream for a newer
        request). Every try ends by ``deadline`` (``time.monotonic``; None: ``timeout_s`` from now), a
        reply read up to ``MAX_ANSWER_BYTES``. A timeout is not retried: the server is busy or stuck,
        and a second request would only queue behind the first."""
        url = api_endpoint(self.url, name)
        stream = bool(body and body.get("stream"))
        deadline = time.monotonic() + self.timeout[1] if deadline is None else deadline
        reason = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(self.backoff_s * 2 ** (attempt - 1), max(deadline - time.monotonic(), 0.0)))
            left_s = deadline - time.monotonic()
            if left_s <= 0:
                raise self._timed_out(name)
            try:  # the whole answer by the deadline, never followed elsewhere, read up to the cap
                response, data = bounded_request(self._session(), method, url, deadline_s=left_s,
                                                 max_bytes=MAX_ANSWER_BYTES, json=body, timeout=self.timeout)
            except (TimeoutError, requests.Timeout, urllib3.exceptions.ReadTimeoutError) as error:
                if isinstance(error, requests.ConnectTimeout):  # no server there yet: as refused
                    reason = type(error).__name__
                    continue
                raise self._timed_out(name) from None
            except TRANSPORT_ERRORS as error:  # refused, or the answer broke off half-way
                reason = type(error).__name__
                continue
            if len(data) > MAX_ANSWER_BYTES:
                raise ModelServerError(f"model server {public_url(self.url)} answered more than "
                                       f"{MAX_ANSWER_BYTES} bytes")
            if response.is_redirect:  # the mail would go wherever Location points
                raise ModelServerError(f"model server {public_url(self.url)} answered HTTP {response.status_code}, "
                                       "a redirect: not followed, check ACEDESK_MODEL_URL")
            if response.status_code >= 500:
                reason = f"HTTP {response.status_code}"
                continue
            if response.status_code in (401, 403):
                raise ModelServerError(f"model server {public_url(self.url)} refused the API key "
                                       f"(HTTP {response.status_code})")
            if not response.ok:
                raise ModelServerError(f"model server {public_url(self.url)} answered HTTP "
                                       f"{response.status_code}: {self._redact(data[:300].decode('utf-8', 'replace'))}")
            try:
                return self._first_event(data) if stream else json.loads(data)
            except ValueError:  # UnicodeDecodeError and JSONDecodeError too
                raise ModelServerError(f"model server {public_url(self.url)} answered with something "
                                       "other than JSON") from None
        raise ModelServerUnavailable(f"model server {public_url(self.url)} unavailable after "
                                     f"{self.retries + 1} tries ({reason})")

    def _first_event(self, data: bytes) -> dict:
        """The first ``data:`` event of a server-sent event stream (read to its end: a client that
        hangs up early makes llama-cpp-python log a disconnect for every mail)."""
        events = [line[5:] for line in data.splitlines() if line.startswith(b"data:")]
        if not events or events[0].strip() == b"[DONE]":
            raise ValueError("empty event stream")
        return json.loads(events[0])

    def _timed_out(self, name: str) -> ModelServerError:
        """A request that took longer than ``timeout_s``: the mail's (``ModelServerTimeout``) when it
        asked about one and the server answers ``/models`` within one more timeout, else the server's.
        llama-cpp-python answers ``/models`` only once it has finished the late request, so the
        next mail does not queue behind it either."""
        late = f"model server {public_url(self.url)} did not answer within {self.timeout[1]:g} s"
        if name == "completions" and self._answers_models():
            return ModelServerTimeout(f"{late} on this mail, and answers otherwise")
        return ModelServerUnavailable(late)

    def _answers_models(self) -> bool:
        try:  # bounded as every request: a server dripping its headers would hold the probe for good
            response, _ = bounded_request(self._session(), "GET", api_endpoint(self.url, "models"),
                                          deadline_s=self.timeout[1], max_bytes=MAX_ANSWER_BYTES, timeout=self.timeout)
        except (TimeoutError, *TRANSPORT_ERRORS):
            return False
        return response.ok and not response.is_redirect

    def _redact(self, text: str) -> str:
        """``text`` from the server without the secrets this client sent it, also as a repr quotes them."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***").replace(repr(secret)[1:-1], "***")
        return text

    def _choice(self, reply: dict) -> dict:
        choices = reply.get("choices") if isinstance(reply, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ModelServerError(f"model server {public_url(self.url)} answered without choices")
        return choices[0]

