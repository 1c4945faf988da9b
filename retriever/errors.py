"""The errors of the retrieval core that a user can act on, each with a one-line message.

The CLI and the bot's start-up print `str(error)` and exit non-zero (a traceback only with `-v`);
anything else escaping them is a bug. The message names what is wrong (a setting, a file, a server)
and, where there is one, the fix.
"""

from __future__ import annotations


class NewsQAError(Exception):
    """A known failure; `str()` is the whole message for the user."""


class ConfigError(NewsQAError, ValueError):
    """A setting has a value that cannot work; the message names the setting (e.g. NEWSQA_DATA_DIR)."""


class StoreError(NewsQAError):
    """The document store cannot be opened or used (server down, wrong password, unwritable dir)."""


class IndexDamaged(StoreError):
    """The stored index is damaged; the message names the file and how to recover."""


class ModelMismatch(StoreError):
    """The index was built by another embedding model; `newsqa reindex` re-embeds it."""
