"""newsqa's Telegram bot: Telegram I/O on top of the retrieval core (`retriever`).

Run it with `newsqa-bot` or `python -m bot` (`bot/__main__.py`); `bot.app.run_bot` does the work.
"""

import os

# Opt in to python-telegram-bot's future behaviour: time periods such as `RetryAfter.retry_after` are
# `datetime.timedelta` (the bot handles both); avoids a deprecation warning on every flood wait.
os.environ.setdefault("PTB_TIMEDELTA", "true")

# Before anything else loads numpy or OpenMP: `retriever` sets the environment (haystack telemetry
# off, sleeping OpenMP threads) that has to be in place when those libraries load.
import retriever  # noqa: F401
