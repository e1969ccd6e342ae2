"""
Make text from log events safe to show in Discord.

Values that come from events must never ping anyone, inject markdown, or
reveal a secret. Template text written by the routing file's author may use
markdown; the values interpolated into it may not.
"""

from __future__ import annotations

import re

__all__ = [
    "REDACTED",
    "Markdown",
    "escape_markdown",
    "looks_secret",
    "neutralize_mentions",
    "redact_text",
    "unescape_markdown",
]

# no markdown in it: it stands in text that is escaped after redaction
REDACTED = "(redacted)"

# U+200B ZERO WIDTH SPACE breaks the mention syntax without changing what a
# reader sees.
_ZWSP = "\u200b"
# (already broken mentions are left alone, so neutralising is idempotent)
_MENTION = re.compile(r"@(everyone|here)|<@(?!\u200b)([!&]?)")
_SECRET_NAME = re.compile(
    r"token(?!s)|secret|passw(?:or)?d|passphrase|api[_-]?key"
    r"|private[_-]?key|mnemonic|seed|authorization|webhook(?![_-]?id)"
    r"|credential",
    re.IGNORECASE,
)
_WEBHOOK_URL = re.compile(
    r"((?:https?://)?[^\s/]+(?:/[^\s/]+)*?/webhooks/\d+/)[^\s/?#)>\]\"']+"
)
_BOT_TOKEN = re.compile(r"\b[MNO][\w-]{23,27}\.[\w-]{6}\.[\w-]{27,40}\b")
_URL = re.compile(r"https?://[^\s<>\"')\]]+")
_INLINE = re.compile(r"([\\*_~|`\[\]])")
_LINE_START = re.compile(
    r"^(\s*)(>>>|>|#{1,3}(?=\s)|-#(?=\s)|[-+](?=\s))", re.MULTILINE
)
_UNESCAPE = re.compile(r"\\([\\*_~|`\[\]>#+-])")


class Markdown(str):
    """
    Text that is already safe markdown (built by a filter, not by an event).

    The template finalizer leaves it unescaped; mentions in it are still
    neutralised.
    """

    __slots__ = ()


def looks_secret(name: str) -> bool:
    """
    Tell whether a field name suggests a secret value (``api_key``, ...).
    """
    return _SECRET_NAME.search(name) is not None


def neutralize_mentions(text: str) -> str:
    """
    Break ``@everyone``, ``@here`` and ``<@...>`` so they cannot ping.
    """
    if "@" not in text:
        return text
    return _MENTION.sub(_break_mention, text)


def _break_mention(match: re.Match[str]) -> str:
    if match.group(1):
        return "@" + _ZWSP + match.group(1)
    return "<@" + _ZWSP + match.group(2)


def redact_text(text: str) -> str:
    """
    Hide webhook tokens and bot tokens that appear anywhere in *text*.
    """
    if "/webhooks/" in text:
        text = _WEBHOOK_URL.sub(r"\1" + REDACTED, text)
    if "." in text:
        text = _BOT_TOKEN.sub(REDACTED, text)
    return text


def escape_markdown(text: str) -> str:
    r"""
    Escape Discord markdown in *text*, leaving URLs intact.

    Backslash-escapes ``\\ * _ ~ | ` [ ]`` and block syntax at the start of
    a line (quotes, headings, subtext, list bullets), like discord.py's
    ``escape_markdown``.
    """
    if not text:
        return text
    out: list[str] = []
    last = 0
    for url in _URL.finditer(text):
        out.append(_escape_plain(text[last : url.start()]))
        out.append(url.group(0))
        last = url.end()
    out.append(_escape_plain(text[last:]))
    return "".join(out)


def _escape_plain(text: str) -> str:
    text = _INLINE.sub(r"\\\1", text)
    return _LINE_START.sub(r"\1\\\2", text)


def unescape_markdown(text: str) -> str:
    """
    Undo :func:`escape_markdown` for showing text where markdown is plain.
    """
    out: list[str] = []
    last = 0
    for url in _URL.finditer(text):  # URLs were never escaped
        out.append(_UNESCAPE.sub(r"\1", text[last : url.start()]))
        out.append(url.group(0))
        last = url.end()
    out.append(_UNESCAPE.sub(r"\1", text[last:]))
    return "".join(out)
