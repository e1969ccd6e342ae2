"""
``delivery:``: how messages are sent (queue, timings, spool, relay...).

Every key has a default, so the section may be left out; what is given
becomes ``DeliverySettings``. A report or ops channel must be one that
``channels:`` declares, so this section is checked after that one (in a
forum, the handler's own messages go into a thread of their own). A
size (``spool_size``) is read by ``size_bytes``: ``'50MB'``, ``'1.5 GiB'``.
The relay's Redis URL may hold a password: a problem with it shows it
only as ``_redisurl.redacted_url`` makes it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from polybot_loghandler._model import RELOAD_EVERY, Channel, DeliverySettings
from polybot_loghandler._redisurl import RedisUrlError, parse
from polybot_loghandler._yaml import KeyPath

from .checker import Checker, finite, is_off, positive_int
from .fold import FoldChecker
from .words import shown

#: The shortest reload or report interval: polling faster than this
#: costs more than it is worth.
MIN_INTERVAL = 0.1
#: A size: a number, then maybe a unit (any case): ``k``, ``KB`` or
#: ``kB`` counts in powers of 1000, ``Ki`` or ``KiB`` in powers of 1024
_SIZE = re.compile(
    r"\s*([0-9]+(?:\.[0-9]+)?)\s*(?:([kmgt])(i)?)?(b|bytes?)?\s*",
    re.IGNORECASE,
)
_SIZE_POWERS = {"k": 1, "m": 2, "g": 3, "t": 4}
#: What the error for a size says is accepted
SIZE_UNITS = (
    "a number of bytes, or a number with a unit: kB, MB, GB (powers of "
    "1000; also k, K, KB, M, G) or KiB, MiB, GiB (powers of 1024), in any "
    "case, e.g. '100kB', '50MB', '1.5 GiB'"
)


class DeliveryChecker(Checker):
    """Checks ``delivery:`` and makes its ``DeliverySettings``."""

    def delivery(  # noqa: C901, PLR0912 - one branch per key reads as the schema
        self, data: Any, channels: Mapping[str, Channel]
    ) -> DeliverySettings:
        path: KeyPath = ("delivery",)
        table = self.mapping(
            data if data is not None else {}, path, "delivery"
        )
        if table is None:
            return DeliverySettings()
        allowed = (
            "queue_size",
            "flush_timeout",
            "batch_window",
            "coalesce_window",
            "retry_for",
            "ops_channel",
            "console",
            "console_per_channel",
            "reload",
            "report",
            "spool",
            "spool_size",
            "relay",
            "max_lag",
            "attach_tracebacks",
        )
        self.keys(table, path, allowed)
        kwargs: dict[str, Any] = {}
        if "queue_size" in table:
            size = self.positive_whole(
                table["queue_size"], (*path, "queue_size")
            )
            if size is not None:
                kwargs["queue_size"] = size
        for part in (
            "flush_timeout",
            "batch_window",
            "coalesce_window",
            "retry_for",
        ):
            if part in table:
                seconds = self.duration(table[part], (*path, part))
                if seconds is not None:
                    kwargs[part] = seconds
        if table.get("ops_channel") is not None:
            key = self.string(table["ops_channel"], (*path, "ops_channel"))
            if key is not None:
                self.channel_key(key, (*path, "ops_channel"), channels)
                kwargs["ops_channel"] = key
        if "console" in table:
            console = "off" if is_off(table["console"]) else table["console"]
            if console in ("stderr", "stdout", "off"):
                kwargs["console"] = console
            else:
                self.problem(
                    (*path, "console"),
                    f"must be stderr, stdout or off, not {shown(console)}",
                )
        if table.get("console_per_channel") is not None:
            limit = self.positive_whole(
                table["console_per_channel"],
                (*path, "console_per_channel"),
                " (the messages of each channel shown on the console)",
            )
            if limit is not None:
                kwargs["console_per_channel"] = limit
        if "reload" in table:
            kwargs["reload_every"] = self.interval(
                table["reload"],
                (*path, "reload"),
                RELOAD_EVERY,
            )
        if "report" in table:
            kwargs.update(self.report(table["report"], channels))
        if "max_lag" in table:
            lag = FoldChecker(self.file).max_lag(
                table["max_lag"], (*path, "max_lag")
            )
            if lag is not None:
                kwargs["max_lag"] = None if math.isinf(lag) else lag
        if "attach_tracebacks" in table:
            attach = table["attach_tracebacks"]
            if isinstance(attach, bool):
                kwargs["attach_tracebacks"] = attach
            else:
                self.problem(
                    (*path, "attach_tracebacks"),
                    f"must be true or false, not {shown(attach)}",
                )
        kwargs.update(self.spool(table))
        kwargs.update(self.relay(table))
        return DeliverySettings(**kwargs)

    def interval(
        self, value: Any, path: KeyPath, default: float | None
    ) -> float | None:
        """A duration, or ``off``/``false`` for never."""
        if is_off(value):
            return None
        seconds = self.duration(value, path)
        if seconds is not None and seconds < MIN_INTERVAL:
            self.problem(path, f"must be at least {MIN_INTERVAL:g}s, or off")
            return default
        return default if seconds is None else seconds

    def report(
        self, data: Any, channels: Mapping[str, Channel]
    ) -> dict[str, Any]:
        path: KeyPath = ("delivery", "report")
        if data is None or is_off(data):
            return {}
        table = self.mapping(data, path, "report")
        if table is None:
            return {}
        self.keys(table, path, ("every", "channel"), required=("every",))
        out: dict[str, Any] = {}
        if "every" in table:
            out["report_every"] = self.interval(
                table["every"], (*path, "every"), None
            )
        if table.get("channel") is not None:
            key = self.string(table["channel"], (*path, "channel"))
            if key is not None:
                self.channel_key(key, (*path, "channel"), channels)
                out["report_channel"] = key
        return out

    def spool(self, table: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "spool_size" in table:
            size = size_bytes(table["spool_size"])
            if size is None:
                self.problem(
                    ("delivery", "spool_size"),
                    f"invalid size {shown(table['spool_size'])} (use "
                    f"{SIZE_UNITS})",
                )
            else:
                out["spool_size"] = size
        value = table.get("spool")
        if value is None or is_off(value):
            return out
        path: KeyPath = ("delivery", "spool")
        text = self.string(value, path, "spool (a directory, or off)")
        if text is None:
            return out
        where = self.env(text, path)
        if where and not is_off(where):
            out["spool"] = where
        return out

    def relay(self, table: Mapping[str, Any]) -> dict[str, Any]:
        """
        ``relay``: the relay's Redis URL, or off (empty, ``off``, false).

        Read like ``spool``, with ``${VAR}``; the URL must be one redis-py
        connects with. A problem names the variable that gave the URL,
        and shows the URL without its credentials.
        """
        value = table.get("relay")
        if value is None or is_off(value):
            return {}
        path: KeyPath = ("delivery", "relay")
        text = self.string(value, path, "relay (a Redis URL, or off)")
        if text is None:
            return {}
        url = self.env(text, path)
        if not url or is_off(url):
            return {}
        try:
            parse(url)
        except RedisUrlError as exc:
            name = self.sole_variable(path, url)
            self.problem(path, f"${name} is {exc}" if name else str(exc))
            return {}
        return {"relay": url}


def size_bytes(value: Any) -> int | None:
    """
    Bytes from ``52428800``, ``'50MB'``, ``'100kB'`` or ``'1.5 GiB'``.

    A unit's prefix counts in powers of 1000 (``k``, ``kB``, ``KB``,
    ``M``, ``MB``, ``G``...) or, with an ``i``, of 1024 (``KiB``, ``Ki``,
    ``MiB``...); case does not matter. Returns ``None`` for anything
    else, and for sizes below one byte.
    """
    if not isinstance(value, str):
        return positive_int(value)
    found = _SIZE.fullmatch(value)
    if found is None:
        return None
    number = finite(found.group(1))
    if number is None:
        return None
    prefix, binary = found.group(2), found.group(3)
    power = _SIZE_POWERS[prefix.lower()] if prefix else 0
    size = number * (1024 if binary else 1000) ** power
    if not math.isfinite(size):  # 300 digits of terabytes
        return None
    return int(size) if size >= 1 else None
