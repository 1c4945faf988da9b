"""The question-answering pipeline, wired from the components in `retriever.components`.

question ─┬─ E5TextEmbedder ── StoreEmbeddingRetriever ─┐
          │                                              ├─ HybridRanker ─ reader ─ CitedAnswerBuilder
          │                                              │   (newsqa's SentenceSpanReader by default)
          └───────────────── StoreKeywordRetriever ─────┤
article_id ─────────────── ArticleSentenceRetriever ───┘  (optional: a question about one article)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from haystack import Pipeline

from retriever.components.answer_builder import (
    ANSWER_LOGIT,
    DEFAULT_THRESHOLDS,
    READER_RANK_MARGIN,
    READER_THRESHOLDS,
    READER_TOP_K,
    SENTENCE_THRESHOLDS,
    SPAN_MARGIN,
    UNSURE_LOGIT,
    CitedAnswerBuilder,
)
from retriever.components.embedders import E5DocumentEmbedder, E5TextEmbedder
from retriever.components.ranker import HybridRanker
from retriever.components.reader import OptionalExtractiveReader
from retriever.components.retrievers import (
    ArticleSentenceRetriever,
    StoreEmbeddingRetriever,
    StoreKeywordRetriever,
)
from retriever.components.span_reader import SentenceSpanReader, shipped_reader
from retriever.store import SentenceStore


@dataclass(frozen=True)
class PipelineConfig:
    """Tunable numbers of the query pipeline; defaults come from the XQuAD benchmark."""

    candidates: int = 50
    context_weight: float = 0.3
    keyword_weight: float = 0.12
    ranked: int = 10
    abstain_thresholds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    max_citations: int = 3
    support_margin: float = 0.02
    # "" reads with newsqa's shipped reader (retriever.modeling.reader), "none" answers with the best
    # sentence, anything else names a transformers extractive-QA model (a directory or a hub name)
    reader_model: str = ""
    reader_artifact: str = ""  # another artifact of newsqa's reader (benchmarks); "" is the shipped one
    reader_top_k: int = READER_TOP_K
    reader_thresholds: dict[str, float] = field(default_factory=lambda: dict(READER_THRESHOLDS))
    sentence_thresholds: dict[str, float] = field(default_factory=lambda: dict(SENTENCE_THRESHOLDS))
    rank_margin: float = READER_RANK_MARGIN  # inf: the ranker's order decides among accepted sentences
    # a reader that ranks: its logit for "answer" and for "unsure" (below: "none"), the span's margin
    answer_logits: dict[str, float] = field(default_factory=lambda: dict(ANSWER_LOGIT))
    unsure_logits: dict[str, float] = field(default_factory=lambda: dict(UNSURE_LOGIT))
    span_margin: float = SPAN_MARGIN
    question_cache: int = 1024


def document_embedder(config: PipelineConfig) -> E5DocumentEmbedder:
    """What the indexer embeds sentences and paragraphs with for a pipeline of this config."""
    return E5DocumentEmbedder()


def uses_span_reader(config: PipelineConfig) -> bool:
    if config.reader_model:
        return False
    return Path(config.reader_artifact).exists() if config.reader_artifact else shipped_reader().exists()


def _reader(config: PipelineConfig) -> SentenceSpanReader | OptionalExtractiveReader:
    if uses_span_reader(config):
        return SentenceSpanReader(artifact=config.reader_artifact, top_k=config.reader_top_k)
    return OptionalExtractiveReader(model="" if config.reader_model == "none" else config.reader_model)


def build_query_pipeline(store: SentenceStore, config: PipelineConfig | None = None) -> Pipeline:
    config = config or PipelineConfig()
    pipe = Pipeline()
    # first, so that a pipeline loaded from YAML (components in name order) dumps the same again
    pipe.add_component("article_retriever", ArticleSentenceRetriever(store))
    pipe.add_component("embedder", E5TextEmbedder(cache_size=config.question_cache))
    pipe.add_component("embedding_retriever", StoreEmbeddingRetriever(store, top_k=config.candidates))
    pipe.add_component("keyword_retriever", StoreKeywordRetriever(store, top_k=config.candidates))
    pipe.add_component(
        "ranker",
        HybridRanker(
            context_weight=config.context_weight, keyword_weight=config.keyword_weight, top_k=config.ranked
        ),
    )
    span_reader = uses_span_reader(config)
    pipe.add_component("reader", _reader(config))
    pipe.add_component(
        "answer_builder",
        CitedAnswerBuilder(
            abstain_thresholds=config.abstain_thresholds,
            max_citations=config.max_citations,
            support_margin=config.support_margin,
            reader_thresholds=config.reader_thresholds if span_reader else None,
            sentence_thresholds=config.sentence_thresholds if span_reader else None,
            rank_margin=config.rank_margin,
            answer_logits=config.answer_logits,
            unsure_logits=config.unsure_logits,
            span_margin=config.span_margin,
        ),
    )
    pipe.connect("embedder.vector", "embedding_retriever.query_vector")
    pipe.connect("embedder.vector", "ranker.query_vector")
    pipe.connect("embedding_retriever.documents", "ranker.embedding_documents")
    pipe.connect("keyword_retriever.documents", "ranker.keyword_documents")
    pipe.connect("article_retriever.documents", "ranker.focus_documents")
    pipe.connect("ranker.documents", "reader.documents")
    pipe.connect("ranker.documents", "answer_builder.documents")
    pipe.connect("reader.answers", "answer_builder.answers")
    return pipe


def pipeline_inputs(question: str, article_id: str | None = None) -> dict[str, dict[str, str | None]]:
    """The inputs of one question; with `article_id` only that article's sentences are ranked."""
    return {
        "embedder": {"text": question},
        "keyword_retriever": {"query": question},
        "article_retriever": {"article_id": article_id},
        "reader": {"query": question},
        "answer_builder": {"query": question},
    }
