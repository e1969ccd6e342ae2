"""
The floor's state in Redis: how it is laid out, and read back.

The active relay keeps the state (see :mod:`.floor`): one hash per
table (row key → row, JSON), one per total (``"<period>|<label>"`` →
sums, JSON), and :attr:`Keys.floor_meta`: the ``cursor`` (the last
stream entry applied) and what is said of the state. Only the relay's
``SAVE_FLOOR`` script writes them, in one step, so a reader that reads
every key in one transaction (:func:`read_floor`) sees a state and the
cursor it was made up to, as one relay saved it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from polybot_loghandler._floor.model import StateSpec
from polybot_loghandler._floor.reduce import Change, Row, RowChange, Sums
from polybot_loghandler._floor.state import FloorState

from .connect import decoded, loads
from .keys import Keys
from .watching import entry_id

__all__ = [
    "FloorView",
    "Meta",
    "Pending",
    "decode_floor",
    "floor_keys",
    "read_floor",
    "read_floor_sync",
]


def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=False, separators=(",", ":"))


@dataclass(slots=True)
class Meta:
    """
    What :attr:`Keys.floor_meta` says of the saved state.

    Attributes:
        cursor: The last stream entry applied (``""``: none yet).
        ordinal: That entry's place among every entry the stream was
            ever given, to count those trimmed after it (``-1``: not
            known, as on Redis before 7.0).
        fingerprint: The spec's (``StateSpec.fingerprint``) that made it.
        updated: When it was last saved (epoch seconds; 0: never).
        trimmed: Entries trimmed from the stream before it applied them.
        tables: The tables it holds rows of; totals: those it sums.
        relay: The relay that last saved it.
    """

    cursor: str = ""
    ordinal: int = -1
    fingerprint: str = ""
    updated: float = 0.0
    trimmed: int = 0
    tables: tuple[str, ...] = ()
    totals: tuple[str, ...] = ()
    relay: str = ""

    @classmethod
    def read(cls, raw: Mapping[Any, Any]) -> tuple[Meta, Counter[str]]:
        """The meta hash as Redis gives it, and its ``errors``."""
        got = {decoded(k): decoded(v) for k, v in raw.items()}
        cursor = got.get("cursor", "")
        meta = cls(
            cursor=cursor if entry_id(cursor) else "",
            ordinal=_number(got.get("ordinal"), int, -1),
            fingerprint=got.get("fingerprint", ""),
            updated=_number(got.get("updated"), float, 0.0),
            trimmed=_number(got.get("trimmed"), int, 0),
            tables=_names(got.get("tables")),
            totals=_names(got.get("totals")),
            relay=got.get("relay", ""),
        )
        errors: Counter[str] = Counter()
        found = loads(got.get("errors"))
        if isinstance(found, dict):
            errors.update(
                {
                    str(k): n
                    for k, n in found.items()
                    if n.__class__ is int and n > 0
                }
            )
        return meta, errors

    def fields(self, errors: Mapping[str, int]) -> list[str]:
        """Field, value, field, value...: as the save script takes them."""
        values = {
            "cursor": self.cursor,
            "ordinal": str(self.ordinal),
            "fingerprint": self.fingerprint,
            "updated": repr(self.updated),
            "trimmed": str(self.trimmed),
            "tables": _dumps(list(self.tables)),
            "totals": _dumps(list(self.totals)),
            "relay": self.relay,
            "errors": _dumps(dict(sorted(errors.items()))),
        }
        return [x for pair in values.items() for x in pair]


def _number(value: Any, kind: type[Any], default: Any) -> Any:
    try:
        return kind(value)
    except (TypeError, ValueError, OverflowError):
        return default


def _names(text: Any) -> tuple[str, ...]:
    found = loads(text)
    if not isinstance(found, list):
        return ()
    return tuple(n for n in found if isinstance(n, str))


@dataclass(slots=True)
class FloorView:
    """
    The floor's state as Redis holds it, for ``ask`` and the bot.

    Attributes:
        state: The rows, sums and errors, in a :class:`FloorState` of
            the reader's spec (tables and totals it does not name are
            not read; sums of periods it does not count are left out).
        meta: The cursor, when saved, by which relay, what was trimmed.
        fingerprint: The reader's spec's: ``meta.fingerprint`` differs
            when the state was made by another ``state:`` section.
        stale: Hash → fields the reader's spec does not count (periods
            dropped from a total); the keeper deletes them.
    """

    state: FloorState
    meta: Meta
    fingerprint: str
    stale: dict[str, list[str]] = field(default_factory=dict)

    @property
    def kept(self) -> bool:
        """Whether a relay has kept a state at all (it saved a cursor)."""
        return bool(self.meta.cursor)

    @property
    def same_spec(self) -> bool:
        """Whether the saved state was made by the reader's spec."""
        return self.meta.fingerprint == self.fingerprint

    def other_spec(self) -> str:
        """
        What to tell a reader whose spec did not make it; empty if it did.

        It differs when the file was edited since the relay read it, or
        when the reader reads another file.
        """
        if self.same_spec or not self.kept:
            return ""
        return (
            "the relay keeps this state by another state: section than "
            "this file's (edited since the relay started?): answers may "
            "miss what the new one keeps until the relay reads it"
        )


