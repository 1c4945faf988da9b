"""End to end: questions and commands through the real Application against the fake Bot API."""

from __future__ import annotations

import re

import pytest
from conftest import RunBot
from fake_telegram import FakeTelegram, parse_telegram_html

from bot.services import services
from bot.texts import TEXTS
from retriever.models import Answer, Citation
from retriever.service import NewsQA

USER = 1001


async def test_question_gets_cited_answer(fake: FakeTelegram, run_bot: RunBot) -> None:
    async with run_bot():
        reply = await fake.reply_to(
            USER, lambda: fake.send_text(USER, "Wann trafen sich Putin und Biden persönlich?")
        )
    assert (USER, "typing") in fake.chat_actions
    assert reply.parse_mode == "HTML"
    assert "Genf" in reply.visible
    assert "<b>[1]</b>" in reply.text and "<blockquote>" in reply.text
    assert "Biden und Putin messen ihre Kräfte per Videokonferenz" in reply.visible
    assert "Dezember 2021" in reply.visible and "Satz 11" in reply.visible
    assert "Belege" in reply.visible
    assert not fake.rejected


async def test_the_readers_short_answer_stands_first_and_bold_in_its_sentence(
    fake: FakeTelegram, run_bot: RunBot
) -> None:
    async with run_bot():
        question = "Um wie viel Uhr begann das Gespräch?"
        reply = await fake.reply_to(USER, lambda: fake.send_text(USER, question))
    first_line = reply.visible.splitlines()[0]
    assert "16.00" in first_line and len(first_line) < 40  # the span, not the whole sentence
    assert "<b>16.00" in reply.text and "Satz 2" in reply.visible
    assert not fake.rejected


async def test_english_interface_for_english_users(fake: FakeTelegram, run_bot: RunBot) -> None:
    async with run_bot():
        reply = await fake.reply_to(
            USER,
            lambda: fake.send_text(
                USER, "Wann trafen sich Putin und Biden persönlich?", language_code="en-GB"
            ),
        )
        start = await fake.reply_to(USER, lambda: fake.send_command(USER, "start", language_code="en"))
    assert "Evidence" in reply.visible and "December 2021" in reply.visible
    assert start.visible.startswith("Welcome to newsqa")


async def test_abstention_says_so(fake: FakeTelegram, run_bot: RunBot) -> None:
    async with run_bot():
        reply = await fake.reply_to(USER, lambda: fake.send_text(USER, "Was kostet ein Kilo Äpfel?"))
    assert reply.visible.startswith("Dazu finde ich in den Artikeln keine Aussage")
    assert "[1]" not in reply.visible


async def test_group_answers_only_when_addressed(fake: FakeTelegram, run_bot: RunBot) -> None:
    group = -5001
    async with run_bot():
        fake.send_text(group, "Wann trafen sich Putin und Biden persönlich?", user_id=77)
        reply = await fake.reply_to(
            group, lambda: fake.mention(group, "Wann trafen sich Putin und Biden persönlich?", user_id=77)
        )
        # a reply to the bot's message is addressed to it as well
        bot_message = {
            "message_id": reply.message_id,
            "date": 0,
            "chat": fake.chat(group),
            "from": fake.bot_user,
            "text": reply.visible,
        }
        follow_up = await fake.reply_to(
            group,
            lambda: fake.send_text(
                group, "Und wo trafen sich Putin und Biden persönlich?", user_id=77, reply_to=bot_message
            ),
        )
        fake.send_command(group, "foo", user_id=77)  # unknown, not addressed to us: ignored in groups
        status = await fake.reply_to(group, lambda: fake.send_command(group, "status", user_id=77))
    assert "Genf" in reply.visible
    assert reply.reply_to is not None  # quotes the question in groups
    assert "Genf" in follow_up.visible and follow_up.reply_to is not None
    assert len(fake.messages_to(group)) == 3
    assert "Ihr Status" in status.visible


