"""The embedded sentence store: one SQLite database (`<dir>/index.db`), searched in memory.

SQLite holds everything (articles, sentences with their vectors as float32 blobs, each sentence's
keyword terms, and BM25 statistics in tables like the PostgreSQL store's), in WAL mode with a busy
timeout, so several processes (CLI runs, the bot, `ask`) read and write it at once without losing
each other's work. Every article is one transaction: once `put_article` returns, the article
survives the process being killed (kill -9, OOM), and a killed write leaves nothing half-done. With
`synchronous=NORMAL`, WAL's usual setting, an OS crash or power loss may roll back the last commits
(never corrupt the file); FULL would fsync every article and cut bulk indexing ~3x on this machine.

Searching never touches SQLite while nothing changed: the vectors sit in numpy matrices and the
keyword index in memory. Before a search, `PRAGMA data_version` (a few microseconds) says whether
another connection committed; only then are the new rows read, and rows of removed or re-embedded
articles dropped (sentence rowids only grow, and a re-written article gets a new `seq`).

An index of the earlier numpy format (`index.npz`) found in the directory is imported once and kept
as `index.npz.bak`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from haystack import Document

from retriever.bm25 import BM25Index
from retriever.errors import IndexDamaged, StoreError
from retriever.models import ArticleInfo
from retriever.store.identity import UNRECORDED, current_models, embedding_model_id, mismatch
from retriever.store.terms import index_terms

logger = logging.getLogger(__name__)

DIM = 384
VECTOR_BYTES = DIM * 4
SCHEMA_VERSION = 1
DB_NAME = "index.db"
_ARTICLE_COLUMNS = "article_id, title, date, sentence_count, source, indexed_at"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL, date TEXT NOT NULL, sentence_count INTEGER NOT NULL,
    source TEXT NOT NULL, indexed_at TEXT NOT NULL,
    embedding_model TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS articles_source ON articles (source);
CREATE INDEX IF NOT EXISTS articles_model ON articles (embedding_model);
CREATE TABLE IF NOT EXISTS sentences (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    article_id TEXT NOT NULL,
    sentence_number INTEGER NOT NULL,
    content TEXT NOT NULL,
    meta TEXT NOT NULL,
    terms TEXT NOT NULL,
    term_count INTEGER NOT NULL,
    embedding BLOB NOT NULL,
    context_embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS sentences_article ON sentences (article_id, sentence_number);
CREATE TABLE IF NOT EXISTS df (term TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL, removals INTEGER NOT NULL, docs INTEGER NOT NULL, total_terms INTEGER NOT NULL
);
INSERT OR IGNORE INTO state VALUES (1, 0, 0, 0, 0);
INSERT OR IGNORE INTO settings VALUES ('schema_version', '{SCHEMA_VERSION}');
"""
_DAMAGED_CODES = {"SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_CORRUPT_INDEX", "SQLITE_CORRUPT_SEQUENCE"}


class _Rows:
    """A float32 matrix that grows by appending rows, in amortised constant time per row."""

    def __init__(self) -> None:
        self._buffer = np.zeros((0, DIM), dtype=np.float32)
        self._size = 0

    @property
    def array(self) -> np.ndarray:
        return self._buffer[: self._size]

    def append(self, rows: np.ndarray) -> None:
        needed = self._size + len(rows)
        if needed > len(self._buffer):
            grown = np.zeros((max(needed, 2 * len(self._buffer), 256), DIM), dtype=np.float32)
            grown[: self._size] = self.array
            self._buffer = grown
        self._buffer[self._size : needed] = rows
        self._size = needed

    def keep(self, mask: np.ndarray) -> None:
        self._buffer = self.array[mask].copy()
        self._size = len(self._buffer)


def _blob(values: Any) -> bytes:
    if isinstance(values, list) and len(values) == DIM:
        return array("f", values).tobytes()  # 5x faster than numpy for a list of floats
    return np.asarray(values, dtype=np.float32).reshape(DIM).tobytes()


