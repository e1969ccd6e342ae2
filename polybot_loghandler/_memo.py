"""
Memo: the one kind of cache the library keeps.

Every cache is keyed by text that comes from events (names, loggers,
field names), so it must stay small whatever the events are: a memo
keeps only keys up to a length and forgets everything once it holds its
most keys. It holds at most ``limit × key_chars`` characters of keys.
"""

from __future__ import annotations

from typing import TypeVar

__all__ = ["Memo"]

K = TypeVar("K")
V = TypeVar("V")


class Memo(dict[K, V]):
    """
    A ``dict`` of remembered answers, bounded in keys and in key size.

    Reading is the plain ``dict.get`` (the caller's thread reads memos on
    every log call); :meth:`keep` is the one way in.

    Args:
        limit: The most keys it holds; one more empties it first.
        key_chars: The longest key it keeps, in characters (as the
            caller counts them: see :meth:`keep`).
    """

    __slots__ = ("key_chars", "limit")

    def __init__(self, limit: int, key_chars: int) -> None:
        super().__init__()
        self.limit = limit
        self.key_chars = key_chars

    def keep(self, key: K, value: V, chars: int) -> None:
        """
        Remember *value* for *key*, whose text is *chars* characters long.

        A key longer than :attr:`key_chars` is not kept (its answer is
        worked out again at each use: such keys are rare and mostly
        unique); a full memo is emptied first, so it never grows past
        :attr:`limit` keys.
        """
        if chars > self.key_chars:
            return
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
