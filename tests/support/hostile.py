"""
Hostile values for property tests: planted tokens in every spelling,
text that a terminal or Discord would act on, and objects that cannot be
shown. Shared by every test that drives arbitrary event values through
the library, so each looks for the same leaks.
"""

from __future__ import annotations

import json
import re
import urllib.parse

from hypothesis import strategies as st

__all__ = [
    "BOT_TOKEN",
    "HOSTILE_KEYS",
    "HOSTILE_TEXT",
    "HOSTILE_VALUES",
    "PLANTED",
    "SCALARS",
    "WEBHOOK_ID",
    "WEBHOOK_TOKEN",
    "WEBHOOK_URL",
    "Holder",
    "Unprintable",
    "leaked",
]

# -- the secrets, and every spelling they are planted in --------------------

WEBHOOK_ID = "112233445566778899"
# shaped like real ones (letters, digits, "_" and "-"); not real
WEBHOOK_TOKEN = (
    "Xq7_Lm3-Vb9Tz2Kp_Wd8Ry4-Hs6Nf1Jc5_Gt0Ua3Ze7-Io2Ok9Pl4Mn6Bv8Cx1Dy5Fw"
)
BOT_SECRET = "Zq8_Vw3-Xy7Kp2Lm9Nb4Rt6Hs1Jd5Fg0Ck"
BOT_TOKEN = "MTEyMjMzNDQ1NTY2Nzc4ODk5.GaBcDe." + BOT_SECRET
WEBHOOK_URL = f"https://discord.com/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}"


def _planted() -> list[str]:
    """A webhook URL and a bot token in each spelling text carries."""
    quoted = urllib.parse.quote(WEBHOOK_URL, safe="")
    return [
        WEBHOOK_URL,
        f"POST {WEBHOOK_URL}?wait=true failed",
        quoted,
        urllib.parse.quote(quoted, safe=""),
        WEBHOOK_URL.replace("/", "\\/"),
        json.dumps({"url": WEBHOOK_URL.replace("/", "\\/")}),
        WEBHOOK_URL.replace("/", "\\u002f"),
        WEBHOOK_URL.replace("/api/webhooks/", "/api//Webhooks//"),
        WEBHOOK_URL.upper(),
        BOT_TOKEN,
        f"Authorization: Bot {BOT_TOKEN}",
        f"Bot{BOT_TOKEN}",
        f"key_{BOT_TOKEN}",
    ]


PLANTED = _planted()

#: The secret part of each token, as the leak check compares it.
_SECRETS = (WEBHOOK_TOKEN, BOT_SECRET)
_WINDOW = 12


def _letters(text: str) -> str:
    """*text* lower-cased, with only its letters and digits."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _windows() -> list[str]:
    out = []
    for secret in _SECRETS:
        plain = _letters(secret)
        for start in range(len(plain) - _WINDOW + 1):
            piece = plain[start : start + _WINDOW]
            out += [piece, piece[::-1]]
    return out


_SECRET_WINDOWS = _windows()


def leaked(text: str) -> str | None:
    """
    A piece of a planted secret that shows in *text*, if one does.

    Any 12 letters and digits of a token in a row, in either direction
    and any case, whatever is between them (escapes, spaces, "%2F"): so a
    token escaped, split, re-cased or reversed is still found.
    """
    letters = _letters(text)
    for piece in _SECRET_WINDOWS:
        if piece in letters:
            return piece
    return None


# -- values -----------------------------------------------------------------


class Unprintable:
    """An object whose ``str()`` and ``repr()`` raise, as some ORMs do."""

    def __str__(self) -> str:
        msg = "detached instance"
        raise RuntimeError(msg)

    __repr__ = __str__


class Holder:
    """An object whose ``str()`` holds a token."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return f"Holder({self.text})"

    __repr__ = __str__


_PIECES = st.sampled_from(
    [
        *PLANTED,
        "report-\udcff.csv",
        "\ud800",
        "\ud83d\ude00",
        "\x1b]52;c;aGVsbG8=\x07",
        "\x1b[2J\x1b[31m",
        "\x9b31m",
        "\x00\x7f\r",
        "@everyone",
        "@here",
        "<@&123456789012345678>",
        "<@!123456789012345678>",
        "<@123456789012345678>",
        "**b** __u__ `c` ```",
        "{{ 7*7 }}",
        "\n",
        "_",
        "/",
    ]
)
HOSTILE_TEXT = st.one_of(
    _PIECES,
    st.text(
        alphabet=st.characters(exclude_categories=[]),  # surrogates too
        max_size=20,
    ),
    st.lists(
        st.one_of(_PIECES, st.text(max_size=5)), min_size=1, max_size=4
    ).map("".join),
)
SCALARS = st.one_of(
    HOSTILE_TEXT,
    st.none(),
    st.booleans(),
    st.integers(),
    # built, not sampled: hypothesis cannot repr a sampled huge int
    st.sampled_from([5000, -5000, 400]).map(
        lambda n: (n > 0 or -1) * 10 ** abs(n)
    ),
    st.floats(allow_nan=True, allow_infinity=True),
    st.binary(max_size=10),
    st.builds(Unprintable),
    st.builds(Holder, st.sampled_from(PLANTED)),
)
HOSTILE_KEYS = st.one_of(
    HOSTILE_TEXT,
    st.sampled_from(["api_key", "url"]),
    st.builds(Unprintable),  # structlog event dicts can have any key
)
HOSTILE_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(HOSTILE_KEYS, inner, max_size=3),
    ),
    max_leaves=8,
)
