"""
Noticing that the routing file changed, and what a reload cannot change.

Polling, not inotify: one ``stat`` every couple of seconds costs nothing,
works on every platform and file system, and sees a file replaced by
rename (how most editors save) as well as one written in place.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ._model import DeliverySettings

__all__ = ["FileWatch", "fixed_changes"]

#: A file modified less than this long ago may still be being written:
#: wait for the next check before loading it.
SETTLE = 0.2


@dataclass(frozen=True, slots=True)
class _Signature:
    inode: int
    size: int
    mtime_ns: int


def _signature(path: str) -> _Signature | None:
    try:
        found = Path(path).stat()
    except OSError:
        return None  # gone for a moment (replaced by rename): not a change
    return _Signature(found.st_ino, found.st_size, found.st_mtime_ns)


class FileWatch:
    """
    Tells when a file differs from the version last loaded.

    Args:
        path: The file.
        clock: Wall-clock seconds (the file's mtime is wall-clock too).
    """

    def __init__(
        self, path: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = path
        self._clock = clock
        self._loaded = _signature(path)

    def changed(self) -> object | None:
        """
        A token for the file's new version, or ``None`` if unchanged.

        A file that is missing, or was written within the last
        :data:`SETTLE` seconds, is not reported yet: an editor may be
        halfway through saving it. Pass the token to :meth:`loaded` once
        that version was read (whether or not it was valid: a broken
        file is reported once, not at every check).
        """
        now = _signature(self.path)
        if now is None or now == self._loaded:
            return None
        if self._clock() - now.mtime_ns / 1e9 < SETTLE:
            return None
        return now

    def loaded(self, token: object | None = None) -> None:
        """Remember *token*'s version (default: the file as it is now)."""
        if token is None:
            self._loaded = _signature(self.path)
        elif isinstance(token, _Signature):
            self._loaded = token


def fixed_changes(old: DeliverySettings, new: DeliverySettings) -> list[str]:
    """The ``delivery`` settings that differ but cannot change live."""
    return [
        name
        for name in DeliverySettings.FIXED
        if getattr(old, name) != getattr(new, name)
    ]