async def test_commands_help_articles_digest(fake: FakeTelegram, run_bot: RunBot) -> None:
    async with run_bot():
        help_reply = await fake.reply_to(USER, lambda: fake.send_command(USER, "help"))
        admin_help = await fake.reply_to(4242, lambda: fake.send_command(4242, "help"))
        articles = await fake.reply_to(USER, lambda: fake.send_command(USER, "articles"))
        digest = await fake.reply_to(USER, lambda: fake.send_command(USER, "digest"))
        article_id = digest.text.split("<code>")[1].split("</code>")[0]
        by_id = await fake.reply_to(USER, lambda: fake.send_command(USER, "digest", article_id))
        button = articles.reply_markup["inline_keyboard"][0][0]  # type: ignore[index]
        pressed = await fake.reply_to(
            USER, lambda: fake.press_button(USER, articles.message_id, button["callback_data"])
        )
    for command in ("/start", "/help", "/articles", "/digest", "/subscribe", "/unsubscribe", "/status"):
        assert command in help_reply.visible
    assert "/index" not in help_reply.visible and "/index" in admin_help.visible
    assert article_id in articles.visible
    newest_title = digest.visible.split("\n")[0]  # other tests may have indexed newer articles
    assert f"1. {newest_title}\n" in articles.visible and "•" in digest.visible
    assert by_id.visible == digest.visible
    assert pressed.visible == digest.visible
    assert digest.reply_markup == {"inline_keyboard": [[{"text": "🔔 Abonnieren", "callback_data": "sub"}]]}
    registered = {
        tuple(c["name"] if "name" in c else c["command"] for c in call["commands"]) for call in fake.commands
    }
    assert ("start", "help", "articles", "digest", "subscribe", "unsubscribe", "status") in registered
    assert any("index" in names for names in registered)  # admin scope
    assert any(call.get("language_code") == "en" for call in fake.commands)


async def test_hostile_inputs_each_get_a_clear_reply(fake: FakeTelegram, run_bot: RunBot) -> None:
    async with run_bot():
        sticker = await fake.reply_to(USER, lambda: fake.send_sticker(USER))
        photo = await fake.reply_to(USER, lambda: fake.send_photo(USER))
        voice = await fake.reply_to(USER, lambda: fake.send_voice(USER))
        empty = await fake.reply_to(USER, lambda: fake.send_text(USER, ""))
        blank = await fake.reply_to(USER, lambda: fake.send_text(USER, "   \n  "))
        huge = await fake.reply_to(USER, lambda: fake.send_text(USER, "Warum? " * 1500))
        markup = await fake.reply_to(
            USER, lambda: fake.send_text(USER, "<b>x</b><script>alert(1)</script> &amp; Putin")
        )
        unknown = await fake.reply_to(USER, lambda: fake.send_command(USER, "foo"))
        bad_time = await fake.reply_to(USER, lambda: fake.send_command(USER, "subscribe", "25:99"))
        bad_tz = await fake.reply_to(USER, lambda: fake.send_command(USER, "subscribe", "07:30 Mars/Olympus"))
        too_many = await fake.reply_to(
            USER, lambda: fake.send_command(USER, "subscribe", "07:30 Europe/Berlin x")
        )
        no_id = await fake.reply_to(USER, lambda: fake.send_command(USER, "digest", "nosuchid"))
        digest_args = await fake.reply_to(USER, lambda: fake.send_command(USER, "digest", "a b"))
        not_admin = await fake.reply_to(USER, lambda: fake.send_command(USER, "index"))
        not_admin_doc = await fake.reply_to(
            USER, lambda: fake.send_document(USER, "a.txt", b"date 2024-01 T\n\nText.", caption="/index")
        )
        stats = await fake.reply_to(USER, lambda: fake.send_command(USER, "stats"))
        plain_doc = await fake.reply_to(USER, lambda: fake.send_document(USER, "a.txt", b"x"))
        unsubscribe = await fake.reply_to(USER, lambda: fake.send_command(USER, "unsubscribe"))
        still_works = await fake.reply_to(
            USER, lambda: fake.send_text(USER, "Wann trafen sich Putin und Biden?")
        )
    assert "Sticker" in sticker.visible and "Text" in sticker.visible
    assert photo.visible == sticker.visible == voice.visible
    assert (
        "Bitte schreiben Sie eine Frage" in empty.visible
        and "Bitte schreiben Sie eine Frage" in blank.visible
    )
    assert "zu lang (10499 Zeichen)" in huge.visible and "höchstens 1000 Zeichen" in huge.visible
    assert "<script>" not in markup.text  # answered or abstained, but escaped and valid HTML
    assert "Den Befehl /foo kenne ich nicht" in unknown.visible
    assert "„25:99“ ist keine gültige Uhrzeit" in bad_time.visible
    assert "Mars/Olympus" in bad_tz.visible and "Zeitzone" in bad_tz.visible
    assert "Verwendung: /subscribe" in too_many.visible
    assert "keinen Artikel mit der ID „nosuchid“" in no_id.visible
    assert "höchstens eine Artikel-ID" in digest_args.visible
    assert "Administratoren" in not_admin.visible and "Administratoren" in not_admin_doc.visible
    assert "Administratoren" in stats.visible
    assert "/index" in plain_doc.visible
    assert "nichts abonniert" in unsubscribe.visible
    assert "Genf" in still_works.visible
    assert not fake.rejected, fake.rejected  # every reply was valid Telegram HTML
    for message in fake.sent:
        parse_telegram_html(message.text)


