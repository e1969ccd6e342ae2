"""
Redis URLs for the relay: read one, and show one without its secrets.

``delivery.relay`` names the relay's Redis server as redis-py reads it:
``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` for TLS,
or ``unix://[[user]:password@]/path/to.sock?db=N``; a password may also
come as ``?password=``. Such a URL is a secret, so it is shown only as
:func:`redacted_url` makes it, and :func:`parse` checks it (as redis-py
will read it) with messages that never hold the password. Pure: no
sockets, no ``redis`` import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = [
    "DEFAULT_PORT",
    "EXAMPLE",
    "HIDDEN",
    "SCHEMES",
    "RedisUrl",
    "RedisUrlError",
    "parse",
    "redacted_url",
]

#: The schemes redis-py connects with.
SCHEMES = ("redis", "rediss", "unix")
#: What a secret part of a URL is shown as.
HIDDEN = "***"
#: What a message suggests writing.
EXAMPLE = "redis://localhost:6379/0"
#: Redis's own port, when a URL gives none.
DEFAULT_PORT = 6379
#: The highest database number accepted: Redis's ``SELECT`` takes an int.
MAX_DB = 2**31 - 1
#: The longest URL a message quotes (its secrets already hidden).
_SHOWN = 100
#: What the relay's URL must look like, said with every mistake.
_RULE = (
    f"the relay's URL is redis://host:port/db, rediss:// for TLS, or "
    f"unix:///path/to.sock?db=N, e.g. {EXAMPLE}"
)
#: A query parameter whose value is a secret, with the value that
#: follows: up to the next ``&name=`` (a raw ``&`` may be part of it),
#: and at least one character (``password=&x=y``: ``&x=y`` may be it).
_SECRET_PARAM = re.compile(
    r"(?<=[?&;])(?:password|username)=(.+?)(?=&[^&=]+=|\Z)",
    re.IGNORECASE | re.DOTALL,
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,19}")
_DIGITS = re.compile(r"[0-9]+")


class RedisUrlError(ValueError):
    """
    A URL the relay cannot use; its text holds no secret of the URL.

    Attributes:
        reason: What is wrong, in a few words (``its port is not a
            number from 1 to 65535``).
        shown: The URL as a message quotes it: redacted, in quotes; or
            ``None`` for a value that is no Redis URL (no scheme, or
            another), of which no part is known not to be a secret: a
            password pasted alone, say.
    """

    def __init__(self, reason: str, shown: str | None) -> None:
        quoted = f": {shown}" if shown is not None else ""
        super().__init__(f"not a Redis URL{quoted} ({reason}; {_RULE})")
        self.reason = reason
        self.shown = shown


@dataclass(frozen=True, slots=True, kw_only=True)
class RedisUrl:
    """
    A Redis URL that redis-py can connect with, as :func:`parse` read it.

    Attributes:
        scheme: ``redis``, ``rediss`` or ``unix``.
        host: The server's host name or address (``::1`` without its
            brackets), or for ``unix`` the socket's path.
        port: The TCP port; ``None`` for a socket.
        db: The database number.
        tls: Whether the connection uses TLS (``rediss``).
        url: The URL as written, credentials and all, for redis-py's
            ``from_url``; left out of ``repr``, and ``str`` hides them.
    """

    scheme: str
    host: str
    port: int | None
    db: int
    tls: bool
    url: str = field(repr=False)

    def __str__(self) -> str:
        return redacted_url(self.url)


def redacted_url(url: str) -> str:
    """
    *url* with its credentials hidden: safe to show, log or put in errors.

    The user information (``user:password@``, ``:password@``,
    ``user@``) becomes ``***@``, up to the last ``@`` (a password may
    hold a raw ``@``, ``:``, ``/`` or ``?``). The values of ``password=``
    and ``username=`` query parameters become ``***``. A port that is not
    a number may be a password whose ``@`` was lost; it is hidden too.
    Anything else is kept, so the URL still tells where it points.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    hidden = [False] * len(rest)
    for found in _SECRET_PARAM.finditer(rest):
        hidden[found.start(1) : found.end(1)] = [True] * len(found.group(1))
    at = rest.rfind("@")
    if at >= 0:
        hidden[:at] = [True] * at
    port = _port_text(rest, at + 1)
    if port is not None and not _DIGITS.fullmatch(rest[slice(*port)]):
        hidden[slice(*port)] = [True] * (port[1] - port[0])
    shown: list[str] = []
    for char, secret in zip(rest, hidden, strict=True):
        if not secret:
            shown.append(char)
        elif not shown or shown[-1] != HIDDEN:
            shown.append(HIDDEN)
    return scheme + sep + "".join(shown)


