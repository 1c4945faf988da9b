"""The text of a fetched page: decoded with the charset the page declares, guessed only when it
declares none.

Order, as browsers do it (WHATWG encoding sniffing, simplified): a byte-order mark, then the HTTP
`Content-Type` header's `charset=`, then a `<meta charset>` / `<meta http-equiv="Content-Type">` (or
an XML declaration) near the top of the document. A declared charset decides with
`errors="replace"`: one invalid byte in a UTF-8 page becomes one U+FFFD, and "über" stays "über"
(trafilatura, given the bytes, would re-guess the whole page from its statistics and turn every
umlaut into mojibake). Labels the web uses for Latin-1 and ASCII mean windows-1252, as in browsers:
German pages labelled ISO-8859-1 use its „quotes“. Only without any usable declaration is the text
guessed: UTF-8 when it decodes as UTF-8, else charset_normalizer's best guess, else windows-1252.
"""

from __future__ import annotations

import codecs
import re

# Browsers look for <meta charset> in the first 1024 bytes; pages with long heads put it later.
_PRESCAN_BYTES = 8192
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([^\s"';,]+)""", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta\b[^>]*?\bcharset\s*=\s*["']?\s*([A-Za-z0-9._:+-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml\b[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._:+-]+)""", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# The WHATWG encoding standard maps these labels to windows-1252.
_AS_WINDOWS_1252 = frozenset({"latin_1", "ascii", "cp1252", "iso8859_1"})


def codec_for(label: str) -> str | None:
    """Python's codec for a charset label, or None when Python knows no such charset."""
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name
    except (LookupError, ValueError):
        return None
    normalised = name.replace("-", "_")
    return "cp1252" if normalised in _AS_WINDOWS_1252 else name


def declared_charset(body: bytes, content_type: str = "") -> tuple[str, str] | None:
    """(codec, where it was declared) of the first usable declaration, or None."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return codec, "byte-order mark"
    header = _HEADER_CHARSET.search(content_type or "")
    if header and (codec := codec_for(header[1])):
        return codec, "HTTP header"
    head = body[:_PRESCAN_BYTES]
    for pattern, where in ((_META_CHARSET, "meta tag"), (_XML_ENCODING, "XML declaration")):
        found = pattern.search(head)
        if found and (codec := codec_for(found[1].decode("ascii"))):
            # a declaration read as ASCII cannot be UTF-16: the page is ASCII-compatible
            return ("utf-8" if codec.startswith("utf_16") or codec.startswith("utf-16") else codec), where
    return None


def guess_charset(body: bytes) -> str:
    """The charset of a page that declares none."""
    try:
        body.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(body[:200_000]).best()
        if best is not None and best.encoding:
            return codec_for(best.encoding) or "cp1252"
    except Exception:  # a guess is only a guess: never the reason a page fails
        pass
    return "cp1252"


def decode_page(body: bytes, content_type: str = "", default: str | None = None) -> str:
    """The page's text: the declared charset decides (invalid bytes replaced), else `default` (XML's
    is UTF-8), else a guess."""
    declared = declared_charset(body, content_type)
    codec = declared[0] if declared else (default or guess_charset(body))
    text = body.decode(codec, errors="replace")
    return text[1:] if text.startswith("\ufeff") else text
