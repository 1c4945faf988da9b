"""Self-supervised German reading examples from real news (10kGNAD rows 512-1027 only).

A sentence that states a fact of a recognisable kind (a time, a date, a year, a percentage, an
amount of money, a count of something) gives one question: the sentence itself with the fact
replaced by the German phrase that asks for it, an echo question ("Die Arbeitslosigkeit stieg auf
wie viel Prozent?"). The fact is the answer span. Sentences of the same article that do not contain
the fact are its no-answer examples: near misses from the same article (same topic, same names,
another fact), which XQuAD-train has too few of for real news, where most unanswerable questions
are of this kind.

The questions are German only and read like the sentence they come from, unlike XQuAD's
paraphrases; training mixes a limited number of them into each epoch (`ReaderTrainConfig.generated`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MONTHS = "Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember"
NUMBER = r"\d{1,3}(?:\.\d{3})+|\d+(?:,\d+)?"


@dataclass(frozen=True)
class Fact:
    """A span of a sentence (`start`, `end`: the answer) and the question phrase that replaces
    `replace_start`..`replace_end` (the answer with the preposition that goes with it)."""

    start: int
    end: int
    replace_start: int
    replace_end: int
    phrase: str


def _span(match: re.Match[str], phrase: str, group: int = 0) -> Fact:
    """The answer is `group` of the match; the whole match (with its preposition) is replaced."""
    return Fact(match.start(group), match.end(group), match.start(), match.end(), phrase)


def _count(match: re.Match[str]) -> Fact | None:
    if re.fullmatch(r"(?:19|20)\d\d", match.group(1)):  # a year, not a count
        return None
    return _span(match, f"wie viele {match.group(2)}")


def _unit(match: re.Match[str]) -> str:
    return match.group(0).rsplit(" ", 1)[1]


# (pattern, how a match becomes a Fact); a span of text is asked about once, the first pattern first
_PATTERNS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], Fact | None]]] = [
    (re.compile(r"\b[Uu]m (\d{1,2}[.:]\d{2} Uhr)"), lambda m: _span(m, "um wie viel Uhr", 1)),
    (re.compile(rf"\b[Aa]m (\d{{1,2}}\. (?:{MONTHS})(?: \d{{4}})?)"), lambda m: _span(m, "wann", 1)),
    (re.compile(r"\b[Ii]m Jahre? ((?:19|20)\d\d)\b"), lambda m: _span(m, "in welchem Jahr", 1)),
    (
        re.compile(r"\b([Ss]eit|[Bb]is|[Aa]b) ((?:19|20)\d\d)\b(?![.,]\d)"),
        lambda m: _span(m, f"{m.group(1)} wann", 2),
    ),
    (re.compile(rf"\b(?:{NUMBER}) (?:Prozent|Prozentpunkte)\b"), lambda m: _span(m, f"wie viel {_unit(m)}")),
    (
        re.compile(rf"\b(?:{NUMBER})(?: (?:Millionen|Milliarden|Mio\.|Mrd\.))? (?:Euro|Dollar|Franken)\b"),
        lambda m: _span(m, f"wie viel {_unit(m)}"),
    ),
    (re.compile(r"\b(\d{1,3}(?:\.\d{3})+|\d+) ([A-ZÄÖÜ][a-zäöüß]{3,})\b"), _count),
]


def facts(sentence: str) -> list[Fact]:
    """The askable facts of a sentence, at most one per span of text."""
    out: list[Fact] = []
    taken: list[tuple[int, int]] = []
    for pattern, make in _PATTERNS:
        for match in pattern.finditer(sentence):
            fact = make(match)
            if fact is None or any(a < fact.replace_end and fact.replace_start < b for a, b in taken):
                continue
            taken.append((fact.replace_start, fact.replace_end))
            out.append(fact)
    return out


def echo_question(sentence: str, fact: Fact) -> str:
    """The sentence with the fact replaced by its question phrase, as a question."""
    text = sentence[: fact.replace_start] + fact.phrase + sentence[fact.replace_end :]
    text = text.rstrip().rstrip(".!:;").rstrip()
    if fact.replace_start == 0:
        text = text[0].upper() + text[1:]
    return text + "?"


@dataclass(frozen=True)
class NewsQuestion:
    question: str
    sentence: str
    start: int
    end: int
    others: list[str]  # sentences of the same article that do not contain the answer


def news_questions(
    articles: Sequence[Sequence[str]],
    rng: random.Random,
    per_article: int = 3,
    others_per_question: int = 3,
) -> list[NewsQuestion]:
    """Up to `per_article` echo questions per article (one per sentence, facts drawn at random), each
    with the article's sentences that share the most words with it and lack its answer."""
    from retriever.german import analyze

    out: list[NewsQuestion] = []
    for sentences in articles:
        candidates = [(s, f) for s in sentences if 40 <= len(s) <= 300 for f in [facts(s)] if f]
        if not candidates:
            continue
        rng.shuffle(candidates)
        words = [set(analyze(s)) for s in sentences]
        for sentence, found in candidates[:per_article]:
            fact = rng.choice(found)
            answer = sentence[fact.start : fact.end]
            question = echo_question(sentence, fact)
            asked = set(analyze(question))
            others = sorted(
                (
                    (len(asked & words[i]), s)
                    for i, s in enumerate(sentences)
                    if s != sentence and answer not in s and 30 <= len(s) <= 400
                ),
                key=lambda pair: -pair[0],
            )
            out.append(
                NewsQuestion(
                    question, sentence, fact.start, fact.end, [s for _, s in others[:others_per_question]]
                )
            )
    return out
