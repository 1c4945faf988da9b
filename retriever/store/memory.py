"""The embedded sentence store: numpy vectors and a German BM25 index, persisted in one file.

The whole index lives in `<dir>/index.npz` (embeddings plus the metadata as JSON), written to a
temporary file and renamed, so a crash never leaves a half-written index and a reader in another
process sees either the old or the new version. Writers take a file lock and re-read before they
change anything, so the CLI and a running bot can both index without losing each other's work.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from haystack import Document

from retriever.bm25 import BM25Index
from retriever.models import ArticleInfo

FORMAT_VERSION = 1
DIM = 384


class _Rows:
    """A float32 matrix that grows by appending rows, in amortised constant time per row.

    Indexing many articles one by one would otherwise copy the whole matrix for each article.
    """

    def __init__(self, rows: np.ndarray | None = None) -> None:
        self._buffer = rows if rows is not None else np.zeros((0, DIM), dtype=np.float32)
        self._size = len(self._buffer)

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

    def keep(self, indices: list[int]) -> None:
        self._buffer = self.array[indices].copy()
        self._size = len(self._buffer)


class MemorySentenceStore:
    """`SentenceStore` kept in memory and in a single file under `path`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._file = self.path / "index.npz"
        self._lock_file = self.path / "index.lock"
        self._articles: dict[str, ArticleInfo] = {}
        self._docs: list[Document] = []
        self._vectors = _Rows()
        self._contexts = _Rows()
        self._bm25: BM25Index | None = None
        self._stamp: tuple[int, int] | None = None
        self._deferred = 0
        self._dirty = False
        self._load()

    # ---- persistence -------------------------------------------------------------------------

    def _disk_stamp(self) -> tuple[int, int] | None:
        try:
            st = self._file.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _load(self) -> None:
        stamp = self._disk_stamp()
        if stamp is None:
            self._articles, self._docs = {}, []
            self._vectors, self._contexts = _Rows(), _Rows()
        else:
            with np.load(self._file, allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode("utf-8"))
                vectors = np.asarray(data["vectors"], dtype=np.float32).reshape(-1, DIM)
                contexts = np.asarray(data["contexts"], dtype=np.float32).reshape(-1, DIM)
            if meta.get("version") != FORMAT_VERSION:
                raise RuntimeError(f"{self._file}: unsupported index format {meta.get('version')!r}")
            self._articles = {a["article_id"]: ArticleInfo(**a) for a in meta["articles"]}
            self._docs = [
                Document(id=d["id"], content=d["content"], meta=d["meta"]) for d in meta["documents"]
            ]
            self._vectors, self._contexts = _Rows(vectors), _Rows(contexts)
        self._stamp = stamp
        self._bm25 = None

    def _save(self) -> None:
        meta = {
            "version": FORMAT_VERSION,
            "articles": [asdict(a) for a in self._articles.values()],
            "documents": [{"id": d.id, "content": d.content, "meta": d.meta} for d in self._docs],
        }
        blob = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".index-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, meta=blob, vectors=self._vectors.array, contexts=self._contexts.array)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self._file)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self._stamp = self._disk_stamp()
        self._dirty = False

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Exclusive, up-to-date access for a change; saves on success, restores on failure."""
        with open(self._lock_file, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if self._disk_stamp() != self._stamp and not self._dirty:
                    self._load()
                try:
                    yield
                except BaseException:
                    self._load()  # throw away the half-done change
                    raise
                self._bm25 = None
                self._dirty = True
                if not self._deferred:
                    self._save()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def bulk(self) -> Iterator[None]:
        """Many changes, one write to disk at the end (indexing a folder or a benchmark corpus)."""
        self._deferred += 1
        try:
            yield
        finally:
            self._deferred -= 1
            if not self._deferred and self._dirty:
                with open(self._lock_file, "a+") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    try:
                        self._save()
                    finally:
                        fcntl.flock(lock, fcntl.LOCK_UN)

    def refresh(self) -> bool:
        if self._dirty or self._disk_stamp() == self._stamp:
            return False
        self._load()
        return True

    # ---- reading -----------------------------------------------------------------------------

    def articles(self) -> list[ArticleInfo]:
        return sorted(self._articles.values(), key=lambda a: (a.indexed_at, a.article_id), reverse=True)

    def article(self, article_id: str) -> ArticleInfo | None:
        return self._articles.get(article_id)

    def article_by_source(self, source: str) -> ArticleInfo | None:
        return next((a for a in self._articles.values() if a.source == source), None)

    def sentences(self, article_id: str) -> list[Document]:
        # vectors live only in the matrices (a list of 384 Python floats per sentence took ~12 KB)
        docs = [
            Document(
                id=d.id, content=d.content, meta=dict(d.meta), embedding=self._vectors.array[row].tolist()
            )
            for row, d in enumerate(self._docs)
            if d.meta["article_id"] == article_id
        ]
        return sorted(docs, key=lambda d: d.meta["sentence_number"])

    def count_sentences(self) -> int:
        return len(self._docs)

    # ---- writing -----------------------------------------------------------------------------

    def put_article(
        self, article: ArticleInfo, sentences: Sequence[Document], replaces: str | None = None
    ) -> None:
        for doc in sentences:
            if doc.embedding is None or len(doc.embedding) != DIM:
                raise ValueError(f"sentence {doc.id} has no {DIM}-dim embedding")
        contexts = np.asarray(
            [d.meta.get("context_embedding", d.embedding) for d in sentences], dtype=np.float32
        ).reshape(-1, DIM)
        vectors = np.asarray([d.embedding for d in sentences], dtype=np.float32).reshape(-1, DIM)
        stored = [
            Document(
                id=d.id, content=d.content, meta={k: v for k, v in d.meta.items() if k != "context_embedding"}
            )
            for d in sentences
        ]
        with self._writing():
            gone = {article.article_id} | ({replaces} if replaces else set())
            self._remove(gone)
            self._articles[article.article_id] = article
            self._docs.extend(stored)
            self._vectors.append(vectors)
            self._contexts.append(contexts)

    def delete_article(self, article_id: str) -> bool:
        if article_id not in self._articles:
            return False
        with self._writing():
            self._remove({article_id})
        return True

    def _remove(self, article_ids: set[str]) -> None:
        if not article_ids & self._articles.keys():
            return  # the common case, a new article: no scan over every stored sentence
        keep = [i for i, d in enumerate(self._docs) if d.meta["article_id"] not in article_ids]
        if len(keep) != len(self._docs):
            self._docs = [self._docs[i] for i in keep]
            self._vectors.keep(keep)
            self._contexts.keep(keep)
        for article_id in article_ids:
            self._articles.pop(article_id, None)

    # ---- search ------------------------------------------------------------------------------

    def _hits(self, scores: np.ndarray, top_k: int) -> list[Document]:
        if not len(scores) or top_k <= 0:
            return []
        k = min(top_k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        out = []
        for i in top:
            doc = self._docs[int(i)]
            # Vectors as numpy rows in meta: haystack deep-copies every component input, and a list
            # of 384 Python floats costs more to copy than the search itself (Document.embedding
            # would turn an array back into a list, so it stays empty here).
            row = int(i)
            meta = {
                **doc.meta,
                "sentence_embedding": self._vectors.array[row].copy(),
                "context_embedding": self._contexts.array[row].copy(),
            }
            out.append(Document(id=doc.id, content=doc.content, meta=meta, score=float(scores[i])))
        return out

    def keyword_search(self, query: str, top_k: int) -> list[Document]:
        if self._bm25 is None:
            self._bm25 = BM25Index([d.content or "" for d in self._docs])
        scores = self._bm25.scores(query)
        return [d for d in self._hits(scores, top_k) if (d.score or 0.0) > 0.0]

    def embedding_search(self, embedding: Sequence[float], top_k: int) -> list[Document]:
        return self._hits(self._vectors.array @ np.asarray(embedding, dtype=np.float32), top_k)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "memory", "path": str(self.path)}
