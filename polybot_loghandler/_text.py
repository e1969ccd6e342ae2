"""
Make text from log events safe to show in Discord.

Values that come from events must never ping anyone, inject markdown, or
reveal a secret. Template text written by the routing file's author may use
markdown; the values interpolated into it may not.
"""

from __future__ import annotations

import re

from ._memo import Memo

__all__ = [
    "REDACTED",
    "Markdown",
    "encodable",
    "escape_markdown",
    "is_http_url",
    "looks_secret",
    "neutralize_mentions",
    "redact_text",
    "safe_markdown",
    "unescape_markdown",
    "visible_controls",
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
# A slash as text carries it: as it is, JSON-escaped (``\/``, also
# escaped again), URL-encoded (``%2F``, also encoded again: ``%252F``),
# as a JSON unicode escape (``\u002f``), and each of those URL-encoded
# (``%5C%2F``); doubled slashes count as one. (Matched ignoring case.)
_BACKSLASH = r"(?:\\|%(?:25)*5c)"
_SLASH = (
    r"(?:(?:" + _BACKSLASH + r"*(?:/|%(?:25)*2f)|" + _BACKSLASH + r"+u002f)+)"
)
#: The token of a webhook URL in any of those spellings, in any case
#: (``/api//webhooks//``, ``%2FWebhooks%2F``): what follows
#: ``/webhooks/<id>/`` up to the next slash, quote, bracket, escape or
#: space (a token is letters, digits, ``_`` and ``-``).
_WEBHOOK_URL = re.compile(
    "(" + _SLASH + "webhooks" + _SLASH + r"\d+" + _SLASH + ")"
    r"[^\s/?#()>\]\"'%\\]+",  # "(" too: "(redacted)" is not redacted again
    re.IGNORECASE,  # upper-cased text too: "%2FWEBHOOKS\U002F"
)
# no \b in front: a token glued to a word ("BotMTk...", "key=xMTk...") is
# still one; the engine tries each M, N or O, so the first part matches
# from the one that leaves it 23 to 27 characters long
_BOT_TOKEN = re.compile(r"[MNO][\w-]{23,27}\.[\w-]{6}\.[\w-]{27,40}")
_BOT_TOKEN_REST = re.compile(
    re.escape(REDACTED) + r"[\w-]{0,27}\.[\w-]{6}\.[\w-]{27,40}"
)
# the token's middle part, which every match has: searching for it first
# is many times quicker on text with no token (a leading literal lets the
# regex engine skip ahead), and most text has none
_MAY_BOT_TOKEN = re.compile(r"\.[\w-]{6}\.")
_URL = re.compile(r"https?://[^\s<>\"')\]]+")
# the inline markdown characters, escaped by a backslash each (the
# backslash itself first, so no escape is escaped again)
_INLINE = "\\*_~|`[]"
_LINE_START = re.compile(
    r"^(\s*)(>>>|>|#{1,3}(?=\s)|-#(?=\s)|[-+](?=\s))", re.MULTILINE
)
_UNESCAPE = re.compile(r"\\([\\*_~|`\[\]>#+-])")
#: Discord's other ``<…>`` forms: a channel (``<#id>``), a custom emoji
#: (``<:name:id>``, ``<a:name:id>``), a timestamp (``<t:…>``), a slash
#: command (``</name:id>``) and a server page (``<id:…>``). In an
#: event's value each is broken, as a mention is, by a zero-width space
#: after its ``<``: it shows as typed instead of as a link or a picture.
_ANGLE_FORM = re.compile(r"<(?=[#:/]|a:|t:|id:)")
_BROKEN_ANGLE = re.compile("<\u200b(?=[#:/]|a:|t:|id:)")
# Fast paths: text that cannot match the patterns above is returned as
# it is, after a search or two. Every inline character and every
# line-start syntax _LINE_START can match is found by _MAY_ESCAPE; a bot
# token is at least 59 characters long.
_MAY_ESCAPE = re.compile(r"[\\*_~|`\[\]>#]|[-+]\s")
# the characters _MAY_ESCAPE starts with, as one class: a search for a
# class alone runs several times quicker than one for an alternation, and
# most text has none of them
_ESCAPE_CHARS = re.compile(r"[-+\\*_~|`\[\]>#]")
_MAY_LINE_START = re.compile(r"[>#]|[-+]\s")
_MIN_BOT_TOKEN = 1 + 23 + 1 + 6 + 1 + 27


class Markdown(str):
    """
    Text that is already safe markdown (built by a filter, not by an event).

    The template finalizer leaves it unescaped; mentions in it are still
    neutralised.
    """

    __slots__ = ()


#: looks_secret's answers by name: a program logs the same few names.
#: Names up to 64 characters, 4,096 of them: a name longer than any real
#: field's (a key made from data) is asked afresh each time.
_SECRET_ANSWERS: Memo[str, bool] = Memo(limit=4096, key_chars=64)


def looks_secret(name: str) -> bool:
    """
    Tell whether a field name suggests a secret value (``api_key``, ...).
    """
    found = _SECRET_ANSWERS.get(name)
    if found is None:
        found = _SECRET_NAME.search(name) is not None
        _SECRET_ANSWERS.keep(name, found, len(name))
    return found


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
    # Every spelling _WEBHOOK_URL finds has a "/", "%" or backslash and
    # the word "webhooks": three searches for one character rule out
    # most text, and lower() of the rest costs less than a search that
    # ignores case
    if ("/" in text or "%" in text or "\\" in text) and (
        "ebhooks" in text.lower()
    ):
        text = _WEBHOOK_URL.sub(r"\1" + REDACTED, text)
    if len(text) >= _MIN_BOT_TOKEN and _MAY_BOT_TOKEN.search(text):
        text = _BOT_TOKEN.sub(REDACTED, text)
        if REDACTED in text:
            text = _redact_glued(text)
    return text


def _redact_glued(text: str) -> str:
    """
    Hide the rest of a bot token glued to the end of one just hidden.

    The last part of a token is matched greedily, so in two tokens
    written without a space the first match takes the start of the
    second, and what is left of it is too short to be found alone.
    """
    while True:
        hidden = _BOT_TOKEN_REST.sub(REDACTED, text)
        if hidden == text:
            return text
        text = hidden


#: A lone surrogate: Python strings can hold one (``os.fsdecode`` of bytes
#: that are not UTF-8 makes them), UTF-8 cannot encode it.
_SURROGATE = re.compile("[\ud800-\udfff]")
#: What stands for a character that cannot be shown.
REPLACEMENT = "\ufffd"


def encodable(text: str) -> str:
    """
    *text* with each lone surrogate replaced by U+FFFD, so it encodes.

    A JSON body with a lone surrogate cannot be encoded as UTF-8, and
    neither can a line written to a UTF-8 stream. ASCII text is answered
    without a search (``isascii`` is a flag lookup).
    """
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return _SURROGATE.sub(REPLACEMENT, text)


#: Characters a terminal acts on rather than shows: C0 controls but tab
#: and newline, DEL, the C1 controls (U+009B is a CSI on its own), and
#: lone surrogates.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if code < 0x20:
        return chr(0x2400 + code)  # its Control Picture: ESC shows as ␛
    if code == 0x7F:
        return "\u2421"  # ␡, DEL's picture
    if code <= 0x9F:
        return f"\\x{code:02x}"  # C1 controls have no pictures
    return REPLACEMENT


def visible_controls(text: str) -> str:
    r"""
    *text* made harmless on a terminal: control characters shown, not run.

    An escape sequence in a value (colours, a cursor move, OSC 52, which
    writes the reader's clipboard) would act on the terminal that shows
    the console sink. Each C0 control shows as its Control Picture
    (``ESC`` as ``␛``), DEL as ``␡``, a C1 control as ``\x9b``, and a lone
    surrogate as U+FFFD. Newlines and tabs are kept; a ``\r\n`` line
    end becomes ``\n``.
    """
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(_visible, text.replace("\r\n", "\n"))


def escape_markdown(text: str) -> str:
    r"""
    Escape Discord markdown in *text*, leaving URLs intact.

    Backslash-escapes ``\\ * _ ~ | ` [ ]`` and block syntax at the start of
    a line (quotes, headings, subtext, list bullets), like discord.py's
    ``escape_markdown``.
    """
    if not text or not _may_escape(text):
        return text  # nothing to escape (the common case)
    return _escape(text)


def _may_escape(text: str) -> bool:
    """
    Whether *text* may hold markdown or one of Discord's ``<…>`` forms.

    A ``<`` alone (``price < 0.5``, ``<module>``) is common and costs
    only a look at what follows it: it is not one of the classes the
    quick searches look for.
    """
    return (
        _ESCAPE_CHARS.search(text) is not None
        and _MAY_ESCAPE.search(text) is not None
    ) or ("<" in text and _ANGLE_FORM.search(text) is not None)


def _escape(text: str) -> str:
    if "http" not in text:  # no URL to keep intact
        return _escape_plain(text)
    out: list[str] = []
    last = 0
    for url in _URL.finditer(text):
        out.append(_after_url(_escape_plain(text[last : url.start()]), last))
        out.append(url.group(0))
        last = url.end()
    out.append(_after_url(_escape_plain(text[last:]), last))
    return "".join(out)


def _after_url(escaped: str, start: int) -> str:
    r"""
    *escaped*, the text after a URL, without a backslash glued to it.

    A URL ends at ``]`` or ``>`` (:data:`_URL`); escaped, the backslash
    before one would join the link in Discord (``https://a.b\``). Left
    as they are there, neither can start anything: every ``[`` is
    escaped, so no masked link ends, and a ``>`` right after a URL does
    not start its line.
    """
    if start and escaped[:2] in (r"\]", r"\>"):
        return escaped[1:]
    return escaped


def _escape_plain(text: str) -> str:
    for char in _INLINE:
        if char in text:
            text = text.replace(char, "\\" + char)
    if "<" in text:
        text = _ANGLE_FORM.sub("<" + _ZWSP, text)
    if (
        "-" in text or "+" in text or ">" in text or "#" in text
    ) and _MAY_LINE_START.search(text) is not None:
        return _LINE_START.sub(r"\1\\\2", text)
    return text


def safe_markdown(text: str) -> str:
    """
    Make event text safe to show where Discord renders markdown.

    The same as ``neutralize_mentions(escape_markdown(redact_text(
    encodable(text))))`` (made encodable, tokens hidden, markdown escaped,
    pings broken), with each step's quick check inline: most values need
    none of them.
    """
    found = _SAFE_MARKDOWN.get(text)
    if found is not None and text.__class__ is str:
        return found
    safe = text
    if not text.isascii() and _SURROGATE.search(text) is not None:
        safe = _SURROGATE.sub(REPLACEMENT, safe)
    safe = redact_text(safe)  # its own quick checks come first
    if _may_escape(safe):
        safe = _escape(safe)
    if "@" in safe:
        safe = _MENTION.sub(_break_mention, safe)
    if "/" not in text and text.__class__ is str:
        _SAFE_MARKDOWN.keep(text, safe, len(text))
    return safe


#: safe_markdown's answers for short texts: events repeat the same names,
#: statuses and markets. Never one with a slash, so never a webhook URL
#: (and a bot token is longer than a text this cache takes).
_SAFE_MARKDOWN: Memo[str, str] = Memo(limit=4096, key_chars=40)


def unescape_markdown(text: str) -> str:
    """
    Undo :func:`escape_markdown` for showing text where markdown is plain.
    """
    out: list[str] = []
    last = 0
    for url in _URL.finditer(text):  # URLs were never escaped
        out.append(_unescape_plain(text[last : url.start()]))
        out.append(url.group(0))
        last = url.end()
    out.append(_unescape_plain(text[last:]))
    return "".join(out)


def _unescape_plain(text: str) -> str:
    text = _UNESCAPE.sub(r"\1", text)
    return _BROKEN_ANGLE.sub("<", text) if "<" in text else text


#: What a URI may hold (RFC 3986: unreserved, reserved and %-escapes):
#: no space, no control character, nothing outside ASCII.
_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_HTTP_URL = re.compile(r"https?://[^/?#]+.*", re.IGNORECASE | re.DOTALL)


def is_http_url(value: object) -> bool:
    """
    Whether *value* is an http(s) URL that Discord takes as a ``uri``.

    A host is required, and every character must be one a URI may hold:
    a templated URL with a space, a newline or a lone surrogate in it is
    refused here, not by Discord with a ``400`` for the whole batch.
    """
    return (
        isinstance(value, str)
        and _URI_CHARS.fullmatch(value) is not None
        and _HTTP_URL.fullmatch(value) is not None
    )
