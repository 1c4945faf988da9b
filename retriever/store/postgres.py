"""PostgreSQL + pgvector backend of `SentenceStore`, for deployments that share one database.

Sentences live in a pgvector-haystack `PgvectorDocumentStore` table with an HNSW index and are
searched through `PgvectorEmbeddingRetriever` and `PgvectorKeywordRetriever`. Keyword search is
Postgres full text with BM25 scoring: the sentences' German terms (analysed by `retriever.german`,
exactly as the embedded store does) sit in a GIN-indexed tsvector side table, with document
frequencies and corpus totals kept up to date by every write. Scores are BM25 divided by the query's
ideal score, as in `retriever.bm25`, because the hybrid ranker adds them to cosine similarities with a
tuned weight and the abstain threshold depends on that scale; Postgres' own ts_rank has another one.

Article metadata lives in a small side table. Every write is one transaction on a connection of
its own, so readers never see an article twice or half-replaced; a change counter lets other
processes notice writes (`refresh`). `retriever.store.open_store` imports this module only for
postgresql:// URLs, so the embedded mode never needs psycopg or pgvector-haystack.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any, Literal, TypeVar

import numpy as np
import psycopg
from haystack import Document
from haystack.document_stores.errors import DocumentStoreError
from haystack.utils import Secret
from haystack_integrations.components.retrievers.pgvector import (
    PgvectorEmbeddingRetriever,
    PgvectorKeywordRetriever,
)
from haystack_integrations.document_stores.pgvector import PgvectorDocumentStore
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.pq import Format
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from retriever.errors import StoreError
from retriever.models import ArticleInfo
from retriever.store.identity import current_models, embedding_model_id, mismatch
from retriever.store.terms import index_terms

URL_ENV = "NEWSQA_DOCUMENT_STORE"
EMBEDDING_DIM = 384
# Okapi BM25 parameters of retriever.bm25.BM25Index, so both stores score alike.
K1, B = 1.2, 0.75
_MAX_POSITION = 16383  # largest position a tsvector can hold
_ARTICLE_COLUMNS = "article_id, title, date, sentence_count, source, indexed_at"
_SCHEMA_LOCK_KEY = 0x6E657773  # any constant; the same in every newsqa process
T = TypeVar("T")


def _names(sentences_table: str, articles_table: str) -> dict[str, sql.Composable]:
    return {
        "sentences": sql.Identifier(sentences_table),
        "terms": sql.Identifier(f"{sentences_table}_terms"),
        "df": sql.Identifier(f"{sentences_table}_df"),
        "articles": sql.Identifier(articles_table),
        "state": sql.Identifier(f"{articles_table}_state"),
    }


# One parameter: the query's analysed terms, space-separated. Only the best `top_k` rows of the terms
# table are joined back to the (wide) sentences table.
_BM25_QUERY = """
WITH q AS (
    SELECT t.term, ln(1 + (st.docs - coalesce(d.df, 0) + 0.5) / (coalesce(d.df, 0) + 0.5)) AS idf
    FROM (SELECT DISTINCT unnest(string_to_array(%s, ' ')) AS term) t
    CROSS JOIN {state} st
    LEFT JOIN {df} d ON d.term = t.term
    WHERE st.id = 1
), corpus AS (
    SELECT greatest(total_terms::float8 / greatest(docs, 1), 1e-9) AS avgdl,
           (SELECT sum(idf) * ({k1} + 1) FROM q) AS ideal
    FROM {state} WHERE id = 1
), hits AS (
    SELECT b.id, (
        SELECT sum(q.idf * cardinality(u.positions) * ({k1} + 1)
                   / (cardinality(u.positions) + {k1} * (1 - {b} + {b} * b.term_count / corpus.avgdl)))
        FROM unnest(b.terms) u JOIN q ON q.term = u.lexeme
    ) / corpus.ideal AS score
    FROM {terms} b, corpus
    WHERE b.terms @@ (SELECT string_agg(quote_literal(term), ' | ')::tsquery FROM q)
    ORDER BY score DESC, b.id
    LIMIT {top_k}
)
SELECT s.id, s.embedding, s.context_embedding, s.content, s.blob_data, s.blob_meta, s.blob_mime_type, s.meta,
       hits.score
