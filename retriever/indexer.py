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


def embed_text(article: Article, index: int) -> str:
    """What e5 sees for sentence `index`: the title and the sentence before it give "es", "das" or
    "beide" something to point at; the sentence itself comes last and dominates."""
    sentence = article.sentences[index]
    before = article.sentences[index - 1] if index > 0 else None
    context = before.text if before is not None and before.paragraph == sentence.paragraph else ""
    return " ".join(part for part in (f"{article.title}:", context, sentence.text) if part)


def sentence_documents(article: Article) -> list[Document]:
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
                "embed_text": embed_text(article, i),
            },
        )
        for i, s in enumerate(article.sentences)
    ]


class ArticleIndexer:
    """Puts parsed articles into a `SentenceStore` without ever duplicating one."""

    def __init__(self, store: SentenceStore, embedder: E5DocumentEmbedder | None = None) -> None:
        self.store = store
        self.embedder = embedder or E5DocumentEmbedder()

    def warm_up(self) -> None:
        self.embedder.warm_up()

    def index(self, article: Article) -> IndexResult:
        same = self.store.article(article.article_id)
        if same is not None:
            return IndexResult(article.source, "unchanged" if same.source == article.source else "duplicate", same)
        previous = self.store.article_by_source(article.source)
        documents = self.embedder.run(documents=sentence_documents(article))["documents"]
        info = ArticleInfo(
            article_id=article.article_id,
            title=article.title,
            date=article.date,
            sentence_count=len(article.sentences),
            source=article.source,
            indexed_at=datetime.now(UTC).isoformat(timespec="microseconds"),
        )
        replaced = previous.article_id if previous else None
        self.store.put_article(info, documents, replaces=replaced)
        return IndexResult(article.source, "replaced" if replaced else "added", info, replaced=replaced)
