"""The haystack pipeline and its components: serialisation, fusion, abstention, keyword analysis."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from haystack import Document, Pipeline

from retriever.bm25 import BM25Index
from retriever.components.answer_builder import CitedAnswerBuilder
from retriever.components.ranker import HybridRanker
from retriever.german import analyze, question_language
from retriever.pipeline import pipeline_inputs
from retriever.service import NewsQA


def test_pipeline_round_trips_through_yaml(default_qa: NewsQA) -> None:
    text = default_qa.pipeline.dumps()
    loaded = Pipeline.loads(text, allowed_modules=["retriever.components"])
    assert loaded.dumps() == text
    loaded.warm_up()
    answer = loaded.run(pipeline_inputs("Um wie viel Uhr begann das Gespräch?"))["answer_builder"]["answer"]
    assert answer.citations[0].sentence_number == 2


def test_german_analysis_stems_and_folds_umlauts() -> None:
    assert analyze("Verhandlungen") == analyze("Verhandlung")
    assert analyze("Rußland") == analyze("Russland")
    assert analyze("Gespräche") == analyze("Gesprach")
    assert analyze("the and der die das") == []


def test_bm25_is_normalised_so_english_questions_stay_quiet() -> None:
    index = BM25Index(["Die Verhandlungen in Genf dauerten Stunden.", "Der Hafen von Kiel wurde erweitert."])
    german = index.scores("Wie lange dauerten die Verhandlungen in Genf?")
    english = index.scores("How long did the negotiations in Geneva last?")
    assert german.argmax() == 0 and german[0] > 0.2
    assert english.max() == 0.0


def test_question_language() -> None:
    assert question_language("Who annexed Crimea?") == "en"
    assert question_language("Wer annektierte die Krim?") == "de"
    assert question_language("Krim?") == "de"


def _doc(i: int, vector: list[float], **meta: object) -> Document:
    base = {
        "article_id": "a",
        "title": "T",
        "date": "2021-12",
        "sentence_number": i,
        "context_embedding": vector,
    }
    return Document(id=f"a-{i}", content=f"Satz {i}.", embedding=vector, meta={**base, **meta})


def test_ranker_fuses_dense_and_keyword_scores() -> None:
    q = np.array([1.0, 0.0], dtype=np.float32)
    dense_best = _doc(1, [0.9, float(np.sqrt(1 - 0.81))])
    keyword_hit = replace(_doc(2, [0.85, float(np.sqrt(1 - 0.85**2))]), score=1.0)
    ranked = HybridRanker(context_weight=0.0, keyword_weight=0.12).run(
        query_vector=q, embedding_documents=[dense_best], keyword_documents=[keyword_hit]
    )["documents"]
    assert [d.id for d in ranked] == ["a-2", "a-1"]
    assert ranked[0].embedding is None and "context_embedding" not in ranked[0].meta
    assert ranked[0].meta["keyword_score"] == 1.0


def test_answer_builder_abstains_under_the_threshold_and_cites_nothing() -> None:
    builder = CitedAnswerBuilder(abstain_thresholds={"de": 0.8, "en": 0.7})
    weak = Document(id="a-1", content="Satz.", score=0.75, meta={"article_id": "a", "sentence_number": 1})
    german = builder.run(query="Wann war das?", documents=[weak])["answer"]
    english = builder.run(query="When was that?", documents=[weak])["answer"]
    assert german.answer is None and german.citations == ()
    assert english.answer == "Satz." and english.citations[0].sentence_number == 1
    assert builder.run(query="Wann?", documents=[])["answer"].abstained