FROM hits JOIN {sentences} s ON s.id = hits.id
ORDER BY hits.score DESC, hits.id
"""


class _NewsqaPgvectorStore(PgvectorDocumentStore):
    """`PgvectorDocumentStore` with BM25 keyword queries and `hnsw.ef_search` set on every connection."""

    def __init__(self, *, ef_search: int, articles_table: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ef_search = ef_search
        self.names = _names(self.table_name, articles_table)

    def _create_connection(self) -> psycopg.Connection:
        # As a startup option ef_search also holds after the reconnect the parent does when the
        # connection was lost; the parent's own `hnsw_ef_search` is SET once, on the first connection.
        try:
            return psycopg.Connection.connect(
                self.connection_string.resolve_value() or "", options=f"-c hnsw.ef_search={self.ef_search}"
            )
        except psycopg.Error as exc:
            raise DocumentStoreError(f"Failed to connect to PostgreSQL: {exc}") from exc

    def _ensure_db_setup(self) -> None:
        super()._ensure_db_setup()
        # Binary results: vectors arrive as float32 bytes (numpy) instead of text that pgvector parses
        # in Python, which cost ~20 ms per question for the ~200 vectors of 100 candidates.
        if self._connection is not None and (
            self._dict_cursor is None or self._dict_cursor.format != Format.BINARY
        ):
            self._dict_cursor = self._connection.cursor(row_factory=dict_row, binary=True)

    def _build_keyword_retrieval_query(
        self, query: str, top_k: int, filters: dict[str, Any] | None = None
    ) -> tuple[sql.Composed, tuple[Any, ...]]:
        # `query` is already the analysed terms (see PostgresSentenceStore.keyword_search); the parent
        # binds it as the first parameter.
        if filters:
            raise ValueError("newsqa keyword search takes no filters")
        composed = sql.SQL(_BM25_QUERY).format(
            **self.names, k1=sql.Literal(K1), b=sql.Literal(B), top_k=sql.Literal(top_k)
        )
        return composed, ()


def normalise_url(url: str) -> str:
    """libpq URL from SQLAlchemy-style ones (postgresql+psycopg://, postgresql+asyncpg://, postgres://)."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep or scheme.split("+", 1)[0] not in {"postgresql", "postgres"}:
        raise ValueError(f"not a PostgreSQL URL: {mask_url(url)!r}")
    return f"postgresql://{rest}"


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***, for logs and `to_dict`."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:***@{host}"
    query = [(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="/*"), parts.fragment))


def term_vector(text: str) -> tuple[str, int, list[str]]:
    """(tsvector literal, term count, distinct terms) of a sentence, analysed like the embedded store.

    Positions carry the term frequencies BM25 needs. The literal is built directly rather than with
    to_tsvector, whose parser would split the analysed terms differently from `retriever.german`;
    terms are `\\w+` runs, so quoting them needs no escapes. Terms over the full-text limit are left
    out (`retriever.store.terms`), so a 3,000-character word cannot fail the article.
    """
    terms = index_terms(text)
    positions: dict[str, list[int]] = {}
    for i, term in enumerate(terms, start=1):
        positions.setdefault(term, []).append(min(i, _MAX_POSITION))
    literal = " ".join(f"'{term}':{','.join(map(str, pos))}" for term, pos in positions.items())
    return literal, len(terms), list(positions)


