"""German-aware analysis for keyword search: tokens, stopwords, Snowball stemming, umlaut folding.

Questions may be English, so English stopwords are dropped too; otherwise "the", "is", "did" would
match nothing useful and only add noise to the BM25 scores.
"""

from __future__ import annotations

import re
from functools import lru_cache

import snowballstemmer

_TOKEN = re.compile(r"\w+", re.UNICODE)
_FOLD = str.maketrans({"ä": "a", "ö": "o", "ü": "u", "ß": "ss"})

GERMAN_STOPWORDS = frozenset(
    """
    aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes anderm
    andern anders auch auf aus bei bin bis bist da damit dann das dass daß dasselbe dazu dein deine deinem
    deinen deiner deines dem demselben den denn denselben der derer derselbe derselben des desselben dessen
    dich die dies diese dieselbe dieselben diesem diesen dieser dieses dir doch dort du durch ein eine einem
    einen einer eines einig einige einigem einigen einiger einiges einmal er es etwas euch euer eure eurem
    euren eurer eures für gegen gewesen hab habe haben hat hatte hatten hier hin hinter ich ihm ihn ihnen
    ihr ihre ihrem ihren ihrer ihres im in indem ins ist jede jedem jeden jeder jedes jene jenem jenen jener
    jenes jetzt kann kein keine keinem keinen keiner keines können könnte machen man manche manchem manchen
    mancher manches mein meine meinem meinen meiner meines mich mir mit muss musste nach nicht nichts noch
    nun nur ob oder ohne sehr sein seine seinem seinen seiner seines selbst sich sie sind so solche solchem
    solchen solcher solches soll sollte sondern sonst über um und uns unsere unserem unseren unser unseres
    unter viel vom von vor während war waren warst was weg weil weiter welche welchem welchen welcher
    welches wenn werde werden wie wieder will wir wird wirst wo wollen wollte würde würden zu zum zur zwar
    zwischen wer wem wen wann warum wieso weshalb wodurch womit wofür worauf woran wurde wurden welche
    """.split()
)

ENGLISH_STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most my
    myself no nor not now of off on once only or other our ours out over own same she should so some such
    than that the their theirs them themselves then there these they this those through to too under until
    up very was we were what when where which while who whom why will with would you your yours many much
    kind type called name named
    """.split()
)

STOPWORDS = GERMAN_STOPWORDS | ENGLISH_STOPWORDS


@lru_cache(maxsize=1)
def _stemmer() -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer("german")


@lru_cache(maxsize=200_000)
def stem(token: str) -> str:
    return _stemmer().stemWord(token).translate(_FOLD)


def analyze(text: str) -> list[str]:
    """Index terms of `text`: lowercased word tokens without stopwords, stemmed and umlaut-folded."""
    return [stem(tok) for tok in _TOKEN.findall(text.lower()) if tok not in STOPWORDS]


_GERMAN_ONLY = GERMAN_STOPWORDS - ENGLISH_STOPWORDS
_ENGLISH_ONLY = ENGLISH_STOPWORDS - GERMAN_STOPWORDS


@lru_cache(maxsize=4096)  # the answer builder asks once per threshold it applies; calibration, thousands
def question_language(text: str) -> str:
    """ "en" or "de", by which language's function words the question uses (German when unsure).

    Similarity scores of English questions over German text run lower than those of German
    questions, so the abstention threshold depends on the question's language.
    """
    tokens = _TOKEN.findall(text.lower())
    german = sum(t in _GERMAN_ONLY for t in tokens) + sum(ch in "äöüß" for ch in text.lower())
    english = sum(t in _ENGLISH_ONLY for t in tokens)
    return "en" if english > german else "de"
