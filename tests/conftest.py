"""Fixtures: the real GA360 sample from ../shared, a file writer, and a cache folder of the run's own."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import shared_file


@pytest.fixture(scope="session", autouse=True)
def own_cache_folder(tmp_path_factory):
    """What the app keeps between runs (country shapes, scanned files' results) goes to a folder of
    this run, also for the servers and commands the tests start: never the user's."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture
def ga_raw() -> Path:
    return shared_file("ga360-sample/raw_sessions.csv")


@pytest.fixture
def ga_cleaned() -> Path:
    return shared_file("ga360-sample/cleaned_sessions.csv")


@pytest.fixture
def write(tmp_path):
    """Write text (or bytes) to a file in tmp_path and return its path."""

    def _write(name: str, content, encoding="utf-8") -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding=encoding)
        return path

    return _write
