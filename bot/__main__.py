"""`python -m bot`: run the newsqa Telegram bot (same as `newsqa bot`)."""

from bot.app import run_bot

if __name__ == "__main__":
    raise SystemExit(run_bot())
