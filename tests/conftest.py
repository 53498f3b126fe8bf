"""Fixtures: the real GA360 sample from ../shared, a file writer, a cache folder of the run's own and
Spark in local mode."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from helpers import shared_file, unavailable


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


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """A SparkSession in local mode (two cores), shared by the tests that run queries on Spark."""
    if shutil.which("java") is None:
        unavailable("no Java runtime: Spark's local mode needs one (Debian: default-jre-headless)")
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("leak_app tests")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("spark-warehouse")))
               .getOrCreate())
    yield session
    session.stop()