def _port_text(rest: str, start: int) -> tuple[int, int] | None:
    """Where the port stands in the host part from *start*, if it has one."""
    end = len(rest)
    for stop in "/?#":
        found = rest.find(stop, start)
        if found >= 0:
            end = min(end, found)
    host = rest[start:end]
    # an IPv6 address in brackets: its colons are not the port's
    colon = host.find(":", host.find("]") + 1 if host[:1] == "[" else 0)
    if colon < 0:
        return None
    return start + colon + 1, end


def parse(url: str) -> RedisUrl:
    """
    Read *url* as redis-py will, or say why it cannot be used.

    Host, port and database default as redis-py's do (``localhost``,
    6379, 0); the database comes from ``?db=N``, else the path
    (``/N``). Stricter than redis-py where it would quietly connect
    elsewhere than meant: a database that is not a whole number, a port
    of 0, or an ``@`` after the host (a password with a raw ``/``,
    ``?`` or ``#``, which must be written ``%2F``, ``%3F``, ``%23``).

    Raises:
        RedisUrlError: (a ``ValueError``) naming the mistake, with the
            URL shown by :func:`redacted_url` if its scheme is Redis's
            (else not at all: it may be a password pasted alone).
    """
    # not a Redis URL: nothing is known not to be the password (one
    # pasted alone, "hunter2://..."), so none of it is shown
    scheme, sep, _ = url.partition("://")
    if not sep or not _SCHEME.fullmatch(scheme):
        raise RedisUrlError("it has no scheme", None)
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        raise RedisUrlError(_OTHER_SCHEME, None)
    shown = _shown(url)
    if any(char.isspace() for char in url):
        raise RedisUrlError("it has a space", shown)
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed [
        raise RedisUrlError(_BAD_HOST, shown) from None
    if _misplaced_credentials(parts.path, parts.query, parts.fragment):
        raise RedisUrlError(_MISPLACED, shown)
    try:
        port = parts.port
    except ValueError:  # its text would be a password that lost its @
        raise RedisUrlError(_BAD_HOST, shown) from None
    db = _db(parts.query, "" if scheme == "unix" else parts.path, shown)
    if scheme == "unix":
        if not parts.path or parts.path == "/":
            raise RedisUrlError("it names no socket", shown)
        return RedisUrl(
            scheme=scheme,
            host=unquote(parts.path),
            port=None,
            db=db,
            tls=False,
            url=url,
        )
    if port == 0:
        raise RedisUrlError(_BAD_HOST, shown)
    return RedisUrl(
        scheme=scheme,
        host=unquote(parts.hostname or "localhost"),
        port=DEFAULT_PORT if port is None else port,
        db=db,
        tls=scheme == "rediss",
        url=url,
    )


#: Said of a port that is not one, or a host that cannot be read.
_BAD_HOST = (
    "its port is not a number from 1 to 65535, or its host cannot be read "
    "(an IPv6 address goes in [brackets]; a password with '/', '?' or '#' "
    "is written with %2F, %3F, %23)"
)
#: Said of a scheme that is not one of ``SCHEMES``.
_OTHER_SCHEME = "its scheme is not redis://, rediss:// or unix://"
#: Said of an ``@`` after the host.
_MISPLACED = (
    "it has an '@' after its host: a password with '/', '?' or '#' is "
    "written with %2F, %3F, %23"
)


def _misplaced_credentials(path: str, query: str, fragment: str) -> bool:
    """
    Whether an ``@`` stands where no credentials go, or a ``#`` at all.

    Such a URL is one whose password holds a raw ``/``, ``?`` or ``#``:
    redis-py would take part of the password for the path, the query or
    nothing. (A query's values, as in ``?password=p@ss``, may hold an
    ``@``.)
    """
    names = [name for name, _ in parse_qsl(query, keep_blank_values=True)]
    return "@" in path or bool(fragment) or any("@" in n for n in names)


def _db(query: str, path: str, shown: str) -> int:
    """The database number: ``?db=N``, else the path ``/N``, else 0."""
    given = dict(parse_qsl(query, keep_blank_values=True)[::-1]).get("db")
    text = given if given is not None else path.removeprefix("/")
    if text == "" and given is None:
        return 0
    # (its length first: int() refuses thousands of digits)
    if not _DIGITS.fullmatch(text) or len(text) > 10 or int(text) > MAX_DB:
        raise RedisUrlError(
            "its database (/N or ?db=N) is not a whole number, 0 or more",
            shown,
        )
    return int(text)


def _shown(url: str) -> str:
    """*url* as a message quotes it: redacted, quoted, cut if long."""
    text = repr(redacted_url(url))
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"