class SQLiteSentenceStore:
    """`SentenceStore` in `<path>/index.db`; see the module docstring."""

    def __init__(self, path: Path, *, model_id: str | None = None, busy_timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.file = self.path / DB_NAME
        self._model_id = model_id
        self._lock = threading.RLock()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the index directory {self.path}: {exc.strerror or exc}") from exc
        try:
            self._conn = sqlite3.connect(
                self.file, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        # in memory: the search side
        self._rowids = np.zeros(0, dtype=np.int64)
        self._seqs = np.zeros(0, dtype=np.int64)
        self._docs: list[Document] = []
        self._terms: list[list[str]] = []
        self._vectors = _Rows()
        self._contexts = _Rows()
        self._bm25: BM25Index | None = None
        self._seq_of: dict[str, int] = {}
        self._data_version: int | None = None
        self._version = -1
        self._removals = -1
        self._loaded = False
        self._bumped = False
        self._model_seen: int | None = None  # data_version at the last model check
        self._dirty = False
        self._unreported = False
        self._problems: list[str] = []
        with self._guard():
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._create_schema()
            self._problems = self._quick_problems()
        self._import_npz()

    # ---- errors ----------------------------------------------------------------------------------

    def _damaged(self, detail: str) -> IndexDamaged:
        return IndexDamaged(
            f"{self.file} is damaged ({detail}); restore it from a backup, or move it away and index "
            "your articles again (`newsqa index`)"
        )

    def _error(self, exc: sqlite3.Error) -> StoreError:
        code = getattr(exc, "sqlite_errorname", "")
        if code in _DAMAGED_CODES or code.startswith("SQLITE_CORRUPT"):
            return self._damaged(str(exc))
        if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return StoreError(f"{self.file} stayed locked by another newsqa process; try again")
        if code.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM")):
            return StoreError(f"cannot write {self.file} ({exc}); check NEWSQA_DATA_DIR and its permissions")
        return StoreError(f"{self.file}: {exc}")

    @contextlib.contextmanager
    def _guard(self) -> Iterator[sqlite3.Connection]:
        """The connection under the lock, with SQLite's errors turned into the store's."""
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                raise self._error(exc) from exc

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; `BEGIN IMMEDIATE` queues it behind other processes' writers."""
        with self._guard() as conn:
            conn.execute("BEGIN IMMEDIATE")
            self._bumped = False
            try:
                yield conn
                if not self._bumped:
                    conn.execute("UPDATE state SET version = version + 1 WHERE id = 1")
                conn.execute("COMMIT")
                self._dirty = True
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _create_schema(self) -> None:
        with contextlib.suppress(sqlite3.OperationalError):  # another process may hold the write lock
            if self._conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'state'").fetchone():
                return
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._conn.execute(statement)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    # ---- model identity ---------------------------------------------------------------------------

    @property
    def model_id(self) -> str:
        if self._model_id is None:
            self._model_id = embedding_model_id()
        return self._model_id

    def embedding_models(self) -> dict[str, int]:
        """How many articles each embedding model built ("" for articles from before it was recorded)."""
        with self._guard() as conn:
            rows = conn.execute("SELECT embedding_model, count(*) FROM articles GROUP BY 1").fetchall()
        return {str(model): int(n) for model, n in rows}

    def _check_model(self, conn: sqlite3.Connection, *, writing: bool = False) -> None:
        if writing:
            # only another process can have stamped another model: skip while none committed
            seen = conn.execute("PRAGMA data_version").fetchone()[0]
            if seen == self._model_seen:
                return
            self._model_seen = seen
        row = conn.execute(
            "SELECT embedding_model FROM articles WHERE embedding_model NOT IN (?, ?) LIMIT 1",
            current_models(self.model_id),
        ).fetchone()
        if row:
            raise mismatch(str(self.file), {str(row[0])}, self.model_id)

    # ---- integrity --------------------------------------------------------------------------------

    def _quick_problems(self) -> list[str]:
        """Cheap checks run on every open: row counts of articles, sentences and statistics agree."""
        conn = self._conn
        conn.execute("BEGIN")
        try:
            expected, articles = conn.execute(
                "SELECT coalesce(sum(sentence_count), 0), count(*) FROM articles"
            ).fetchone()
            sentences = conn.execute("SELECT count(*) FROM sentences").fetchone()[0]
            docs = conn.execute("SELECT docs FROM state WHERE id = 1").fetchone()
        finally:
            conn.execute("COMMIT")
        problems = []
        if sentences != expected:
            problems.append(
                f"its {articles} articles have {expected} sentences, but {sentences} sentence rows"
            )
        if docs is None or docs[0] != sentences:
            problems.append(
                f"the keyword statistics count {docs[0] if docs else '?'} of {sentences} sentences"
            )
        return problems

    def _raise_if_damaged(self) -> None:
        if self._problems:
            raise IndexDamaged(
                f"{self.file} is damaged ({'; '.join(self._problems)}); run `newsqa reindex` to repair it "
                "from the stored sentences, or restore it from a backup"
            )

    def check(self) -> list[str]:
        """Every problem found by a full check (SQLite's quick_check, row counts, vector sizes,
        statistics, model identity); empty when the index is sound. Never raises for damage."""
        try:
            with self._guard() as conn:
                problems = [
                    f"SQLite quick_check: {row[0]}"
                    for row in conn.execute("PRAGMA quick_check").fetchall()
                    if row[0] != "ok"
                ]
                if problems:
                    return problems
                problems = self._quick_problems()
                bad = conn.execute(
                    "SELECT count(*) FROM sentences"
                    " WHERE length(embedding) != ? OR length(context_embedding) != ?",
                    (VECTOR_BYTES, VECTOR_BYTES),
                ).fetchone()[0]
                if bad:
                    problems.append(f"{bad} sentences have no valid {DIM}-dim vector")
                orphans = conn.execute(
                    "SELECT count(*) FROM sentences s WHERE NOT EXISTS"
                    " (SELECT 1 FROM articles a WHERE a.article_id = s.article_id)"
                ).fetchone()[0]
                if orphans:
                    problems.append(f"{orphans} sentences belong to no article")
                models = {m for m in self.embedding_models() if m not in current_models(self.model_id)}
                if models:
                    problems.append(str(mismatch("the index", models, self.model_id)))
                return problems
        except IndexDamaged as exc:
            return [str(exc)]

    def stale_articles(self) -> list[str]:
        """Articles `newsqa reindex` must re-embed: another model's, or with a missing/bad vector."""
        with self._guard() as conn:
            rows = conn.execute(
                "SELECT article_id FROM articles WHERE embedding_model NOT IN (?, ?) UNION"
                " SELECT article_id FROM sentences"
                " WHERE length(embedding) != ? OR length(context_embedding) != ?",
                (*current_models(self.model_id), VECTOR_BYTES, VECTOR_BYTES),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def repair(self) -> list[str]:
        """Make the rows consistent again: drop sentences of no article, drop articles that lost
        sentences (their files must be indexed again), recount the BM25 statistics. Returns what it did."""
        done: list[str] = []
        with self._write() as conn:
            gone = conn.execute(
                "DELETE FROM sentences WHERE article_id NOT IN (SELECT article_id FROM articles)"
            ).rowcount
            if gone:
                done.append(f"removed {gone} sentences that belonged to no article")
            twice = conn.execute(
                "DELETE FROM sentences WHERE rowid NOT IN"
                " (SELECT min(rowid) FROM sentences GROUP BY article_id, sentence_number)"
            ).rowcount
            if twice:
                done.append(f"removed {twice} sentences stored twice")
            broken = conn.execute(
                "SELECT a.article_id, a.title, a.source FROM articles a WHERE a.sentence_count !="
                " (SELECT count(*) FROM sentences s WHERE s.article_id = a.article_id)"
            ).fetchall()
            for article_id, title, source in broken:
                conn.execute("DELETE FROM sentences WHERE article_id = ?", (article_id,))
                conn.execute("DELETE FROM articles WHERE article_id = ?", (article_id,))
                done.append(f"removed the incomplete article {article_id} {title!r}; index {source} again")
            self._recount(conn)
            conn.execute("UPDATE state SET removals = removals + 1 WHERE id = 1")
        self._problems = self._quick_problems()
        return done

    def _recount(self, conn: sqlite3.Connection) -> None:
        df: Counter[str] = Counter()
        docs = total = 0
        for (terms,) in conn.execute("SELECT terms FROM sentences"):
            words = terms.split()
            df.update(set(words))
            docs += 1
            total += len(words)
        conn.execute("DELETE FROM df")
        conn.executemany("INSERT INTO df VALUES (?, ?)", df.items())
        conn.execute("UPDATE state SET docs = ?, total_terms = ? WHERE id = 1", (docs, total))

    # ---- reading (straight from SQLite: always current, indexed lookups) -------------------------

    def _select_articles(self, where: str, params: tuple[Any, ...]) -> list[ArticleInfo]:
        self._raise_if_damaged()
        with self._guard() as conn:
            rows = conn.execute(
                f"SELECT {_ARTICLE_COLUMNS} FROM articles {where} ORDER BY indexed_at DESC, seq DESC", params
            ).fetchall()
        return [ArticleInfo(*row) for row in rows]

    def articles(self) -> list[ArticleInfo]:
        return self._select_articles("", ())

    def article(self, article_id: str) -> ArticleInfo | None:
        found = self._select_articles("WHERE article_id = ?", (article_id,))
        return found[0] if found else None

    def article_by_source(self, source: str) -> ArticleInfo | None:
        found = self._select_articles("WHERE source = ?", (source,))
        return found[0] if found else None

    def sentences(self, article_id: str, with_vectors: bool = True) -> list[Document]:
        if with_vectors:
            self._raise_if_damaged()
        with self._guard() as conn:
            rows = conn.execute(
                "SELECT id, content, meta, embedding FROM sentences WHERE article_id = ?"
                " ORDER BY sentence_number",
                (article_id,),
            ).fetchall()
        docs = []
        for doc_id, content, meta, embedding in rows:
            vector = None
            if with_vectors:
                if len(embedding) != VECTOR_BYTES:
                    self._problems.append(f"sentence {doc_id} has no valid {DIM}-dim vector")
                    self._raise_if_damaged()
                vector = np.frombuffer(embedding, dtype=np.float32).tolist()
            docs.append(Document(id=doc_id, content=content, meta=json.loads(meta), embedding=vector))
        return docs

    def count_sentences(self) -> int:
        with self._guard() as conn:
            return int(conn.execute("SELECT count(*) FROM sentences").fetchone()[0])

    # ---- writing ----------------------------------------------------------------------------------

    def put_article(
        self, article: ArticleInfo, sentences: Sequence[Document], replaces: str | None = None
    ) -> None:
        self.put_articles([(article, sentences, replaces)])

    def put_articles(self, items: Sequence[tuple[ArticleInfo, Sequence[Document], str | None]]) -> None:
        """Several articles in one transaction (bulk loads that report nothing per article, e.g.
        benchmarks and imports); `put_article` is this for one."""
        prepared = [
            (article, self._rows(article, sentences), replaces) for article, sentences, replaces in items
        ]
        self._raise_if_damaged()
        with self._write() as conn:
            self._check_model(conn, writing=True)
            for article, rows, replaces in prepared:
                self._remove(
                    conn, list(dict.fromkeys([article.article_id, *([replaces] if replaces else [])]))
                )
                self._insert(conn, article, rows)

    def _rows(self, article: ArticleInfo, sentences: Sequence[Document]) -> list[tuple[Any, ...]]:
        rows = []
        for doc in sentences:
            if doc.meta.get("article_id") != article.article_id:
                raise ValueError(
                    f"sentence {doc.id} belongs to {doc.meta.get('article_id')!r}, not {article.article_id!r}"
                )
            if doc.embedding is None or len(doc.embedding) != DIM:
                raise ValueError(f"sentence {doc.id} has no {DIM}-dim embedding")
            content = doc.content or ""
            terms = index_terms(content)
            meta = {k: v for k, v in doc.meta.items() if k != "context_embedding"}
            context = doc.meta.get("context_embedding")
            rows.append(
                (
                    doc.id,
                    article.article_id,
                    int(meta.get("sentence_number", 0)),
                    content,
                    json.dumps(meta, ensure_ascii=False),
                    " ".join(terms),
                    len(terms),
                    _blob(doc.embedding),
                    _blob(context if context is not None else doc.embedding),
                )
            )
        return rows

    def _insert(self, conn: sqlite3.Connection, article: ArticleInfo, rows: list[tuple[Any, ...]]) -> None:
        conn.executemany(
            "INSERT INTO sentences (id, article_id, sentence_number, content, meta, terms, term_count,"
            " embedding, context_embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        df = Counter(term for row in rows for term in set(row[5].split()))
        conn.executemany(
            "INSERT INTO df (term, df) VALUES (?, ?) ON CONFLICT (term) DO UPDATE SET df = df + excluded.df",
            df.items(),
        )
        conn.execute(
            "UPDATE state SET docs = docs + ?, total_terms = total_terms + ?, version = version + 1"
            " WHERE id = 1",
            (len(rows), sum(row[6] for row in rows)),
        )
        self._bumped = True
        conn.execute(
            f"INSERT INTO articles ({_ARTICLE_COLUMNS}, embedding_model) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                article.article_id,
                article.title,
                article.date,
                article.sentence_count,
                article.source,
                article.indexed_at,
                self.model_id,
            ),
        )

    def _remove(self, conn: sqlite3.Connection, article_ids: list[str]) -> int:
        marks = ",".join("?" * len(article_ids))
        removed = conn.execute(f"DELETE FROM articles WHERE article_id IN ({marks})", article_ids).rowcount
        if not removed:
            return 0  # the common case, a new article (an article's sentences never outlive it)
        gone = conn.execute(
            f"SELECT terms FROM sentences WHERE article_id IN ({marks})", article_ids
        ).fetchall()
        df = Counter(term for (terms,) in gone for term in set(terms.split()))
        conn.executemany("UPDATE df SET df = df - ? WHERE term = ?", [(n, t) for t, n in df.items()])
        conn.execute("DELETE FROM df WHERE df <= 0")
        conn.execute(f"DELETE FROM sentences WHERE article_id IN ({marks})", article_ids)
        conn.execute(
            "UPDATE state SET docs = docs - ?, total_terms = total_terms - ?, removals = removals + 1"
            " WHERE id = 1",
            (len(gone), sum(len(terms.split()) for (terms,) in gone)),
        )
        return removed

    def delete_article(self, article_id: str) -> bool:
        self._raise_if_damaged()
        with self._write() as conn:
            return self._remove(conn, [article_id]) > 0

    def replace_vectors(self, article_id: str, sentences: Sequence[Document]) -> None:
        """New vectors for an article's stored sentences (`newsqa reindex`), stamped with this store's
        model, in one transaction. The rows are written anew, so other processes see the change."""
        vectors = {}
        for doc in sentences:
            if doc.embedding is None or len(doc.embedding) != DIM:
                raise ValueError(f"sentence {doc.id} has no {DIM}-dim embedding")
            context = doc.meta.get("context_embedding")
            vectors[doc.id] = (_blob(doc.embedding), _blob(context if context is not None else doc.embedding))
        with self._write() as conn:
            row = conn.execute(
                f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE article_id = ?", (article_id,)
            ).fetchone()
            if row is None:
                return  # deleted meanwhile
            stored = conn.execute(
                "SELECT id, article_id, sentence_number, content, meta, terms, term_count FROM sentences"
                " WHERE article_id = ? ORDER BY sentence_number",
                (article_id,),
            ).fetchall()
            if {r[0] for r in stored} != set(vectors):
                raise ValueError(f"the new vectors do not match the stored sentences of {article_id}")
            conn.execute("DELETE FROM sentences WHERE article_id = ?", (article_id,))
            conn.execute("DELETE FROM articles WHERE article_id = ?", (article_id,))
            conn.executemany(
                "INSERT INTO sentences (id, article_id, sentence_number, content, meta, terms, term_count,"
                " embedding, context_embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(*r, *vectors[r[0]]) for r in stored],
            )
            conn.execute(
                f"INSERT INTO articles ({_ARTICLE_COLUMNS}, embedding_model) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*row, self.model_id),
            )
            conn.execute("UPDATE state SET removals = removals + 1 WHERE id = 1")

    @contextlib.contextmanager
    def bulk(self) -> Iterator[None]:
        """Nothing to group: every `put_article` is its own committed transaction, so a long run is
        durable article by article and never holds the write lock for long."""
        yield

    # ---- the in-memory search side ----------------------------------------------------------------

    def _sync(self) -> bool:
        """Bring the matrices up to date with the database; True when something changed."""
        conn = self._conn
        data_version = conn.execute("PRAGMA data_version").fetchone()[0]
        others = data_version != self._data_version  # data_version ignores this connection's commits
        if self._loaded and not others and not self._dirty:
            return False
        self._dirty = False
        conn.execute("BEGIN")  # one snapshot for everything read below
        try:
            version, removals = conn.execute("SELECT version, removals FROM state WHERE id = 1").fetchone()
            if version == self._version:
                self._data_version = data_version
                return False
            changed = others or not self._loaded
            self._check_model(conn)
            if removals != self._removals or not self._loaded:
                current = dict(conn.execute("SELECT article_id, seq FROM articles").fetchall())
                keep = np.fromiter(
                    (
                        current.get(d.meta["article_id"]) == seq
                        for d, seq in zip(self._docs, self._seqs, strict=True)
                    ),
                    dtype=bool,
                    count=len(self._docs),
                )
                if not keep.all():
                    self._drop(keep)
                self._seq_of = current
            else:
                self._seq_of.update(
                    conn.execute(
                        "SELECT article_id, seq FROM articles WHERE seq > ?",
                        (max(self._seq_of.values(), default=0),),
                    ).fetchall()
                )
            last = int(self._rowids[-1]) if len(self._rowids) else 0
            new = conn.execute(
                "SELECT rowid, id, article_id, content, meta, terms, embedding, context_embedding"
                " FROM sentences WHERE rowid > ? ORDER BY rowid",
                (last,),
            ).fetchall()
        finally:
            conn.execute("COMMIT")
        self._append(new)
        self._version, self._removals, self._data_version = version, removals, data_version
        self._loaded = True
        self._bm25 = None
        self._unreported = self._unreported or changed
        return changed

    def _drop(self, keep: np.ndarray) -> None:
        self._rowids = self._rowids[keep]
        self._seqs = self._seqs[keep]
        self._docs = [d for d, k in zip(self._docs, keep, strict=True) if k]
        self._terms = [t for t, k in zip(self._terms, keep, strict=True) if k]
        self._vectors.keep(keep)
        self._contexts.keep(keep)

    def _append(self, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        vectors = np.empty((len(rows), DIM), dtype=np.float32)
        contexts = np.empty((len(rows), DIM), dtype=np.float32)
        seqs = np.empty(len(rows), dtype=np.int64)
        for i, (_, doc_id, article_id, content, meta, terms, embedding, context) in enumerate(rows):
            if len(embedding) != VECTOR_BYTES or len(context) != VECTOR_BYTES:
                self._problems.append(f"sentence {doc_id} has no valid {DIM}-dim vector")
                self._raise_if_damaged()
            seq = self._seq_of.get(article_id)
            if seq is None:
                self._problems.append(f"sentence {doc_id} belongs to no article")
                self._raise_if_damaged()
            vectors[i] = np.frombuffer(embedding, dtype=np.float32)
            contexts[i] = np.frombuffer(context, dtype=np.float32)
            seqs[i] = seq
            self._docs.append(Document(id=doc_id, content=content, meta=json.loads(meta)))
            self._terms.append(terms.split())
        self._rowids = np.concatenate([self._rowids, np.fromiter((r[0] for r in rows), np.int64, len(rows))])
        self._seqs = np.concatenate([self._seqs, seqs])
        self._vectors.append(vectors)
        self._contexts.append(contexts)

    def refresh(self) -> bool:
        """Pick up other processes' commits; True when they changed the index since the last call."""
        self._raise_if_damaged()
        with self._guard():
            self._sync()
            changed, self._unreported = self._unreported, False
            return changed

    def check_searchable(self) -> None:
        self._raise_if_damaged()
        with self._guard():
            self._sync()

    def _hits(self, scores: np.ndarray, top_k: int) -> list[Document]:
        if not len(scores) or top_k <= 0:
            return []
        k = min(top_k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        out = []
        for i in top:
            row = int(i)
            doc = self._docs[row]
            # vectors as numpy rows in meta: see retriever/store/base.py
            meta = {
                **doc.meta,
                "sentence_embedding": self._vectors.array[row].copy(),
                "context_embedding": self._contexts.array[row].copy(),
            }
            out.append(Document(id=doc.id, content=doc.content, meta=meta, score=float(scores[row])))
        return out

    def keyword_search(self, query: str, top_k: int) -> list[Document]:
        self._raise_if_damaged()
        with self._guard():
            self._sync()
            if self._bm25 is None:
                self._bm25 = BM25Index.from_terms(self._terms)
            scores = self._bm25.scores_for_terms(index_terms(query))
            return [d for d in self._hits(scores, top_k) if (d.score or 0.0) > 0.0]

    def embedding_search(self, embedding: Sequence[float], top_k: int) -> list[Document]:
        self._raise_if_damaged()
        with self._guard():
            self._sync()
            return self._hits(self._vectors.array @ np.asarray(embedding, dtype=np.float32), top_k)

    # ---- the earlier numpy format ----------------------------------------------------------------

    def _import_npz(self) -> None:
        old = self.path / "index.npz"
        if not old.exists():
            return
        try:
            with np.load(old, allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode("utf-8"))
                vectors = np.asarray(data["vectors"], dtype=np.float32).reshape(-1, DIM)
                contexts = np.asarray(data["contexts"], dtype=np.float32).reshape(-1, DIM)
            articles = [ArticleInfo(**a) for a in meta["articles"]]
            documents = meta["documents"]
            if len(documents) != len(vectors) or len(documents) != len(contexts):
                raise ValueError(f"{len(documents)} sentences but {len(vectors)} vectors")
        except Exception as exc:
            raise IndexDamaged(
                f"{old} (an index of an earlier newsqa) cannot be imported ({exc}); move it away and "
                "index your articles again"
            ) from exc
        by_article: dict[str, list[Document]] = {}
        for i, d in enumerate(documents):
            meta_i = dict(d["meta"])
            meta_i["context_embedding"] = contexts[i]
            by_article.setdefault(meta_i["article_id"], []).append(
                Document(id=d["id"], content=d["content"], meta=meta_i, embedding=vectors[i].tolist())
            )
        with self._write() as conn:
            if conn.execute("SELECT value FROM settings WHERE key = 'npz_imported'").fetchone():
                return  # another process did it just now
            for article in articles:
                self._remove(conn, [article.article_id])
                rows = []
                for doc in sorted(
                    by_article.get(article.article_id, []), key=lambda x: x.meta["sentence_number"]
                ):
                    terms = index_terms(doc.content or "")
                    meta_doc = {k: v for k, v in doc.meta.items() if k != "context_embedding"}
                    rows.append(
                        (
                            doc.id,
                            article.article_id,
                            int(meta_doc.get("sentence_number", 0)),
                            doc.content or "",
                            json.dumps(meta_doc, ensure_ascii=False),
                            " ".join(terms),
                            len(terms),
                            _blob(doc.embedding),
                            _blob(doc.meta["context_embedding"]),
                        )
                    )
                self._insert(conn, article, rows)
                # imported vectors carry no model record: the npz format predates it
                conn.execute(
                    "UPDATE articles SET embedding_model = ? WHERE article_id = ?",
                    (UNRECORDED, article.article_id),
                )
            conn.execute("INSERT INTO settings VALUES ('npz_imported', ?)", (str(old),))
        backup = old.with_name("index.npz.bak")
        with contextlib.suppress(FileNotFoundError):
            old.replace(backup)
        for leftover in [self.path / "index.lock", *self.path.glob(".index-*.npz")]:
            with contextlib.suppress(OSError):
                leftover.unlink()
        logger.warning("imported %d articles from %s (kept as %s)", len(articles), old, backup)
        self._problems = self._quick_problems()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def to_dict(self) -> dict[str, Any]:
        found = {"type": "sqlite", "path": str(self.path)}
        return {**found, "model_id": self._model_id} if self._model_id else found
