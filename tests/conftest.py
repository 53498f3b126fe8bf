"""Fixtures: the real GA360 sample from ../shared and a file writer."""
from __future__ import annotations

from pathlib import Path

import pytest
from helpers import shared_file


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