@contextlib.contextmanager
def _errors(url: str) -> Iterator[None]:
    """PostgreSQL's connection failures (server down, wrong password or port) as one-line StoreErrors."""
    try:
        yield
    except (psycopg.OperationalError, DocumentStoreError) as exc:
        cause = exc.__cause__ if isinstance(exc, DocumentStoreError) and exc.__cause__ else exc
        lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
        detail = lines[0] if lines else type(cause).__name__
        for line in lines:  # libpq puts the useful part (e.g. "password authentication failed") last
            if "FATAL" in line or "failed:" in line:
                detail = line
        raise StoreError(
            f"PostgreSQL at {mask_url(url)} (NEWSQA_DOCUMENT_STORE) cannot be used: {detail}"
        ) from exc


def _vec(values: Sequence[float]) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def _as_result(doc: Document) -> Document:
    """A search result with its vectors as float32 numpy rows in meta (`sentence_embedding`,
    `context_embedding`), which haystack's deep copy of component inputs copies in one memcpy instead
    of 384 floats at a time; `Document.embedding` would turn an array back into a list, so it stays
    empty. The paragraph vector (the row's context_embedding column, which haystack put into meta)
    falls back to the sentence's own."""
    embedding = np.asarray(doc.embedding, dtype=np.float32)
    context: Any = doc.meta.get("context_embedding")
    if context is None:
        context = embedding.copy()
    elif hasattr(context, "to_numpy"):  # pgvector's Vector, should results come in text format
        context = context.to_numpy()
    meta = {
        **doc.meta,
        "sentence_embedding": embedding,
        "context_embedding": np.asarray(context, dtype=np.float32),
    }
    return replace(doc, embedding=None, meta=meta)


