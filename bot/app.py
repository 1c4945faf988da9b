"""Building and running the Telegram application (`newsqa-bot`, `python -m bot`).

`build_application` wires python-telegram-bot to the retrieval core: the Bot API endpoint
(`TELEGRAM_BASE_URL` for a local Bot API server), the rate limiter, HTML defaults, the handlers, the
database and the broadcaster. `post_init` creates or upgrades the database, loads the models,
registers the command menu (setMyCommands), rebuilds the daily digest jobs and starts the job that
picks up new articles. `run_bot` runs it with long polling or a webhook and returns an exit code.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
from typing import Any

from telegram import BotCommand, BotCommandScopeChat, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application, ApplicationBuilder, Defaults

from bot.broadcast import Broadcaster
from bot.db import SchemaError, create_engine, init_db
from bot.handlers import register
from bot.jobs import rebuild_daily_jobs, resync_daily_job, start_refresh_job
from bot.qa import AsyncQA, NewsQALike, create_newsqa
from bot.ratelimit import NewsQARateLimiter
from bot.repository import Repository
from bot.services import SERVICES_KEY, Services, services
from bot.settings import BotSettings, SettingsError
from bot.texts import ADMIN_COMMANDS, COMMANDS

logger = logging.getLogger(__name__)

NewsQAApplication = Application[Any, Any, Any, Any, Any, Any]


def bot_commands(lang: str, admin: bool = False) -> list[BotCommand]:
    entries = dict(COMMANDS)
    if admin:
        entries.update(ADMIN_COMMANDS)
    return [
        BotCommand(name, descriptions["en" if lang == "en" else "de"])
        for name, descriptions in entries.items()
    ]


async def register_commands(application: NewsQAApplication) -> None:
    """setMyCommands: German by default, English for English clients, admin commands for admins."""
    bot = application.bot
    await bot.set_my_commands(bot_commands("de"))
    await bot.set_my_commands(bot_commands("en"), language_code="en")
    for admin_id in sorted(services(application).settings.admin_ids):
        try:
            await bot.set_my_commands(bot_commands("de", admin=True), scope=BotCommandScopeChat(admin_id))
        except TelegramError as exc:  # the admin has not started the bot yet
            logger.warning("Could not set the admin command menu for %s: %s", admin_id, exc)


async def post_init(application: NewsQAApplication) -> None:
    found = services(application)
    version = await init_db(found.engine)
    logger.info("Bot database ready (schema version %d)", version)
    resumed = await found.repo.reset_in_flight()
    if resumed:
        logger.warning("%d digest(s) were being sent when the bot stopped; they will be sent again", resumed)
    await found.qa.warm_up()
    try:
        await register_commands(application)
    except TelegramError as exc:
        logger.warning("Could not register the command menu: %s", exc)
    await rebuild_daily_jobs(application)
    start_refresh_job(application)
    me = application.bot
    logger.info("newsqa bot @%s is up (%s)", me.username, found.settings.mode)


async def post_shutdown(application: NewsQAApplication) -> None:
    await services(application).engine.dispose()


def build_application(
    settings: BotSettings,
    qa: NewsQALike | None = None,
    *,
    rate_limiter: NewsQARateLimiter | None = None,
) -> NewsQAApplication:
    """The configured Application (not started). `qa` defaults to the real `NewsQA`."""
    builder = ApplicationBuilder().token(settings.token)
    if settings.base_url:
        builder = builder.base_url(f"{settings.base_url}/bot").base_file_url(f"{settings.base_url}/file/bot")
    application = (
        builder.rate_limiter(rate_limiter or NewsQARateLimiter(max_retries=3))
        .defaults(
            Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True))
        )
        .concurrent_updates(True)
        .get_updates_read_timeout(settings.poll_timeout + 10.0)
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    engine = create_engine(settings.database_url)
    repo = Repository(engine)
    async_qa = AsyncQA(qa if qa is not None else create_newsqa(settings.core))
    broadcaster = Broadcaster(
        application,
        repo,
        async_qa,
        rate=settings.broadcast_rate,
        on_chat_changed=lambda chat_id: resync_daily_job(application, chat_id),
    )
    application.bot_data[SERVICES_KEY] = Services(
        settings=settings, qa=async_qa, engine=engine, repo=repo, broadcaster=broadcaster
    )
    register(application)
    return application


class RedactingFormatter(logging.Formatter):
    """Never lets a secret (the bot token, the webhook secret) reach a log line."""

    def __init__(self, fmt: str, secrets: list[str]) -> None:
        super().__init__(fmt)
        self._secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, "<redacted>")
        return text


def _no_traceback_for_a_bad_token(record: logging.LogRecord) -> bool:
    """A rejected token is a configuration error, reported in one line by `run_bot`."""
    if record.exc_info and isinstance(record.exc_info[1], InvalidToken):
        record.exc_info = None
        record.exc_text = None
    return True


def configure_logging(secrets: list[str]) -> None:
    level = os.environ.get("NEWSQA_LOG_LEVEL", "INFO").upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secrets))
    handler.addFilter(_no_traceback_for_a_bad_token)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    # httpx logs every request URL, which contains the token; APScheduler logs every job run.
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_bot(settings: BotSettings | None = None, verbose: bool = False) -> int:
    """Run the bot until SIGINT/SIGTERM; returns the process exit code (`verbose`: tracebacks too)."""
    try:
        settings = (settings or BotSettings.from_env()).validate()
    except SettingsError as exc:
        print(f"newsqa bot: {exc}", file=sys.stderr)
        return 2
    token_secret = settings.token.partition(":")[2]
    configure_logging([settings.token, token_secret, settings.webhook_secret])
    application = build_application(settings)
    try:
        if settings.mode == "webhook":
            application.run_webhook(
                listen=settings.webhook_listen,
                port=settings.webhook_port,
                url_path=settings.webhook_path,
                webhook_url=settings.webhook_url,
                secret_token=settings.webhook_secret,
                allowed_updates=Update.ALL_TYPES,
            )
        else:
            application.run_polling(
                allowed_updates=Update.ALL_TYPES, timeout=dt.timedelta(seconds=settings.poll_timeout)
            )
    except InvalidToken:
        print(
            "newsqa bot: Telegram rejected TELEGRAM_BOT_TOKEN; check the token with @BotFather",
            file=sys.stderr,
        )
        return 1
    except NetworkError as exc:
        message = str(exc).replace(settings.token, "<redacted>")
        print(f"newsqa bot: cannot reach the Telegram Bot API: {message}", file=sys.stderr)
        return 1
    except SchemaError as exc:
        print(f"newsqa bot: {exc}", file=sys.stderr)
        return 1
    return 0
