"""
``relay status``: what the stream, the relays and the producers say.

Everything is read from Redis; nothing is changed. The report answers
the questions of someone on call: is a relay active, how far behind is
it, what has it delivered and lost, which destinations are disabled, and
which producers run a routing file other than the relay's, how many
boards and threads the relays keep the ids of, and how far the floor's
state is kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from polybot_loghandler._format import counted, duration
from polybot_loghandler._losses import Loss
from polybot_loghandler._watching.mutes import in_force, mute_text
from polybot_loghandler._watching.watching import Mute

from .connect import decoded, loads
from .floorstore import Meta
from .keys import GROUP, Keys
from .mutes import read_mutes
from .places import read_kind
from .watching import entry_id

__all__ = ["RelayStatus", "read_status", "status_text"]

#: A producer not heard from for this long is shown as gone.
PRODUCER_GONE = 60.0


@dataclass(slots=True)
class RelayStatus:
    """What ``relay status`` shows; times are epoch seconds."""

    url: str
    length: int = 0
    pending: int = 0
    oldest_pending: float | None = None  # when it was appended
    lag: int | None = None  # entries no relay has read yet
    consumers: int = 0
    active: str | None = None  # the lease's relay id
    relays: dict[str, dict[str, Any]] = field(default_factory=dict)
    state: dict[str, str] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)
    disabled: list[str] = field(default_factory=list)
    producers: dict[str, dict[str, Any]] = field(default_factory=dict)
    mutes: dict[str, Mute] = field(default_factory=dict)
    places: dict[str, int] = field(default_factory=dict)  # by kind
    floor: Meta | None = None  # the floor's state's meta, if kept
    floor_rows: dict[str, int] = field(default_factory=dict)  # by table
    floor_errors: int = 0


def read_status(client: Any, url: str) -> RelayStatus:
    """Read everything ``relay status`` shows (redis-py's sync client)."""
    out = RelayStatus(url=url)
    if client.exists(Keys.stream):
        out.length = int(client.xlen(Keys.stream))
        for group in client.xinfo_groups(Keys.stream):
            if decoded(group.get("name")) != GROUP:
                continue
            out.pending = int(group.get("pending") or 0)
            out.consumers = int(group.get("consumers") or 0)
            lag = group.get("lag")
            out.lag = None if lag is None else int(lag)
        if out.pending:
            summary = client.xpending(Keys.stream, GROUP)
            oldest = decoded(summary.get("min") or "")
            if oldest:
                out.oldest_pending = int(oldest.split("-")[0]) / 1000
    lease = client.get(Keys.lease)
    out.active = None if lease is None else decoded(lease).split("|")[0]
    out.relays = _json_hash(client.hgetall(Keys.relays))
    out.state = {
        decoded(k): decoded(v) for k, v in client.hgetall(Keys.status).items()
    }
    out.stats = _json(out.state.get("stats"), {})
    out.disabled = _json(out.state.get("disabled"), [])
    out.producers = _json_hash(client.hgetall(Keys.producers))
    out.mutes = read_mutes(client)
    for name in client.hkeys(Keys.places):
        kind = read_kind(name)
        if kind is not None:
            out.places[kind] = out.places.get(kind, 0) + 1
    raw = client.hgetall(Keys.floor_meta)
    if raw:
        out.floor, errors = Meta.read(raw)
        out.floor_errors = sum(errors.values())
        for table in out.floor.tables:
            out.floor_rows[table] = int(client.hlen(Keys.floor_rows + table))
    return out


def status_text(status: RelayStatus, now: float | None = None) -> str:
    """The report, one fact a line."""
    now = time.time() if now is None else now
    lines = [f"Redis: {status.url}"]
    if status.active is None:
        lines.append("active relay: none (no relay holds the lease)")
    else:
        lines.append(f"active relay: {status.active}")
    standby = [
        r
        for r, about in status.relays.items()
        if r != status.active and now - about.get("seen", 0) < PRODUCER_GONE
    ]
    if standby:
        lines.append(f"standing by: {', '.join(sorted(standby))}")
    lag = "unknown" if status.lag is None else f"{status.lag:,}"
    lines.append(
        f"stream: {counted(status.length, 'entry', 'entries')}; "
        f"not yet read: {lag}; pending: {status.pending:,}"
        + (
            f" (oldest {duration(now - status.oldest_pending)} ago)"
            if status.oldest_pending is not None
            else ""
        )
        + f"; consumers: {status.consumers}"
    )
    last = float(status.state.get("last_delivery") or 0)
    lines.append(
        "last delivery: "
        + (f"{duration(now - last)} ago" if last else "none yet")
    )
    stats = status.stats
    delivered = stats.get("delivered", 0)
    drops = {r.value: stats[r.counter] for r in Loss if stats.get(r.counter)}
    lines.append(
        f"delivered: {counted(delivered, 'event')}; dropped: "
        + (
            ", ".join(f"{n:,} {k}" for k, n in sorted(drops.items()))
            if drops
            else "none"
        )
    )
    lines.append(
        "disabled destinations: "
        + (", ".join(status.disabled) if status.disabled else "none")
    )
    boards, threads = status.places.get("board"), status.places.get("thread")
    if boards or threads:  # no line when none: routes without places
        lines.append(
            "boards and threads kept: "
            f"{counted(boards or 0, 'board')}, "
            f"{counted(threads or 0, 'thread')}"
        )
    if status.floor is not None:  # no line without a state: section
        lines.append(_floor_line(status, now))
    lines.extend(_producer_lines(status, now))
    mutes = in_force(status.mutes, now)
    if mutes:  # no line when none: most of the time
        lines.append(f"mutes in force: {len(mutes)}")
        lines.extend(
            f"  {mute_text(name, mute, now)}"
            for name, mute in sorted(mutes.items(), key=lambda kv: kv[1].until)
        )
    return "\n".join(lines)


def _floor_line(status: RelayStatus, now: float) -> str:
    """How much the floor's state holds, and how far it is kept."""
    meta = status.floor
    assert meta is not None
    rows = sum(status.floor_rows.values())
    line = (
        f"floor state: {counted(rows, 'row')} in "
        f"{counted(len(meta.tables), 'table')}, "
        f"{counted(len(meta.totals), 'total')}"
    )
    cursor = entry_id(meta.cursor)
    if cursor is not None and meta.updated:
        line += (
            f"; events applied up to {duration(now - cursor[0] / 1000)} "
            f"ago, saved {duration(now - meta.updated)} ago"
        )
    if meta.trimmed:
        line += (
            f"; {counted(meta.trimmed, 'entry', 'entries')} trimmed unapplied"
        )
    if status.floor_errors:
        line += f"; {counted(status.floor_errors, 'problem')}"
    return line


def _producer_lines(status: RelayStatus, now: float) -> list[str]:
    relay_hash = status.state.get("hash", "")
    live = {
        p: about
        for p, about in status.producers.items()
        if now - about.get("seen", 0) < PRODUCER_GONE
    }
    lines = [f"producers: {len(live)}"]
    for producer, about in sorted(live.items()):
        theirs = str(about.get("hash", ""))
        if relay_hash and theirs and theirs != relay_hash:
            lines.append(
                f"  {producer}: routing file {about.get('routing')} differs "
                f"from the relay's (hash {theirs}, relay {relay_hash})"
            )
    return lines


def _json(text: str | None, default: Any) -> Any:
    value = loads(text)
    return value if isinstance(value, type(default)) else default


def _json_hash(raw: dict[Any, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for key, value in raw.items():
        about = _json(decoded(value), {})
        if isinstance(about.get("seen", 0), (int, float)):
            out[decoded(key)] = about
    return out
