"""Path arguments that are not regular files: refused at once, never read or waited on, and the
sentence cap every article has."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from retriever import ingest
from retriever.ingest import ArticleError, parse_article, read_article


def refused_within(path: Path, seconds: float, match: str) -> None:
    """read_article(path) raises ArticleError matching `match` within `seconds`; a reader blocked in
    open() (a FIFO opened blocking) is released by opening the FIFO for writing, and the test fails."""
    outcome: list[BaseException | None] = []

    def read() -> None:
        try:
            read_article(path)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=read, daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        if path.is_fifo():
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # unblock the reader
        pytest.fail(f"reading {path} blocked for more than {seconds} s")
    assert time.monotonic() - started < seconds
    assert isinstance(outcome[0], ArticleError), outcome
    assert match in str(outcome[0]) and str(path) in str(outcome[0])


def test_a_device_behind_a_txt_link_is_refused_not_read(tmp_path: Path) -> None:
    zero = tmp_path / "zero.txt"
    zero.symlink_to("/dev/zero")  # st_size 0: passed the size check, then read until memory ran out
    refused_within(zero, 3.0, "character device")


def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.txt"
    os.mkfifo(fifo)
    refused_within(fifo, 3.0, "named pipe")
    link = tmp_path / "link-to-fifo.md"
    link.symlink_to(fifo)
    refused_within(link, 3.0, "named pipe")


def test_a_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sock.txt"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        refused_within(path, 3.0, "socket")


def test_the_byte_cap_holds_for_what_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.txt"
    big.write_text("Ein Satz. " * 200, encoding="utf-8")
    monkeypatch.setattr(ingest, "MAX_ARTICLE_BYTES", 1000)
    with pytest.raises(ArticleError, match="too large"):
        ingest.read_bytes_capped(big, limit=1000)
    assert len(ingest.read_bytes_capped(big, limit=5000)) == 2000


def test_an_article_has_at_most_max_sentences(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "MAX_SENTENCES", 5)
    assert len(parse_article("Titel\n\n" + "Ein Satz. " * 5, "ok.txt").sentences) == 5
    with pytest.raises(ArticleError, match="6 sentences is too many for one article"):
        parse_article("Titel\n\n" + "Ein Satz. " * 6, "many.txt")
