"""The bot's own entry point: `newsqa-bot` (installed script) or `python -m bot`.

The retrieval core's `newsqa` command knows nothing of Telegram; the bot starts here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsqa-bot",
        description="Run the newsqa Telegram bot (settings from the environment; see deploy/.env.example).",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging, and the traceback of a start-up error"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from bot.app import run_bot  # after argument parsing, so `--help` does not load the models

    return run_bot(verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
