"""RSS/Atom feeds: the registry in the bot's database (`db`), the poller (`poller`) and
`newsqa feeds` (`cli`)."""
