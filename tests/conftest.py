"""Shared fixtures: the real servers (tests/fixtures/), the tiny model (testbed/tiny_model.py),
the MIME corpus, and settings read afresh for every test."""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import pytest

from core.settings import SecretsFileSource, Settings, load_settings
from testbed.tiny_model import build_tiny_model

REPO_ROOT = Path(__file__).resolve().parent.parent
MIME_CORPUS_DIR = REPO_ROOT / "tests" / "data" / "mime_corpus"
"""Malformed and unusual MIME messages from public parser test suites (README and licences beside them)."""
MIME_CORPUS = [MIME_CORPUS_DIR / row["file"] for row in csv.DictReader((MIME_CORPUS_DIR / "MANIFEST.csv").open())]

pytest_plugins = ["tests.fixtures.browser", "tests.fixtures.club_backend", "tests.fixtures.dovecot",
                  "tests.fixtures.scripted_http", "tests.fixtures.smtp"]


def pytest_configure(config):
    import torch

    # Tiny models gain nothing from more threads, and a training run may share these cores.
    torch.set_num_threads(int(os.environ.get("ACEDESK_TEST_THREADS", "1")))


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch, tmp_path_factory):
    """Settings are read once per process; each test reads its own environment (monkeypatch.setenv),
    and never a developer's .streamlit/secrets.toml."""
    monkeypatch.setattr(SecretsFileSource, "path", tmp_path_factory.getbasetemp() / "no-secrets.toml")
    _forget_settings()
    yield
    _forget_settings()


def _forget_settings() -> None:
    load_settings.cache_clear()
    if "ui.resources" in sys.modules:  # the app's copy (st.cache_resource), when a page test loaded it
        sys.modules["ui.resources"].desk_settings.clear()


def settings_of(environment: dict[str, str]) -> Settings:
    """The settings an environment of ``ACEDESK_*`` variables gives (and nothing else)."""
    return Settings(**{name.removeprefix("ACEDESK_").lower(): value for name, value in environment.items()})


def pytest_collection_modifyitems(config, items):
    """Tests marked ``real_model`` need the converted Gemma base: skipped unless
    ACEDESK_REAL_MODEL=1 (make test sets it), and never silently skipped under CI."""
    if os.environ.get("ACEDESK_REAL_MODEL") == "1":
        return
    if os.environ.get("CI") == "true":
        raise pytest.UsageError("CI must run the real_model tests: set ACEDESK_REAL_MODEL=1")
    skip = pytest.mark.skip(reason="needs the real default model: set ACEDESK_REAL_MODEL=1")
    for item in items:
        if "real_model" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory) -> Path:
    import torch

    torch.manual_seed(0)
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))
