"""newsqa's benchmarks: `newsqa bench xquad|default|news` (imported by the CLI only when run), and
scripts run by hand (`python -m lab.benchmarks.scale`, `.bot_load`, `.feeds_load`, `.feeds_digests`).
Each writes its section of docs/benchmarks.md with the date and the machine.
"""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    """The suite `args.suite` names, with the CLI's bench arguments."""
    if args.suite == "news":
        from lab.benchmarks.news import run_news

        return run_news(args)
    if args.suite == "default":
        from lab.benchmarks.default import run_default

        return run_default(args)
    from lab.benchmarks.xquad import run_xquad

    return run_xquad(args)
