"""The reader path, with a tiny extractive-QA model built and saved locally (nothing is downloaded).

The model's weights are random, so the span it picks is arbitrary; what is tested is the contract:
a configured, loadable reader gives a short span, and the span's sentence is cited verbatim first.
Also which reader the settings choose: newsqa's own by default, none with NEWSQA_READER_MODEL=none.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from retriever.service import NewsQA
from retriever.settings import Settings


def build_tiny_qa_model(folder: Path) -> Path:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertForQuestionAnswering, PreTrainedTokenizerFast

    text = (
        Path(__file__)
        .parents[2]
        .joinpath("retriever/data/article-2021-12-biden-putin.txt")
        .read_text("utf-8")
    )
    words = sorted({w.lower() for w in re.findall(r"\w+|[^\w\s]", text)} | set("abcdefghijklmnopqrstuvwxyz?"))
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {tok: i for i, tok in enumerate(specials + words)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=128,
    )
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    import torch

    torch.manual_seed(0)  # a fixed random model, so the span it picks is the same on every run
    BertForQuestionAnswering(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qa_model(tmp_path_factory.mktemp("tiny-qa"))


def test_configured_reader_gives_a_span_cited_by_its_sentence(tiny_model: Path, tmp_path: Path) -> None:
    qa = NewsQA(Settings(data_dir=tmp_path, reader_model=str(tiny_model)))
    qa.warm_up()
    assert qa.reader_available
    answer = qa.ask("Um wie viel Uhr begann das Gespräch?")
    assert answer.mode == "reader" and answer.answer
    first = answer.citations[0]
    assert answer.answer in first.text
    sentences = {d.meta["sentence_number"]: d.content for d in qa.store.sentences(first.article_id)}
    assert sentences[first.sentence_number] == first.text
    assert answer.to_dict()["answer"] == answer.answer


def test_missing_reader_model_falls_back_to_sentences(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        qa = NewsQA(Settings(data_dir=tmp_path, reader_model=str(tmp_path / "no-such-model")))
        qa.warm_up()
    assert not qa.reader_available
    assert "not available" in caplog.text
    answer = qa.ask("Um wie viel Uhr begann das Gespräch?")
    assert answer.mode == "sentence" and answer.answer == answer.citations[0].text


def test_hub_name_offline_falls_back_quickly(tmp_path: Path) -> None:
    qa = NewsQA(Settings(data_dir=tmp_path, reader_model="deepset/gelectra-base-germanquad"))
    qa.warm_up()  # HF_HUB_OFFLINE=1 (tests/conftest.py) makes this fail at once instead of retrying
    assert not qa.reader_available
    assert qa.ask("Um wie viel Uhr begann das Gespräch?").mode == "sentence"


def test_reader_none_answers_with_whole_sentences(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSQA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NEWSQA_READER_MODEL", "None")
    settings = Settings.from_env()
    assert settings.reader_model == "none"
    qa = NewsQA(settings)
    answer = qa.ask("Um wie viel Uhr begann das Gespräch?")
    assert not qa.reader_available and answer.mode == "sentence" and answer.span is None
    assert answer.answer == answer.citations[0].text


def test_newsqas_own_reader_is_the_default(tmp_path: Path) -> None:
    qa = NewsQA(Settings(data_dir=tmp_path))
    answer = qa.ask("Um wie viel Uhr begann das Gespräch?")
    assert qa.reader_available and answer.mode == "reader" and "16.00" in (answer.answer or "")
    assert answer.span is not None and answer.citations[0].sentence_number == 2
