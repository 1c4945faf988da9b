"""Interface texts of the bot in German (default) and English, as Telegram HTML templates.

`t(lang, key, **values)` fills a template and HTML-escapes every value, so user- or article-derived
text can be passed in as it is. Use `language_of(user)` to pick the language of a reply.
"""

from __future__ import annotations

import html
from typing import Any, Literal

from telegram import User

Lang = Literal["de", "en"]
DEFAULT_LANG: Lang = "de"

MONTHS: dict[Lang, tuple[str, ...]] = {
    "de": (
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}

# Public commands in the order /help and setMyCommands list them; admin commands follow.
COMMANDS: dict[str, dict[Lang, str]] = {
    "start": {"de": "Begrüßung und Kurzanleitung", "en": "Welcome and quick guide"},
    "help": {"de": "Alle Befehle", "en": "All commands"},
    "articles": {"de": "Indexierte Artikel mit IDs", "en": "Indexed articles with ids"},
    "digest": {"de": "[ID] Zusammenfassung des neuesten Artikels", "en": "[id] Digest of the newest article"},
    "subscribe": {
        "de": "[HH:MM] Neue Artikel abonnieren, optional täglich",
        "en": "[HH:MM] Subscribe to new articles, optionally daily",
    },
    "unsubscribe": {"de": "Abonnement beenden", "en": "Stop all digests"},
    "status": {"de": "Was Sie abonniert haben", "en": "What you are subscribed to"},
}
ADMIN_COMMANDS: dict[str, dict[Lang, str]] = {
    "index": {"de": "Artikel (.txt/.md oder Link) indexieren", "en": "Index an article (.txt/.md or link)"},
    "feeds": {"de": "RSS/Atom-Feeds und ihr Zustand", "en": "RSS/Atom feeds and their state"},
    "feed_add": {"de": "URL – Feed eintragen", "en": "URL – Add a feed"},
    "feed_remove": {"de": "ID – Feed entfernen", "en": "ID – Remove a feed"},
    "stats": {"de": "Statistik des Bots", "en": "Bot statistics"},
}

TEXTS: dict[str, dict[Lang, str]] = {
    "start": {
        "de": (
            "Willkommen bei <b>newsqa</b>, {name}!\n\n"
            "Ich beantworte Fragen zu deutschen Nachrichtenartikeln und belege jede Antwort mit "
            "wörtlichen Sätzen aus dem Artikel.\n\n"
            "Schreiben Sie einfach Ihre Frage, zum Beispiel:\n<i>Um wie viel Uhr begann das Gespräch?</i>\n\n"
            "Mit /subscribe erhalten Sie eine Zusammenfassung jedes neuen Artikels. /help zeigt alle Befehle."
        ),
        "en": (
            "Welcome to <b>newsqa</b>, {name}!\n\n"
            "I answer questions about German news articles and back every answer with sentences quoted "
            "verbatim from the article.\n\n"
            "Just type your question, for example:\n<i>When did Russia annex Crimea?</i>\n\n"
            "With /subscribe you get a digest of every new article. /help lists all commands."
        ),
    },
    "help_header": {
        "de": "<b>So funktioniert newsqa</b>\nSchreiben Sie eine Frage als Text – in Gruppen mit @{bot} "
        "oder als Antwort auf mich. Jede Antwort nennt ihre Belege: wörtliche Sätze der Artikel. "
        "Bin ich mir nicht sicher, sage ich das und zeige, was den Artikeln am nächsten kommt; "
        "steht nichts dazu in den Artikeln, sage ich auch das.\n\n<b>Befehle</b>",
        "en": "<b>How newsqa works</b>\nType a question – in groups mention @{bot} or reply to me. "
        "Every answer lists its evidence: sentences quoted from the articles. When I am not sure, I say "
        "so and show the closest the articles come; when the articles say nothing about it, I say "
        "that too.\n\n<b>Commands</b>",
    },
    "help_admin": {"de": "<b>Nur für Administratoren</b>", "en": "<b>Admins only</b>"},
    "help_subscribe": {
        "de": "Beispiele: /subscribe · /subscribe 07:30 · /subscribe 07:30 Europe/Vienna · /subscribe aus",
        "en": "Examples: /subscribe · /subscribe 07:30 · /subscribe 07:30 Europe/London · /subscribe off",
    },
    "abstain": {
        "de": "Dazu finde ich in den Artikeln keine Aussage, die ich belegen kann. "
        "Versuchen Sie eine andere Formulierung oder sehen Sie mit /articles nach, welche Artikel ich kenne.",
        "en": "I can't find anything in the articles that I could cite for that. "
        "Try rephrasing, or use /articles to see which articles I know.",
    },
    "answer_label": {"de": "Antwort", "en": "Answer"},
    "unsure": {
        "de": "Nicht eindeutig belegt – am nächsten kommt:",
        "en": "Not certain – the closest the articles come:",
    },
    "sources_header": {"de": "Belege", "en": "Evidence"},
    "sentence_label": {"de": "Satz {n}", "en": "sentence {n}"},
    "empty_question": {
        "de": "Bitte schreiben Sie eine Frage, zum Beispiel: "
        "<i>Wie viele Soldaten soll die Ukraine verlegt haben?</i>",
        "en": "Please type a question, for example: <i>Where did Biden and Putin first meet in person?</i>",
    },
    "question_too_long": {
        "de": "Ihre Nachricht ist zu lang ({length} Zeichen). Bitte stellen Sie eine kurze Frage "
        "mit höchstens {limit} Zeichen.",
        "en": "Your message is too long ({length} characters). Please ask a short question of at most "
        "{limit} characters.",
    },
    "unsupported_message": {
        "de": "Ich verstehe nur Fragen als Text – Sticker, Fotos, Sprachnachrichten und andere Medien "
        "kann ich nicht auswerten. Bitte schreiben Sie Ihre Frage.",
        "en": "I only understand questions typed as text – I can't read stickers, photos, voice messages "
        "or other media. Please type your question.",
    },
    "document_hint": {
        "de": "Dateien nehme ich nur von Administratoren mit der Bildunterschrift /index an. "
        "Fragen stellen Sie bitte als Text.",
        "en": "I only accept files from admins, captioned /index. Please type your questions as text.",
    },
    "unknown_command": {
        "de": "Den Befehl {command} kenne ich nicht. /help zeigt alle Befehle.",
        "en": "I don't know the command {command}. /help lists all commands.",
    },
    "articles_header": {
        "de": "<b>Indexierte Artikel ({count})</b>",
        "en": "<b>Indexed articles ({count})</b>",
    },
    "articles_sentences": {"de": "{count} Sätze", "en": "{count} sentences"},
    "articles_footer": {
        "de": "Zusammenfassung eines Artikels: /digest ID",
        "en": "Digest of an article: /digest id",
    },
    "no_articles": {
        "de": "Es sind noch keine Artikel indexiert.",
        "en": "No articles have been indexed yet.",
    },
    "digest_unknown": {
        "de": "Es gibt keinen Artikel mit der ID „{article_id}“. /articles zeigt alle IDs.",
        "en": 'There is no article with the id "{article_id}". /articles lists all ids.',
    },
    "digest_usage": {
        "de": "/digest erwartet höchstens eine Artikel-ID, z. B. /digest {example}",
        "en": "/digest takes at most one article id, e.g. /digest {example}",
    },
    "digest_id": {"de": "ID", "en": "id"},
    "digest_new_header": {"de": "📰 <b>Neuer Artikel</b>", "en": "📰 <b>New article</b>"},
    "digest_daily_header": {
        "de": "☀️ <b>Ihre tägliche Zusammenfassung</b> ({day})",
        "en": "☀️ <b>Your daily digest</b> ({day})",
    },
    "subscribed": {
        "de": "🔔 Abonniert. Sie erhalten eine Zusammenfassung jedes neu indexierten Artikels.",
        "en": "🔔 Subscribed. You will get a digest of every newly indexed article.",
    },
    "subscribed_already": {
        "de": "🔔 Sie haben bereits abonniert und erhalten eine Zusammenfassung "
        "jedes neu indexierten Artikels.",
        "en": "🔔 You are already subscribed and get a digest of every newly indexed article.",
    },
    "subscribed_daily": {
        "de": "Dazu täglich um {time} Uhr ({tz}) eine Zusammenfassung des neuesten Artikels.",
        "en": "Plus a digest of the newest article every day at {time} ({tz}).",
    },
    "subscribe_bad_time": {
        "de": "„{value}“ ist keine gültige Uhrzeit. Bitte im Format HH:MM (00:00–23:59) angeben, "
        "z. B. /subscribe 07:30",
        "en": '"{value}" is not a valid time. Please use HH:MM (00:00–23:59), e.g. /subscribe 07:30',
    },
    "subscribe_bad_tz": {
        "de": "„{value}“ ist keine bekannte Zeitzone. Beispiel: /subscribe 07:30 Europe/Berlin",
        "en": '"{value}" is not a known time zone. Example: /subscribe 07:30 Europe/London',
    },
    "subscribe_usage": {
        "de": "Zu viele Angaben. Verwendung: /subscribe [HH:MM] [Zeitzone] oder /subscribe aus",
        "en": "Too many arguments. Usage: /subscribe [HH:MM] [time zone] or /subscribe off",
    },
    "daily_off": {
        "de": "Die tägliche Zusammenfassung ist abbestellt; "
        "Zusammenfassungen neuer Artikel erhalten Sie weiterhin.",
        "en": "The daily digest is off; you still get a digest of every new article.",
    },
    "unsubscribed": {
        "de": "🔕 Abbestellt. Sie erhalten keine Zusammenfassungen mehr. Mit /subscribe können Sie "
        "jederzeit wieder abonnieren.",
        "en": "🔕 Unsubscribed. You won't get any more digests. Use /subscribe to subscribe again any time.",
    },
    "not_subscribed": {
        "de": "Sie haben nichts abonniert. Mit /subscribe erhalten Sie Zusammenfassungen neuer Artikel.",
        "en": "You are not subscribed. Use /subscribe to get digests of new articles.",
    },
    "unsubscribe_admins_only": {
        "de": "In Gruppen können nur die Administratoren der Gruppe das Abonnement beenden. "
        "Bitten Sie einen Administrator, /unsubscribe zu senden.",
        "en": "In groups only the group's administrators can end the subscription. "
        "Ask an administrator to send /unsubscribe.",
    },
    "status_header": {"de": "<b>Ihr Status</b>", "en": "<b>Your status</b>"},
    "status_active": {
        "de": "🔔 Neue Artikel: abonniert seit {since}",
        "en": "🔔 New articles: subscribed since {since}",
    },
    "status_daily": {
        "de": "☀️ Tägliche Zusammenfassung: {time} Uhr ({tz}), nächste am {next}",
        "en": "☀️ Daily digest: {time} ({tz}), next on {next}",
    },
    "status_daily_unscheduled": {
        "de": "☀️ Tägliche Zusammenfassung: {time} Uhr ({tz}) – derzeit nicht eingeplant",
        "en": "☀️ Daily digest: {time} ({tz}) – not scheduled right now",
    },
    "status_no_daily": {
        "de": "☀️ Tägliche Zusammenfassung: aus (/subscribe HH:MM schaltet sie ein)",
        "en": "☀️ Daily digest: off (/subscribe HH:MM turns it on)",
    },
    "status_articles": {"de": "📚 Indexierte Artikel: {count}", "en": "📚 Indexed articles: {count}"},
    "admin_only": {
        "de": "Dieser Befehl ist den Administratoren des Bots vorbehalten. "
        "Fragen können Sie aber jederzeit stellen.",
        "en": "This command is reserved for the bot's admins. You can still ask questions any time.",
    },
    "index_usage": {
        "de": "Senden Sie den Artikel als .txt- oder .md-Datei mit der Bildunterschrift /index "
        "(oder antworten Sie mit /index auf die Datei) – oder als Link: /index https://…",
        "en": "Send the article as a .txt or .md file captioned /index (or reply /index to the file) "
        "– or as a link: /index https://…",
    },
    "index_bad_type": {
        "de": "„{name}“ ist keine .txt- oder .md-Datei. Bitte senden Sie den Artikel als Textdatei.",
        "en": '"{name}" is not a .txt or .md file. Please send the article as a text file.',
    },
    "index_too_large": {
        "de": "Die Datei ist zu groß ({size} Bytes, höchstens {limit}).",
        "en": "The file is too large ({size} bytes, at most {limit}).",
    },
    "index_not_utf8": {
        "de": "„{name}“ ist kein UTF-8-Text. Bitte speichern Sie den Artikel als UTF-8.",
        "en": '"{name}" is not UTF-8 text. Please save the article as UTF-8.',
    },
    "index_link_error": {
        "de": "Der Link wurde nicht indexiert: {error}",
        "en": "The link was not indexed: {error}",
    },
    "link_admins_only": {
        "de": "Links zum Indexieren nehmen nur die Administratoren des Bots an. "
        "Fragen stellen Sie bitte als Text.",
        "en": "Only the bot's admins can send links to index. Please type your questions as text.",
    },
    "feeds_header": {"de": "<b>Feeds ({count})</b>", "en": "<b>Feeds ({count})</b>"},
    "feeds_empty": {
        "de": "Es sind keine Feeds eingetragen. Eintragen: /feed_add https://example.org/feed.xml",
        "en": "No feeds yet. Add one: /feed_add https://example.org/feed.xml",
    },
    "feeds_footer": {
        "de": "Entfernen: /feed_remove ID · Abruf alle {minutes} Minuten",
        "en": "Remove: /feed_remove ID · polled every {minutes} minutes",
    },
    "feed_line": {"de": "<b>{id}</b> · {title}\n{url}", "en": "<b>{id}</b> · {title}\n{url}"},
    "feed_state_new": {"de": "⏳ noch nicht abgerufen", "en": "⏳ not polled yet"},
    "feed_state_ok": {
        "de": "✅ {articles} Artikel · zuletzt abgerufen {when}",
        "en": "✅ {articles} articles · last polled {when}",
    },
    "feed_state_failing": {
        "de": "⚠️ {failures}× fehlgeschlagen, nächster Versuch {when}: {error}",
        "en": "⚠️ failed {failures}×, next try {when}: {error}",
    },
    "feed_add_usage": {
        "de": "Verwendung: /feed_add https://example.org/feed.xml",
        "en": "Usage: /feed_add https://example.org/feed.xml",
    },
    "feed_add_refused": {
        "de": "Dieser Feed wird nicht eingetragen: {error}",
        "en": "This feed was not added: {error}",
    },
    "feed_added": {
        "de": "✅ Feed {id} eingetragen: {url}\nSeine aktuellen Einträge werden jetzt indexiert, aber nicht "
        "als neu verschickt; Abonnenten erhalten die Zusammenfassung jedes neuen Eintrags.",
        "en": "✅ Feed {id} added: {url}\nIts current entries are being indexed but not sent as new; "
        "subscribers will get a digest of every new entry.",
    },
    "feed_exists": {
        "de": "Dieser Feed ist bereits eingetragen (ID {id}).",
        "en": "This feed is already registered (id {id}).",
    },
    "feed_remove_usage": {
        "de": "Verwendung: /feed_remove ID (die IDs zeigt /feeds)",
        "en": "Usage: /feed_remove ID (/feeds lists the ids)",
    },
    "feed_unknown": {
        "de": "Es gibt keinen Feed mit der ID „{value}“. /feeds zeigt alle.",
        "en": 'There is no feed with the id "{value}". /feeds lists them all.',
    },
    "feed_removed": {
        "de": "🗑 Feed {id} entfernt: {url}\nSeine Artikel bleiben indexiert.",
        "en": "🗑 Feed {id} removed: {url}\nIts articles stay indexed.",
    },
    "index_error": {
        "de": "Der Artikel wurde nicht indexiert: {error}",
        "en": "The article was not indexed: {error}",
    },
    "index_added": {
        "de": "✅ Indexiert: <b>{title}</b> ({sentences} Sätze, ID <code>{article_id}</code>). "
        "Abonnenten erhalten die Zusammenfassung.",
        "en": "✅ Indexed: <b>{title}</b> ({sentences} sentences, id <code>{article_id}</code>). "
        "Subscribers will get its digest.",
    },
    "index_replaced": {
        "de": "✅ Aktualisiert: <b>{title}</b> ersetzt <code>{replaced}</code> "
        "(neue ID <code>{article_id}</code>). "
        "Abonnenten erhalten die Zusammenfassung.",
        "en": "✅ Updated: <b>{title}</b> replaces <code>{replaced}</code> "
        "(new id <code>{article_id}</code>). "
        "Subscribers will get its digest.",
    },
    "index_unchanged": {
        "de": "Unverändert: <b>{title}</b> ist bereits so indexiert (ID <code>{article_id}</code>).",
        "en": "Unchanged: <b>{title}</b> is already indexed as it is (id <code>{article_id}</code>).",
    },
    "index_duplicate": {
        "de": "Doppelt: derselbe Text ist bereits als <b>{title}</b> indexiert "
        "(ID <code>{article_id}</code>).",
        "en": "Duplicate: the same text is already indexed as <b>{title}</b> (id <code>{article_id}</code>).",
    },
    "stats": {
        "de": "<b>Statistik</b>\nArtikel: {articles} ({sentences} Sätze)\nAbonnements: {active} aktiv, "
        "{daily} mit täglicher Zusammenfassung, {inactive} beendet\nZustellungen: {sent} gesendet, "
        "{pending} offen, {failed} fehlgeschlagen\nFragen seit Start: {questions} "
        "({abstained} ohne Beleg)\nLaufzeit: {uptime}",
        "en": "<b>Statistics</b>\nArticles: {articles} ({sentences} sentences)\n"
        "Subscriptions: {active} active, "
        "{daily} with a daily digest, {inactive} ended\nDeliveries: {sent} sent, {pending} pending, "
        "{failed} failed\nQuestions since start: {questions} ({abstained} abstained)\nUptime: {uptime}",
    },
    "error": {
        "de": "Entschuldigung, dabei ist bei mir ein Fehler aufgetreten. "
        "Bitte versuchen Sie es gleich noch einmal.",
        "en": "Sorry, something went wrong on my side. Please try again in a moment.",
    },
    "button_subscribe": {"de": "🔔 Abonnieren", "en": "🔔 Subscribe"},
    "button_unsubscribe": {"de": "🔕 Abbestellen", "en": "🔕 Unsubscribe"},
    "button_digest": {"de": "📰 {n}", "en": "📰 {n}"},
    "callback_subscribed": {"de": "Abonniert", "en": "Subscribed"},
    "callback_unsubscribed": {"de": "Abbestellt", "en": "Unsubscribed"},
    "callback_admins_only": {
        "de": "Nur die Administratoren der Gruppe können das Abonnement beenden.",
        "en": "Only the group's administrators can end the subscription.",
    },
    "callback_outdated": {
        "de": "Diese Schaltfläche gilt nicht mehr.",
        "en": "This button is no longer valid.",
    },
}


def language_of(user: User | None) -> Lang:
    """English for users whose Telegram client is set to English, German for everyone else."""
    code = (user.language_code or "") if user else ""
    return "en" if code.lower().startswith("en") else DEFAULT_LANG


def normalise_lang(value: str | None) -> Lang:
    return "en" if value == "en" else DEFAULT_LANG


def t(lang: Lang, key: str, **values: Any) -> str:
    """The template `key` in `lang`, with every value HTML-escaped."""
    template = TEXTS[key][lang]
    if not values:
        return template
    return template.format(**{k: html.escape(str(v), quote=False) for k, v in values.items()})


def month_year(date: str, lang: Lang) -> str:
    """`"2021-12"` -> `"Dezember 2021"`; anything else is returned as it is."""
    parts = date.split("-")
    if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit() and 1 <= int(parts[1]) <= 12:
        return f"{MONTHS[lang][int(parts[1]) - 1]} {parts[0]}"
    return date