async def test_long_answers_are_split_into_valid_messages(fake: FakeTelegram, run_bot: RunBot) -> None:
    long_sentence = "Putin & Biden <sprachen> lange. " * 120
    citations = tuple(
        Citation(n, "abc", "Titel <i>", "2021-12", n, long_sentence.strip()) for n in range(1, 6)
    )
    async with run_bot() as app:
        qa = services(app).qa
        real = qa.qa
        qa.qa = LongAnswers(  # type: ignore[assignment]
            real, Answer("?", long_sentence, 1.0, citations, 1.0, "sentence")
        )
        first = await fake.reply_to(USER, lambda: fake.send_text(USER, "Worüber sprachen sie?"))
        await fake.wait_for(lambda: len(fake.messages_to(USER)) >= 6)
        qa.qa = real
    parts = fake.messages_to(USER)
    assert len(parts) == 6
    assert not fake.rejected
    assert all(len(p.visible) <= 4096 for p in parts)
    assert "&lt;sprachen&gt;" in first.text and "Titel &lt;i&gt;" in parts[1].text


class LongAnswers:
    """The real core, but every question gets the same very long answer."""

    def __init__(self, real: object, answer: Answer) -> None:
        self._real, self._answer = real, answer

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)

    def ask(self, question: str) -> Answer:
        return self._answer


class BrokenCore:
    """The real core, but answering fails."""

    def __init__(self, real: object) -> None:
        self._real = real

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)

    def ask(self, question: str) -> Answer:
        raise RuntimeError("index file /srv/secret/path is corrupt")


async def test_errors_are_logged_with_context_and_reported_briefly(
    fake: FakeTelegram, run_bot: RunBot, caplog: pytest.LogCaptureFixture
) -> None:
    async with run_bot() as app:
        qa = services(app).qa
        real = qa.qa
        qa.qa = BrokenCore(real)  # type: ignore[assignment]
        reply = await fake.reply_to(USER, lambda: fake.send_text(USER, "Wer?", language_code="en"))
        qa.qa = real
        recovered = await fake.reply_to(
            USER, lambda: fake.send_text(USER, "Wann trafen sich Putin und Biden?")
        )
    assert reply.visible == "Sorry, something went wrong on my side. Please try again in a moment."
    assert "Genf" in recovered.visible
    record = next(r for r in caplog.records if r.name == "bot.handlers.errors")
    assert f"chat {USER} (private)" in record.getMessage() and "text of 4 chars" in record.getMessage()
    assert record.exc_info is not None and "corrupt" in str(record.exc_info[1])


def test_the_example_questions_the_bot_suggests_are_answered(newsqa: NewsQA) -> None:
    """A new user copies the example from /start: on the default article it must get an answer."""
    examples = [
        question
        for texts in TEXTS.values()
        for text in texts.values()
        for question in re.findall(r"<i>([^<]+\?)</i>", text)
    ]
    assert len(examples) >= 4, examples
    for question in examples:
        answer = newsqa.ask(question)
        assert not answer.abstained and answer.citations, question