class PostgresSentenceStore:
    """`SentenceStore` on PostgreSQL with pgvector; see the module docstring."""

    def __init__(
        self,
        url: str,
        *,
        sentences_table: str = "newsqa_sentences",
        articles_table: str = "newsqa_articles",
        ef_search: int = 100,
        hnsw_m: int = 16,
        hnsw_ef_construction: int = 64,
        model_id: str | None = None,
    ) -> None:
        self._url = normalise_url(url)
        self._model_id = model_id
        self._sentences_table = sentences_table
        self._articles_table = articles_table
        self._n = _names(sentences_table, articles_table)
        self._hnsw = {"m": hnsw_m, "ef_construction": hnsw_ef_construction}
        self._docs = _NewsqaPgvectorStore(
            connection_string=Secret.from_token(self._url),
            create_extension=False,  # done once in _setup, not on every (re)connect
            table_name=sentences_table,
            articles_table=articles_table,
            # Only for the parent's own GIN index on to_tsvector(content), which BM25 does not use;
            # it keeps plain German full-text search available for ad-hoc SQL.
            language="german",
            embedding_dimension=EMBEDDING_DIM,
            vector_function="inner_product",  # the vectors are normalised: inner product == cosine
            # _setup creates the HNSW index itself (IF NOT EXISTS); the parent would log a warning on
            # every start that the index exists. Queries are the same for both strategies.
            search_strategy="exact_nearest_neighbor",
            keyword_index_name=f"{sentences_table}_fts",
            ef_search=ef_search,
        )
        self._keyword = PgvectorKeywordRetriever(document_store=self._docs)
        self._dense = PgvectorEmbeddingRetriever(document_store=self._docs, vector_function="inner_product")
        # psycopg connections may be shared between threads, but a cursor may not, and a transaction
        # is visible to every thread using its connection: reads and writes get one connection each.
        self._read_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._reader: psycopg.Connection | None = None
        self._writer: psycopg.Connection | None = None
        self._ready = False
        self._model_checked = False
        self._seen_version: int | None = None

    # ---- connections and schema ------------------------------------------------------------------

    def _q(self, template: str, **extra: sql.Composable) -> sql.Composed:
        return sql.SQL(template).format(**self._n, **extra)

    def _connect(self) -> psycopg.Connection:
        conn = psycopg.connect(self._url, autocommit=True)
        if self._ready:
            register_vector(conn)
        return conn

    def _setup(self) -> None:
        if self._ready:
            return
        with _errors(self._url), self._connect() as conn:
            # Serialises schema creation of processes that start together (bot and indexer).
            conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK_KEY,))
            try:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                self._docs.count_documents()  # makes the parent create its table
                for statement in self._schema_sql():
                    conn.execute(statement)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK_KEY,))
        self._ready = True

    def _schema_sql(self) -> list[sql.Composed]:
        extra = {
            "hnsw": sql.Identifier(f"{self._sentences_table}_hnsw"),
            "by_article": sql.Identifier(f"{self._sentences_table}_article"),
            "terms_gin": sql.Identifier(f"{self._sentences_table}_terms_gin"),
            "terms_by_article": sql.Identifier(f"{self._sentences_table}_terms_article"),
            "by_source": sql.Identifier(f"{self._articles_table}_source"),
            "m": sql.Literal(self._hnsw["m"]),
            "efc": sql.Literal(self._hnsw["ef_construction"]),
            "dim": sql.Literal(EMBEDDING_DIM),
        }
        statements = [
            "CREATE INDEX IF NOT EXISTS {hnsw} ON {sentences} USING hnsw (embedding vector_ip_ops)"
            " WITH (m = {m}, ef_construction = {efc})",
            # The paragraph's vector, which the ranker reads from meta["context_embedding"]: a column,
            # not JSON in meta, so that it is stored and returned as 384 floats, not 384 numerics.
            "ALTER TABLE {sentences} ADD COLUMN IF NOT EXISTS context_embedding vector({dim})",
            "CREATE INDEX IF NOT EXISTS {by_article} ON {sentences} ((meta->>'article_id'))",
            "CREATE TABLE IF NOT EXISTS {terms} (id VARCHAR(128) PRIMARY KEY, article_id TEXT NOT NULL,"
            " terms TSVECTOR NOT NULL, term_count INTEGER NOT NULL)",
            "CREATE INDEX IF NOT EXISTS {terms_gin} ON {terms} USING gin (terms)",
            "CREATE INDEX IF NOT EXISTS {terms_by_article} ON {terms} (article_id)",
            "CREATE TABLE IF NOT EXISTS {df} (term TEXT PRIMARY KEY, df INTEGER NOT NULL)",
            "CREATE TABLE IF NOT EXISTS {articles} (article_id TEXT PRIMARY KEY, title TEXT NOT NULL,"
            ' "date" TEXT NOT NULL, sentence_count INTEGER NOT NULL, source TEXT NOT NULL,'
            " indexed_at TEXT NOT NULL, seq BIGINT GENERATED ALWAYS AS IDENTITY)",
            "CREATE INDEX IF NOT EXISTS {by_source} ON {articles} (source)",
            # which embedding model built the article's vectors ('' for rows from before this column)
            "ALTER TABLE {articles} ADD COLUMN IF NOT EXISTS embedding_model TEXT NOT NULL DEFAULT ''",
            "CREATE TABLE IF NOT EXISTS {state} (id INTEGER PRIMARY KEY CHECK (id = 1),"
            " version BIGINT NOT NULL, docs BIGINT NOT NULL, total_terms BIGINT NOT NULL)",
            "INSERT INTO {state} VALUES (1, 0, 0, 0) ON CONFLICT DO NOTHING",
        ]
        return [self._q(s, **extra) for s in statements]

    def _run(self, role: Literal["reader", "writer"], work: Callable[[psycopg.Connection], T]) -> T:
        """`work(connection)` under the role's lock, once more on a new connection if the old one died
        (server restart, idle timeout). Retrying is safe: a failed transaction was rolled back, and
        every write here is idempotent."""
        self._setup()
        lock = self._read_lock if role == "reader" else self._write_lock
        with lock, _errors(self._url):
            for attempt in (1, 2):
                conn = self._reader if role == "reader" else self._writer
                if conn is None or conn.closed or conn.broken:
                    conn = self._connect()
                    if role == "reader":
                        self._reader = conn
                    else:
                        self._writer = conn
                try:
                    return work(conn)
                except psycopg.OperationalError:
                    if attempt == 2 or not conn.broken:
                        raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        for conn in (self._reader, self._writer):
            if conn is not None:
                conn.close()
        self._reader = self._writer = None
        self._docs.close()

    # ---- model identity and integrity -------------------------------------------------------------

    @property
    def model_id(self) -> str:
        if self._model_id is None:
            self._model_id = embedding_model_id()
        return self._model_id

    def check_searchable(self) -> None:
        self._ensure_model()

    def _ensure_model(self) -> None:
        """Searching another model's vectors is refused; checked once, and again after a write
        (`refresh` notices other processes' writes)."""
        if not self._model_checked:
            self._run("reader", lambda conn: self._check_model(conn.cursor()))
            self._model_checked = True

    def _check_model(self, cur: psycopg.Cursor[Any]) -> None:
        row = cur.execute(
            self._q("SELECT embedding_model FROM {articles} WHERE embedding_model NOT IN (%s, %s) LIMIT 1"),
            current_models(self.model_id),
        ).fetchone()
        if row:
            raise mismatch(f"the PostgreSQL index {self._sentences_table}", {str(row[0])}, self.model_id)

    def embedding_models(self) -> dict[str, int]:
        query = self._q("SELECT embedding_model, count(*) FROM {articles} GROUP BY 1")
        rows = self._run("reader", lambda conn: conn.execute(query).fetchall())
        return {str(model): int(n) for model, n in rows}

    def stale_articles(self) -> list[str]:
        query = self._q(
            "SELECT article_id FROM {articles} WHERE embedding_model NOT IN (%s, %s) UNION"
            " SELECT meta->>'article_id' FROM {sentences}"
            " WHERE embedding IS NULL OR context_embedding IS NULL"
        )
        rows = self._run("reader", lambda conn: conn.execute(query, current_models(self.model_id)).fetchall())
        return [str(r[0]) for r in rows]

    def replace_vectors(self, article_id: str, sentences: Sequence[Document]) -> None:
        rows = []
        for doc in sentences:
            if doc.embedding is None or len(doc.embedding) != EMBEDDING_DIM:
                raise ValueError(f"sentence {doc.id} has no {EMBEDDING_DIM}-dim embedding")
            context = doc.meta.get("context_embedding", doc.embedding)
            rows.append((_vec(doc.embedding), _vec(context), doc.id, article_id))

        def write(conn: psycopg.Connection) -> int:
            with conn.transaction(), conn.cursor() as cur:
                version = self._bump_version(cur)
                cur.executemany(
                    self._q(
                        "UPDATE {sentences} SET embedding = %s, context_embedding = %s"
                        " WHERE id = %s AND meta->>'article_id' = %s"
                    ),
                    rows,
                )
                cur.execute(
                    self._q("UPDATE {articles} SET embedding_model = %s WHERE article_id = %s"),
                    (self.model_id, article_id),
                )
            return version

        self._model_checked = False
        self._saw_own_write(self._run("writer", write))

    def check(self) -> list[str]:
        def counts(conn: psycopg.Connection) -> tuple[Any, ...]:
            row = conn.execute(
                self._q(
                    "SELECT (SELECT coalesce(sum(sentence_count), 0) FROM {articles}),"
                    " (SELECT count(*) FROM {sentences}), (SELECT count(*) FROM {terms}),"
                    " (SELECT docs FROM {state} WHERE id = 1),"
                    " (SELECT count(*) FROM {sentences}"
                    "  WHERE embedding IS NULL OR context_embedding IS NULL),"
                    " (SELECT count(*) FROM {sentences} s WHERE NOT EXISTS"
                    "  (SELECT 1 FROM {articles} a WHERE a.article_id = s.meta->>'article_id'))"
                )
            ).fetchone()
            assert row is not None
            return tuple(row)

        expected, sentences, terms, docs, no_vector, orphans = self._run("reader", counts)
        problems = []
        if sentences != expected:
            problems.append(
                f"the articles have {expected} sentences, but there are {sentences} sentence rows"
            )
        if not terms == docs == sentences:
            problems.append(f"the keyword statistics count {docs} ({terms} rows) of {sentences} sentences")
        if no_vector:
            problems.append(f"{no_vector} sentences have no vector")
        if orphans:
            problems.append(f"{orphans} sentences belong to no article")
        models = {m for m in self.embedding_models() if m not in current_models(self.model_id)}
        if models:
            problems.append(str(mismatch("the index", models, self.model_id)))
        return problems

    def repair(self) -> list[str]:
        def fix(conn: psycopg.Connection) -> list[str]:
            done: list[str] = []
            with conn.transaction(), conn.cursor() as cur:
                self._bump_version(cur)
                broken = cur.execute(
                    self._q(
                        "SELECT a.article_id, a.title, a.source FROM {articles} a WHERE a.sentence_count !="
                        " (SELECT count(*) FROM {sentences} s WHERE s.meta->>'article_id' = a.article_id)"
                    )
                ).fetchall()
                if broken:
                    self._remove(cur, [r[0] for r in broken])
                for article_id, title, source in broken:
                    done.append(
                        f"removed the incomplete article {article_id} {title!r}; index {source} again"
                    )
                cur.execute(
                    self._q(
                        "DELETE FROM {sentences} s WHERE NOT EXISTS"
                        " (SELECT 1 FROM {articles} a WHERE a.article_id = s.meta->>'article_id')"
                    )
                )
                if cur.rowcount:
                    done.append(f"removed {cur.rowcount} sentences that belonged to no article")
                cur.execute(
                    self._q(
                        "DELETE FROM {terms} t"
                        " WHERE NOT EXISTS (SELECT 1 FROM {sentences} s WHERE s.id = t.id)"
                    )
                )
                cur.execute(self._q("DELETE FROM {df}"))
                cur.execute(
                    self._q(
                        "INSERT INTO {df} (term, df) SELECT u.lexeme, count(*) FROM {terms}, unnest(terms) u"
                        " GROUP BY 1"
                    )
                )
                cur.execute(
                    self._q(
                        "UPDATE {state} SET docs = (SELECT count(*) FROM {terms}),"
                        " total_terms = (SELECT coalesce(sum(term_count), 0) FROM {terms}) WHERE id = 1"
                    )
                )
            return done

        return self._run("writer", fix)

    # ---- articles --------------------------------------------------------------------------------

    def _select_articles(self, where: str, params: tuple[Any, ...]) -> list[ArticleInfo]:
        query = self._q(
            f"SELECT {_ARTICLE_COLUMNS} FROM {{articles}} {where} ORDER BY indexed_at DESC, seq DESC"
        )
        rows = self._run("reader", lambda conn: conn.execute(query, params).fetchall())
        return [ArticleInfo(*row) for row in rows]

    def articles(self) -> list[ArticleInfo]:
        return self._select_articles("", ())

    def article(self, article_id: str) -> ArticleInfo | None:
        found = self._select_articles("WHERE article_id = %s", (article_id,))
        return found[0] if found else None

    def article_by_source(self, source: str) -> ArticleInfo | None:
        found = self._select_articles("WHERE source = %s", (source,))
        return found[0] if found else None

    def sentences(self, article_id: str, with_vectors: bool = True) -> list[Document]:
        self._setup()
        with self._read_lock, _errors(self._url):
            docs = self._docs.filter_documents(
                {"field": "meta.article_id", "operator": "==", "value": article_id}
            )
        for doc in docs:  # like the embedded store: the paragraph vector only comes with search results
            doc.meta.pop("context_embedding", None)
        return sorted(docs, key=lambda d: d.meta.get("sentence_number", 0))

    # ---- writes ----------------------------------------------------------------------------------

    def put_article(
        self, article: ArticleInfo, sentences: Sequence[Document], replaces: str | None = None
    ) -> None:
        docs, terms, df = [], [], Counter[str]()
        for doc in sentences:
            if doc.meta.get("article_id") != article.article_id:
                raise ValueError(
                    f"sentence {doc.id} belongs to {doc.meta.get('article_id')!r}, not {article.article_id!r}"
                )
            if doc.embedding is None or len(doc.embedding) != EMBEDDING_DIM:
                raise ValueError(f"sentence {doc.id} has no {EMBEDDING_DIM}-dim embedding")
            content = (doc.content or "").replace("\x00", "")  # Postgres text cannot hold NUL
            vector, count, distinct = term_vector(content)
            df.update(distinct)
            meta = {k: v for k, v in doc.meta.items() if k != "context_embedding"}
            context = doc.meta.get("context_embedding", doc.embedding)
            docs.append((doc.id, _vec(doc.embedding), _vec(context), content, Jsonb(meta)))
            terms.append((doc.id, article.article_id, vector, count))
        total_terms = sum(t[3] for t in terms)
        # Removing the article's own id as well makes re-indexing it replace, never duplicate, its sentences.
        old_ids = list(dict.fromkeys([article.article_id, *([replaces] if replaces else [])]))
        article_row = (
            article.article_id,
            article.title,
            article.date,
            article.sentence_count,
            article.source,
            article.indexed_at,
        )

        def write(conn: psycopg.Connection) -> int:
            with conn.transaction(), conn.cursor() as cur:
                version = self._bump_version(cur)
                self._check_model(cur)
                self._remove(cur, old_ids)
                cur.executemany(
                    self._q(
                        "INSERT INTO {sentences} (id, embedding, context_embedding, content, meta)"
                        " VALUES (%s, %s, %s, %s, %s)"
                    ),
                    docs,
                )
                cur.executemany(
                    self._q(
                        "INSERT INTO {terms} (id, article_id, terms, term_count)"
                        " VALUES (%s, %s, %s::tsvector, %s)"
                    ),
                    terms,
                )
                cur.execute(
                    self._q(
                        "INSERT INTO {df} (term, df) SELECT * FROM unnest(%s::text[], %s::int[])"
                        " ON CONFLICT (term) DO UPDATE SET df = {df}.df + EXCLUDED.df"
                    ),
                    (list(df), list(df.values())),
                )
                cur.execute(
                    self._q(
                        "UPDATE {state} SET docs = docs + %s, total_terms = total_terms + %s WHERE id = 1"
                    ),
                    (len(docs), total_terms),
                )
                cur.execute(
                    self._q(
                        f"INSERT INTO {{articles}} ({_ARTICLE_COLUMNS}, embedding_model)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s)"
                    ),
                    (*article_row, self.model_id),
                )
            return version

        self._saw_own_write(self._run("writer", write))

    def delete_article(self, article_id: str) -> bool:
        def delete(conn: psycopg.Connection) -> tuple[int, int]:
            with conn.transaction(), conn.cursor() as cur:
                version = self._bump_version(cur)
                removed = self._remove(cur, [article_id])
            return version, removed

        version, removed = self._run("writer", delete)
        self._saw_own_write(version)
        return removed > 0

    def _remove(self, cur: psycopg.Cursor[Any], article_ids: list[str]) -> int:
        """Deletes the articles' rows and takes their terms out of the BM25 statistics."""
        cur.execute(
            self._q(
                "WITH gone AS (DELETE FROM {terms} WHERE article_id = ANY(%s) RETURNING terms, term_count),"
                " lost AS (SELECT u.lexeme AS term, count(*) AS n"
                " FROM gone, unnest(gone.terms) u GROUP BY 1),"
                " dec AS (UPDATE {df} SET df = {df}.df - lost.n FROM lost WHERE {df}.term = lost.term)"
                " UPDATE {state} SET docs = docs - (SELECT count(*) FROM gone),"
                " total_terms = total_terms - (SELECT coalesce(sum(term_count), 0) FROM gone) WHERE id = 1"
            ),
            (article_ids,),
        )
        cur.execute(self._q("DELETE FROM {sentences} WHERE meta->>'article_id' = ANY(%s)"), (article_ids,))
        sentences = cur.rowcount
        cur.execute(self._q("DELETE FROM {articles} WHERE article_id = ANY(%s)"), (article_ids,))
        return sentences + cur.rowcount

    @contextlib.contextmanager
    def bulk(self) -> Iterator[None]:
        """Nothing to group: every `put_article` is its own committed transaction, which keeps a
        long bulk load visible article by article and never holds locks for its whole duration."""
        yield

    def _bump_version(self, cur: psycopg.Cursor[Any]) -> int:
        # First statement of every write: its row lock also queues writers from other processes, which
        # keeps the BM25 statistics consistent.
        row = cur.execute(
            self._q("UPDATE {state} SET version = version + 1 WHERE id = 1 RETURNING version")
        ).fetchone()
        assert row is not None
        return int(row[0])

    def _saw_own_write(self, version: int) -> None:
        # Our own writes need no refresh; a gap means another process wrote since, which refresh reports.
        if self._seen_version is not None and self._seen_version == version - 1:
            self._seen_version = version

    # ---- search ----------------------------------------------------------------------------------

    def keyword_search(self, query: str, top_k: int) -> list[Document]:
        terms = " ".join(dict.fromkeys(index_terms(query)))
        if not terms or top_k <= 0:
            return []
        self._ensure_model()
        with self._read_lock, _errors(self._url):
            docs: list[Document] = self._keyword.run(query=terms, top_k=top_k)["documents"]
        return [_as_result(d) for d in docs]

    def embedding_search(self, embedding: Sequence[float], top_k: int) -> list[Document]:
        vector = [float(x) for x in embedding]
        if len(vector) != EMBEDDING_DIM:
            raise ValueError(f"expected a {EMBEDDING_DIM}-dim embedding, got {len(vector)}")
        if top_k <= 0:
            return []
        self._ensure_model()
        with self._read_lock, _errors(self._url):
            docs: list[Document] = self._dense.run(query_embedding=vector, top_k=top_k)["documents"]
        return [_as_result(d) for d in docs]

    def count_sentences(self) -> int:
        self._setup()
        with self._read_lock, _errors(self._url):
            return self._docs.count_documents()

    def refresh(self) -> bool:
        """Searches are always current; True tells the caller to drop caches after another process wrote."""
        query = self._q("SELECT version FROM {state} WHERE id = 1")
        row = self._run("reader", lambda conn: conn.execute(query).fetchone())
        version = int(row[0]) if row else 0
        changed = self._seen_version is not None and version != self._seen_version
        if version != self._seen_version:  # another process may have indexed with another model
            self._model_checked = False
        self._seen_version = version
        return changed

    def to_dict(self) -> dict[str, Any]:
        """Without the password: `from_dict` takes it from NEWSQA_DOCUMENT_STORE again."""
        return {
            "type": "postgres",
            "url": mask_url(self._url),
            "sentences_table": self._sentences_table,
            "articles_table": self._articles_table,
            **({"model_id": self._model_id} if self._model_id else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PostgresSentenceStore:
        saved = str(data["url"])
        url = saved
        if "***" in saved:
            # to_dict masked the password: the full URL is the setting the store was opened from
            url = os.environ.get(URL_ENV, "").strip()
            if not url or mask_url(normalise_url(url)) != saved:
                raise ValueError(f"{saved} was saved without its password; set {URL_ENV} to its full URL")
        return cls(
            url,
            sentences_table=data.get("sentences_table", "newsqa_sentences"),
            articles_table=data.get("articles_table", "newsqa_articles"),
            model_id=data.get("model_id"),
        )
