"""
Keys and event names as labels a person reads.

``daily_loss`` → ``Daily Loss``, ``ws_reconnect_failed`` → ``WebSocket
Reconnect Failed``. One function does it everywhere a name is shown: the
``humanize`` filter, the default embed's title and the names of auto
fields, so a key reads the same in every message.
"""

from __future__ import annotations

import re
from typing import Any

from jinja2 import Undefined

from ._memo import Memo
from ._text import encodable, redact_text
from ._values import text_of

__all__ = ["ACRONYMS", "humanize"]

#: Words written their own way rather than capitalised (looked up in
#: lower case): abbreviations, units, and ``pct`` as ``%``.
ACRONYMS = {
    "api": "API",
    "btc": "BTC",
    "clob": "CLOB",
    "cpu": "CPU",
    "db": "DB",
    "dns": "DNS",
    "eth": "ETH",
    "gb": "GB",
    "gpu": "GPU",
    "http": "HTTP",
    "https": "HTTPS",
    "id": "ID",
    "ip": "IP",
    "json": "JSON",
    "kb": "KB",
    "mb": "MB",
    "ms": "ms",
    "ok": "OK",
    "pct": "%",
    "pnl": "P&L",
    "ram": "RAM",
    "roi": "ROI",
    "sql": "SQL",
    "ssl": "SSL",
    "tls": "TLS",
    "ttl": "TTL",
    "url": "URL",
    "usd": "USD",
    "usdc": "USDC",
    "utc": "UTC",
    "uuid": "UUID",
    "ws": "WebSocket",
}

#: What separates words: ``_``, ``-``, and a dot unless it stands between
#: two digits (``agent.started`` is two words, ``v1.2`` one).
_SEPARATOR = re.compile(r"[_-]|\.(?!\d)|(?<!\d)\.")


def humanize(value: Any) -> str:
    """
    A key or event name as a label: ``trades_analyzed`` → ``Trades Analyzed``.

    Words are split at ``_``, ``-`` and ``.`` and capitalised; a word in
    capitals stays so (``BTC_price`` → ``BTC Price``), and the words of
    :data:`ACRONYMS` are written their way (``polymarket_api`` →
    ``Polymarket API``, ``pnl_pct`` → ``P&L %``). A missing value or a
    name with no words gives ``""``.
    """
    if value is None or isinstance(value, Undefined):
        return ""
    text = text_of(value)
    found = _HUMANIZED.get(text)
    if found is None:
        # tokens are hidden first: split and re-cased, a token is no
        # longer found, and most of it would show
        words = _SEPARATOR.sub(" ", redact_text(encodable(text))).split()
        found = " ".join(
            ACRONYMS.get(w.lower(), w if w.isupper() else w.capitalize())
            for w in words
        )
        _HUMANIZED.keep(text, found, len(text))
    return found


#: humanize's answers: the same keys and statuses come again and again
_HUMANIZED: Memo[str, str] = Memo(limit=4096, key_chars=64)
