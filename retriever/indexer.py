"""Indexing articles: parse, embed each sentence in its context, and put it into the store.

An article's identity is its content (normalised text, title and date: `ingest.article_id_for`),
never its file name. The same text again is "unchanged" (same source) or a "duplicate" (another
name or path) and is not stored twice. A changed file at the same path, or a changed page at the
same URL, replaces the version indexed from there, in one store transaction. Uploads (the bot's
`/index`) are named by their sender: two different texts both called `artikel.txt` are two articles,
so uploads never replace each other by name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def stored_documents(sentences: Sequence[Document]) -> list[Document]:
    """Stored sentences (one article's, from `SentenceStore.sentences`) shaped for the embedder again:
    the paragraph text each vector carries is rebuilt from them exactly as `paragraph_text` builds it."""
    paragraphs: dict[int, list[str]] = {}
    for doc in sentences:
        paragraphs.setdefault(int(doc.meta["paragraph"]), []).append(doc.content or "")
    return [
        Document(
            id=doc.id,
            content=doc.content,
            meta={
                **{k: v for k, v in doc.meta.items() if k != "context_embedding"},
                "context": f"{doc.meta['title']}: " + " ".join(paragraphs[int(doc.meta["paragraph"])]),
            },
        )
        for doc in sentences
    ]


Progress = Callable[[int, int], None]  # (sentences embedded so far, sentences in the article)
# Sentences embedded per call when progress is reported; whole paragraphs, so each is embedded once.
_PROGRESS_CHUNK = 64


class ArticleIndexer:
    """Puts parsed articles into a `SentenceStore` without ever duplicating one."""

    def __init__(self, store: SentenceStore, embedder: E5DocumentEmbedder | None = None) -> None:
        self.store = store
        self.embedder = embedder or E5DocumentEmbedder()

    def warm_up(self) -> None:
        self.embedder.warm_up()

    def embed(self, article: Article, progress: Progress | None = None) -> list[Document]:
        """The article's sentences as documents with sentence and paragraph vectors."""
        return self.embed_documents(sentence_documents(article), progress)

    def embed_documents(self, documents: list[Document], progress: Progress | None = None) -> list[Document]:
        if progress is None:
            embedded: list[Document] = self.embedder.run(documents=documents)["documents"]
            return embedded
        chunks: list[list[Document]] = [[]]
        for doc in documents:
            starts_paragraph = not chunks[-1] or chunks[-1][-1].meta["paragraph"] != doc.meta["paragraph"]
            if starts_paragraph and len(chunks[-1]) >= _PROGRESS_CHUNK:
                chunks.append([])
            chunks[-1].append(doc)
        out: list[Document] = []
        progress(0, len(documents))
        for chunk in chunks:
            out.extend(self.embedder.run(documents=chunk)["documents"])
            progress(len(out), len(documents))
        return out

    def index(
        self, article: Article, *, replace_same_source: bool = True, progress: Progress | None = None
    ) -> IndexResult:
        """Index one article. `replace_same_source`: a different text from the same file path or URL
        replaces the earlier version (False for uploads, whose name is only a label)."""
        same = self.store.article(article.article_id)
        if same is not None:
            return IndexResult(
                article.source, "unchanged" if same.source == article.source else "duplicate", same
            )
        previous = self.store.article_by_source(article.source) if replace_same_source else None
        documents = self.embed(article, progress)
        info = article_info(article)
        replaced = previous.article_id if previous else None
        self.store.put_article(info, documents, replaces=replaced)
        return IndexResult(article.source, "replaced" if replaced else "added", info, replaced=replaced)

    def reembed(self, article_id: str) -> int:
        """Re-embed an article's stored sentences with this indexer's model (`newsqa reindex`), in
        one store transaction; the number of sentences."""
        stored = self.store.sentences(article_id, with_vectors=False)
        if not stored:
            return 0
        documents = self.embed_documents(stored_documents(stored))
        self.store.replace_vectors(article_id, documents)
        return len(documents)


def article_info(article: Article) -> ArticleInfo:
    return ArticleInfo(
        article_id=article.article_id,
        title=article.title,
        date=article.date,
        sentence_count=len(article.sentences),
        source=article.source,
        indexed_at=datetime.now(UTC).isoformat(timespec="microseconds"),
    )
