"""
The words of the routing file's problems: how a message quotes a value.

Every section says what it found in the same words: a value cut to a
readable length (``shown``), what kind of YAML value stood where another
was wanted (``kind_of``), and the name a typo may have meant
(``did_you_mean``). Keeping them in one place keeps the messages alike.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

#: The longest value a message quotes, in characters.
_SHOWN = 60
#: Said where a value nests so deeply that reading it would overflow.
NESTED_TOO_DEEP = (
    "{what} nests too deeply to read; write it with fewer nested parts"
)


def shown(value: Any) -> str:
    """
    *value* as a message quotes it: its ``repr``, cut to 60 characters.

    A message locates a mistake; it need not repeat a page of text, and a
    number too long to print (Python refuses past 4,300 digits) must not
    turn a located problem into a traceback.
    """
    try:
        text = repr(value)
    except ValueError:
        text = f"<a number of {value.bit_length():,} bits>"
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def word_of(value: Any) -> str:
    """*value* as a word to compare with the names it may have meant."""
    return value.lower() if isinstance(value, str) else shown(value)


def kind_of(value: Any) -> str:
    """What kind of YAML value *value* is, as a message names it."""
    if value is None:
        return "nothing"
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "true/false",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)


def did_you_mean(word: str, options: Sequence[str]) -> str:
    """
    `` (did you mean 'x'?)`` for the option closest to *word*, or ``""``.

    Said after an unknown key, level, colour or channel, so a typo is
    fixed without a trip to the documentation.
    """
    if len(word) > _SHOWN:  # no option is that long: spare the comparison
        return ""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def number_text(value: float) -> str | None:
    """A number as text, or ``None`` if it is too long to print."""
    try:
        return str(value)
    except ValueError:
        return None
