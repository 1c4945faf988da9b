"""Hostile input through `newsqa index` as a user runs it: a server trickling its headers, a bad
URL beside a good one, devices and FIFOs behind article names, SIGTERM mid-fetch, endless lines."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.retriever.test_cli import newsqa
from tests.retriever.test_cli_durability import _env
from tests.web.hostile_server import LUEBECK, HostileServer, hostile_server, news_page

pytestmark = pytest.mark.slow

ENV = {"NEWSQA_ALLOW_PRIVATE_URLS": "1", "NEWSQA_INDEX_DEFAULT": "0"}


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    with hostile_server() as running:
        running.route("/artikel.html", body=news_page(LUEBECK).encode())
        running.route("/trickle.html", body=b"<html></html>", trickle_every=2.0, give_up_after=60)
        yield running


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.strip()]


def test_trickled_headers_end_the_command_at_the_fetch_timeout(server: HostileServer, tmp_path: Path) -> None:
    started = time.monotonic()
    run = newsqa(tmp_path, "index", server.url("/trickle.html"), env={**ENV, "NEWSQA_FETCH_TIMEOUT": "5"})
    elapsed = time.monotonic() - started
    assert run.returncode == 1
    assert error_lines(run.stderr) == [f"error: {server.url('/trickle.html')}: took longer than 5 s; stopped"]
    assert elapsed < 5 + 10, elapsed  # 5 s and the start-up; 86 s before, and without bound


def test_a_bad_url_is_one_line_and_the_others_still_run(server: HostileServer, tmp_path: Path) -> None:
    good = write_article(tmp_path, "gut.txt")
    run = newsqa(
        tmp_path, "index", "http://0177.0.0.1/artikel.html", server.url("/artikel.html"), str(good), env=ENV
    )
    assert run.returncode == 1
    lines = error_lines(run.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: http://0177.0.0.1/artikel.html: not a valid URL")
    assert f"{server.url('/artikel.html')}: added: " in run.stdout and "gut.txt: added" in run.stdout


def write_article(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text("Ein Titel\n\nIn Kiel hat es am Montag geregnet. Am Dienstag schien die Sonne.\n")
    return path


def test_devices_fifos_and_sockets_are_refused_at_once(tmp_path: Path) -> None:
    zero = tmp_path / "zero.txt"
    zero.symlink_to("/dev/zero")
    fifo = tmp_path / "fifo.txt"
    os.mkfifo(fifo)
    good = write_article(tmp_path, "gut.txt")
    run = newsqa(tmp_path, "index", str(zero), str(fifo), str(good), env=ENV)
    assert run.returncode == 1
    assert error_lines(run.stderr) == [
        f"error: {zero}: is a character device, not a file",
        f"error: {fifo}: is a named pipe (FIFO), not a file",
    ]
    assert "gut.txt: added" in run.stdout and run.stdout.splitlines()[-1] == "1 added, 2 failed"


def test_sigterm_during_a_fetch_ends_the_run_with_143(server: HostileServer, tmp_path: Path) -> None:
    good = write_article(tmp_path, "gut.txt")
    env = {**_env(tmp_path), **ENV, "NEWSQA_FETCH_TIMEOUT": "8"}
    before = len(server.requests)
    process = subprocess.Popen(
        [sys.executable, "-m", "retriever.cli", "index", server.url("/trickle.html"), str(good)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        for _ in range(300):  # until the fetch is under way
            if len(server.requests) > before:
                break
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 143, err
    assert "stopped by SIGTERM: 1 files or folders not indexed" in err and "gut.txt" not in out


def test_a_one_megabyte_line_indexes_in_seconds(server: HostileServer, tmp_path: Path) -> None:
    words = "Hafen Lübeck Stadtrat Montag beraten Kosten Bürger Frühjahr abstimmen Sprecherin".split()
    line = " ".join(words[i % len(words)] for i in range(95_000))  # ~1 MB, no sentence end
    url = server.route("/zeile.html", body=news_page([*LUEBECK, line]).encode())
    started = time.monotonic()
    run = newsqa(tmp_path, "index", url, env=ENV)
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stderr
    assert "(4 sentences)" in run.stdout
    assert elapsed < 30, elapsed  # did not finish in 120 s before
