"""Indexing articles: parse, embed each sentence in its context, and put it into the store.

Indexing is idempotent by content: the same text under the same source is a no-op, the same text
under another source is reported as a duplicate and not stored twice, and a changed file replaces
the version indexed from the same source in one store operation.
"""

from __future__ import annotations

from datetime import UTC, datetime

from haystack import Document

from retriever.components.embedders import E5DocumentEmbedder
from retriever.ingest import Article
from retriever.models import ArticleInfo, IndexResult
from retriever.store import SentenceStore


def paragraph_text(article: Article, paragraph: int) -> str:
    """The paragraph a sentence stands in, prefixed by the title: the context its vector carries."""
    sentences = [s.text for s in article.sentences if s.paragraph == paragraph]
    return f"{article.title}: " + " ".join(sentences)


def sentence_documents(article: Article) -> list[Document]:
    paragraphs = {s.paragraph: paragraph_text(article, s.paragraph) for s in article.sentences}
    return [
        Document(
            id=f"{article.article_id}-{s.number}",
            content=s.text,
            meta={
                "article_id": article.article_id,
                "title": article.title,
                "date": article.date,
                "paragraph": s.paragraph,
                "sentence_number": s.number,
                "start": s.start,
                "end": s.end,
                "source": article.source,
                "context": paragraphs[s.paragraph],
            },
        )
        for s in article.sentences
    ]


class ArticleIndexer:
    """Puts parsed articles into a `SentenceStore` without ever duplicating one."""

    def __init__(self, store: SentenceStore, embedder: E5DocumentEmbedder | None = None) -> None:
        self.store = store
        self.embedder = embedder or E5DocumentEmbedder()

    def warm_up(self) -> None:
        self.embedder.warm_up()

    def embed(self, article: Article) -> list[Document]:
        """The article's sentences as documents with sentence and paragraph vectors."""
        documents: list[Document] = self.embedder.run(documents=sentence_documents(article))["documents"]
        return documents

    def index(self, article: Article) -> IndexResult:
        same = self.store.article(article.article_id)
        if same is not None:
            return IndexResult(
                article.source, "unchanged" if same.source == article.source else "duplicate", same
            )
        previous = self.store.article_by_source(article.source)
        documents = self.embed(article)
        info = article_info(article)
        replaced = previous.article_id if previous else None
        self.store.put_article(info, documents, replaces=replaced)
        return IndexResult(article.source, "replaced" if replaced else "added", info, replaced=replaced)


def article_info(article: Article) -> ArticleInfo:
    return ArticleInfo(
        article_id=article.article_id,
        title=article.title,
        date=article.date,
        sentence_count=len(article.sentences),
        source=article.source,
        indexed_at=datetime.now(UTC).isoformat(timespec="microseconds"),
    )