def floor_keys(spec: StateSpec) -> list[str]:
    """The meta, each table's and each total's hash, in that order."""
    return [
        Keys.floor_meta,
        *(Keys.floor_rows + t.name for t in spec.tables),
        *(Keys.floor_sums + t.name for t in spec.totals),
    ]


def decode_floor(spec: StateSpec, raws: list[Mapping[Any, Any]]) -> FloorView:
    """
    The hashes :func:`floor_keys` names, as read, back to a state.

    What does not read as the keeper writes it is left out and counted
    in the state's errors (``"<table>: unreadable"``); never raises.
    """
    meta, errors = Meta.read(raws[0])
    state = FloorState(spec, errors=errors)
    stale: dict[str, list[str]] = {}
    n = len(spec.tables)
    for table, raw in zip(spec.tables, raws[1 : 1 + n], strict=True):
        rows: list[tuple[str, Row]] = []
        for key, value in raw.items():
            row = loads(value)
            if isinstance(row, dict):
                rows.append((decoded(key), row))
            else:
                state.errors[f"{table.name}: unreadable"] += 1
        rows.sort(key=lambda kr: _number(kr[1].get("_updated"), float, 0.0))
        state.tables[table.name] = dict(rows)  # least recent first
    for total, raw in zip(spec.totals, raws[1 + n :], strict=True):
        periods = state.totals[total.name]
        for name, value in raw.items():
            where = decoded(name)
            period, _, label = where.partition("|")
            sums = loads(value)
            if period not in periods:
                stale.setdefault(Keys.floor_sums + total.name, []).append(
                    where
                )
            elif isinstance(sums, dict) and all(
                isinstance(x, (int, float)) for x in sums.values()
            ):
                periods[period][label] = sums
            else:
                state.errors[f"{total.name}: unreadable"] += 1
    return FloorView(state, meta, spec.fingerprint, stale)


async def read_floor(client: Any, spec: StateSpec) -> FloorView:
    """
    The floor's state in Redis, read in one step; changes nothing.

    *client* is redis-py's asyncio client (see :func:`.connect.
    async_client`). A Redis that holds no state gives an empty one.
    """
    async with client.pipeline(transaction=True) as pipe:
        for key in floor_keys(spec):
            pipe.hgetall(key)
        raws = await pipe.execute()
    return decode_floor(spec, raws)


def read_floor_sync(client: Any, spec: StateSpec) -> FloorView:
    """:func:`read_floor` with redis-py's sync client (a command line)."""
    with client.pipeline(transaction=True) as pipe:
        for key in floor_keys(spec):
            pipe.hgetall(key)
        raws = pipe.execute()
    return decode_floor(spec, raws)


class Pending:
    """
    Changes not yet saved, by hash and field: the last change wins.

    A row set then removed is removed; a hash dropped whole (a table no
    longer in the spec) is deleted before any field is set in it.
    """

    def __init__(self) -> None:
        self.fields: dict[str, dict[str, str | None]] = {}
        self.dropped: set[str] = set()
        #: entries applied since the last save (reports included)
        self.entries = 0

    def __bool__(self) -> bool:
        return bool(self.fields or self.dropped or self.entries)

    def add(self, changes: Iterable[Change]) -> None:
        """Take *changes*, in order."""
        for change in changes:
            if isinstance(change, RowChange):
                key, name = Keys.floor_rows + change.table, change.key
                value: Row | Sums | None = change.row
            else:
                key = Keys.floor_sums + change.total
                name = f"{change.period}|{change.label}"
                value = change.sums
            held = self.fields.setdefault(key, {})
            held.pop(name, None)  # in the order last changed
            held[name] = None if value is None else _dumps(value)

    def delete(self, key: str, names: Iterable[str] = ()) -> None:
        """Delete fields of *key*, or (no *names*) the whole hash."""
        if not names:
            self.dropped.add(key)
            self.fields.pop(key, None)
            return
        held = self.fields.setdefault(key, {})
        for name in names:
            held[name] = None

    def script_args(self) -> tuple[list[str], list[str]]:
        """The hashes, and their part of ``SAVE_FLOOR``'s arguments."""
        keys: list[str] = []
        args: list[str] = []
        for key in sorted(self.dropped | set(self.fields)):
            if key in self.dropped:
                keys.append(key)
                args += ["-1", "0"]
            held = self.fields.get(key)
            if held:
                sets = [
                    x for k, v in held.items() if v is not None for x in (k, v)
                ]
                dels = [k for k, v in held.items() if v is None]
                keys.append(key)
                args += [str(len(sets) // 2), str(len(dels)), *sets, *dels]
        return keys, args
