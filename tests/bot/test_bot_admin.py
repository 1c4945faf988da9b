"""End to end: the admin commands /index and /stats, and bad uploads."""

from __future__ import annotations

import uuid

from bot_testkit import ADMIN_ID, article_text
from conftest import RunBot
from fake_telegram import FakeTelegram


async def upload(fake: FakeTelegram, name: str, content: bytes, caption: str | None = "/index") -> str:
    reply = await fake.reply_to(
        ADMIN_ID, lambda: fake.send_document(ADMIN_ID, name, content, caption=caption, user_id=ADMIN_ID)
    )
    return reply.visible


async def test_index_uploads_and_their_errors(fake: FakeTelegram, run_bot: RunBot) -> None:
    tag = uuid.uuid4().hex[:6]
    good = article_text(f"Windpark {tag} <geplant> & genehmigt", f"Windkraft{tag}").encode()
    async with run_bot():
        usage = await fake.reply_to(ADMIN_ID, lambda: fake.send_command(ADMIN_ID, "index", user_id=ADMIN_ID))
        pdf = await upload(fake, "bericht.pdf", b"%PDF-1.4")
        no_name = await upload(fake, "", b"text")
        binary = await upload(fake, "kaputt.txt", b"\xff\xfe\x00\x01 kein utf8 \xc3")
        empty = await upload(fake, "leer.md", b"   \n\n ")
        bad_header = await upload(fake, "kopf.txt", b"date 21.12.2021 Titel\n\nText hier.")
        added = await upload(fake, "windpark.txt", b"\xef\xbb\xbf" + good)  # with a UTF-8 BOM
        unchanged = await upload(fake, "windpark.txt", good)
        # /index as a reply to a message that carries the document
        sent: list[dict[str, object]] = []
        hint = await fake.reply_to(
            ADMIN_ID,
            lambda: sent.append(
                fake.send_document(ADMIN_ID, "zweit.md", good.replace(b"Windpark", b"Solarpark"))
            ),
        )
        document_message = sent[0]
        by_reply = await fake.reply_to(
            ADMIN_ID,
            lambda: fake.send_command(ADMIN_ID, "index", user_id=ADMIN_ID, reply_to=document_message),
        )
        stats = await fake.reply_to(ADMIN_ID, lambda: fake.send_command(ADMIN_ID, "stats", user_id=ADMIN_ID))
        articles = await fake.reply_to(
            ADMIN_ID, lambda: fake.send_command(ADMIN_ID, "articles", user_id=ADMIN_ID)
        )
    assert "Bildunterschrift /index" in usage.visible
    assert "„bericht.pdf“ ist keine .txt- oder .md-Datei" in pdf
    assert "keine .txt- oder .md-Datei" in no_name
    assert "kein UTF-8-Text" in binary
    assert empty.startswith("Der Artikel wurde nicht indexiert: leer.md")
    assert bad_header.startswith("Der Artikel wurde nicht indexiert: kopf.txt")
    assert added.startswith(f"✅ Indexiert: Windpark {tag} <geplant> & genehmigt (6 Sätze, ID ")
    assert unchanged.startswith(("Unverändert", "Doppelt"))
    assert "Bildunterschrift /index" in hint.visible
    assert by_reply.visible.startswith("✅ Indexiert: Solarpark")
    assert stats.visible.startswith("Statistik\nArtikel: ") and "Fragen seit Start: 0" in stats.visible
    assert f"Windpark {tag} <geplant> & genehmigt" in articles.visible
    assert not fake.rejected
