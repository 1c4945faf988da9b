"""`NewsQA`: the one object the CLI and the bot use: index articles, ask, list, digest.

Blocking and CPU-bound by design (model inference); async callers run it in a worker thread.
A lock serialises access so the store and the lazily built keyword index are never seen half-changed.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from haystack import Document
from haystack.core.errors import PipelineRuntimeError

from retriever.components.embedders import E5_DIM
from retriever.digest import build_digest
from retriever.errors import NewsQAError
from retriever.indexer import ArticleIndexer, Progress
from retriever.ingest import Article, ArticleError, find_article_files, parse_article, read_article
from retriever.models import Answer, ArticleInfo, Digest, IndexResult
from retriever.pipeline import PipelineConfig, build_query_pipeline, document_embedder, pipeline_inputs
from retriever.settings import DEFAULT_ARTICLE, MAX_QUESTION_CHARS, Settings
from retriever.store import SentenceStore, open_store

logger = logging.getLogger(__name__)

DEFAULT_SOURCE = f"default:{DEFAULT_ARTICLE.name}"
# How much better (retrieval score of the best sentence) another article must match a follow-up
# question for it to be answered from there instead of the article the conversation is about.
FOLLOW_UP_MARGIN = 0.1

__all__ = ["MAX_QUESTION_CHARS", "ArticleError", "NewsQA"]


class NewsQA:
    """Cited answers and digests over the articles in one store."""

    def __init__(
        self,
        settings: Settings | None = None,
        config: PipelineConfig | None = None,
        store: SentenceStore | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.config = config or PipelineConfig(
            reader_model=self.settings.reader_model,
            question_cache=self.settings.question_cache,
        )
        self.store = store or open_store(self.settings)
        self.pipeline = build_query_pipeline(self.store, self.config)
        self.indexer = ArticleIndexer(self.store, document_embedder(self.config))
        self._lock = threading.RLock()
        self._warm = False

    def warm_up(self) -> None:
        """Load the models and, on first use, index the bundled default article."""
        # What is loaded so far (torch, haystack) stays for the life of the process: frozen, the
        # collections that loading the models triggers do not walk it again (~0.3 s of a cold start).
        gc.freeze()
        with self._lock:
            if self._warm:
                return
            self.pipeline.warm_up()
            self.indexer.warm_up()
            if self.settings.index_default and not self.store.articles():
                result = self.index_text(DEFAULT_ARTICLE.read_text(encoding="utf-8"), DEFAULT_SOURCE)
                logger.info("indexed the default article %s", result.article.article_id)
            self._warm = True
        # The models, the tokenizer and torch stay for the life of the process: frozen, they are no
        # longer walked by every full collection (~230k objects, 0.1-0.25 s on 2 cores: a pause in
        # some question's latency) nor by the interpreter's collections at exit (1-2 s of a CLI
        # run). Collected first, so that no garbage is frozen with them.
        gc.collect()
        gc.freeze()

    @property
    def reader_available(self) -> bool:
        reader = self.pipeline.get_component("reader")
        return bool(getattr(reader, "available", False))

    # ---- questions ---------------------------------------------------------------------------

    def ask(self, question: str, article_id: str | None = None) -> Answer:
        """Answer one question. Raises ValueError for an empty or over-long question.

        With `article_id` (a follow-up about one article) that article is asked first, and all
        articles when it does not say (or is unsure where the others are sure), or when another
        article matches the question far better (a short question is not always a follow-up: the
        reader can find some span in any article)."""
        if not article_id:
            return self.ask_with_evidence(question)[0]
        focused = self.ask_with_evidence(question, article_id)[0]
        overall = self.ask_with_evidence(question)[0]
        if focused.abstained or (focused.unsure and overall.verdict == "answer"):
            return overall
        elsewhere = bool(overall.citations) and overall.citations[0].article_id != article_id
        return overall if elsewhere and overall.score >= focused.score + FOLLOW_UP_MARGIN else focused

    def ask_with_evidence(
        self, question: str, article_id: str | None = None
    ) -> tuple[Answer, list[Document]]:
        """The answer and the ranked sentences it was chosen from (for benchmarks and debugging);
        with `article_id`, from that article's sentences only."""
        question = " ".join(question.split())
        if not question:
            raise ValueError("the question is empty")
        if len(question) > MAX_QUESTION_CHARS:
            raise ValueError(f"the question is longer than {MAX_QUESTION_CHARS} characters")
        self.warm_up()
        started = time.perf_counter()
        with self._lock:
            # a damaged index or another model's vectors: the store's one-line error, not the pipeline's
            self.store.check_searchable()
            try:
                result = self.pipeline.run(
                    pipeline_inputs(question, article_id),
                    include_outputs_from={"ranker"},
                )
            except PipelineRuntimeError as exc:
                if isinstance(exc.__cause__, NewsQAError):
                    raise exc.__cause__ from None
                raise
        answer: Answer = result["answer_builder"]["answer"]
        latency = (time.perf_counter() - started) * 1000
        ranked: list[Document] = result["ranker"]["documents"]
        return replace(answer, latency_ms=latency), ranked

    # ---- articles ----------------------------------------------------------------------------

    def index_text(self, text: str, source: str) -> IndexResult:
        """Index an article given as text (an upload). Raises ArticleError; the index is unchanged then.

        `source` (the upload's file name) is a label: the same text under any name is a duplicate,
        and a different text under a name already used is a new article, never a replacement."""
        article = parse_article(text, source)
        with self._lock:
            self.indexer.warm_up()
            return self.indexer.index(article, replace_same_source=False)

    def index_article(self, article: Article, progress: Progress | None = None) -> IndexResult:
        """Index an article parsed elsewhere (a web page, a feed entry), with its own source.
        `progress(done, total)` is called as its sentences are embedded."""
        with self._lock:
            self.indexer.warm_up()
            return self.indexer.index(article, progress=progress)

    def index_url(self, url: str, progress: Progress | None = None) -> IndexResult:
        """Fetch a link, extract its article and index it with the URL as its source.
        Raises retriever.web.FetchError (NoArticleError: the page holds no article text)."""
        from retriever.web import FetchLimits, fetch_article

        settings = self.settings
        limits = FetchLimits(timeout=settings.fetch_timeout, allow_private=settings.allow_private_urls)
        return self.index_article(fetch_article(url, limits=limits).article, progress)

    def index_file(self, path: Path, progress: Progress | None = None) -> IndexResult:
        """Index one .txt/.md file; its resolved path is its source (an edited file replaces the
        version indexed from the same path). Raises ArticleError. `progress(done, total)` is called
        as its sentences are embedded."""
        article = read_article(path)
        source = str(path.resolve())
        with self._lock:
            self.indexer.warm_up()
            return self.indexer.index(replace(article, source=source), progress=progress)

    def index_paths(
        self,
        paths: Iterable[Path],
        on_result: Callable[[Path, IndexResult | ArticleError], None] | None = None,
        *,
        stop: Callable[[], bool] | None = None,
        progress: Callable[[Path], Progress | None] | None = None,
    ) -> list[IndexResult | ArticleError]:
        """Index files and folders; a bad file is reported and skipped, the others still go in.

        Each article is committed before `on_result` reports it. `stop()` is asked before each file
        (SIGTERM: finish the current article, then stop). A failure of the store itself (server down,
        damaged index, another model) is not one file's fault and ends the run."""
        results: list[IndexResult | ArticleError] = []
        with self._lock, self.store.bulk():
            for path in find_article_files(list(paths)):
                if stop is not None and stop():
                    break
                try:
                    outcome: IndexResult | ArticleError = self.index_file(
                        path, progress(path) if progress else None
                    )
                except ArticleError as exc:
                    outcome = exc
                except NewsQAError:
                    raise
                except Exception as exc:  # e.g. content the database refuses: skip this file only
                    logger.warning("indexing %s failed", path, exc_info=True)
                    outcome = ArticleError(f"{path}: could not be indexed ({type(exc).__name__}: {exc})")
                results.append(outcome)
                if on_result:
                    on_result(path, outcome)
        return results

    def reindex(self, on_article: Callable[[ArticleInfo, int], None] | None = None) -> tuple[list[str], int]:
        """Repair the store's rows and re-embed every article whose vectors are another model's or
        broken, one transaction per article (an interrupted run can simply be run again). Returns
        what the repair did and how many articles were re-embedded."""
        with self._lock:
            repaired = self.store.repair()
            self.indexer.warm_up()
            done = 0
            for article_id in self.store.stale_articles():
                count = self.indexer.reembed(article_id)
                done += 1
                info = self.store.article(article_id)
                if on_article and info is not None:
                    on_article(info, count)
            self._warm = False
            return repaired, done

    def health(self) -> list[str]:
        """Problems of the index (a full integrity check) and of the embedder; empty when healthy."""
        with self._lock:
            problems = self.store.check()
            try:
                vector = self.pipeline.get_component("embedder").run(text="health")["vector"]
                if len(vector) != E5_DIM:
                    problems.append(f"the embedder gives {len(vector)}-dim vectors, not {E5_DIM}")
            except Exception as exc:
                problems.append(f"the embedder does not work: {type(exc).__name__}: {exc}")
            return problems

    def delete(self, article_id: str) -> bool:
        with self._lock:
            return self.store.delete_article(article_id)

    def articles(self) -> list[ArticleInfo]:
        """Indexed articles, newest first."""
        with self._lock:
            return self.store.articles()

    def digest(self, article_id: str | None = None) -> Digest:
        """Digest of the given article, or of the newest. Raises KeyError for an unknown id."""
        with self._lock:
            if article_id is None:
                articles = self.store.articles()
                if not articles:
                    raise KeyError("no articles are indexed")
                article = articles[0]
            else:
                found = self.store.article(article_id.strip())
                if found is None:
                    raise KeyError(article_id)
                article = found
            return build_digest(article, self.store.sentences(article.article_id))

    def refresh(self) -> bool:
        """Pick up articles indexed by another process; True when the index changed."""
        with self._lock:
            return self.store.refresh()
