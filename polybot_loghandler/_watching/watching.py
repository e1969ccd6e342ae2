"""
The watches and digests of one routing file, as they run.

:class:`Watching` holds one :class:`~.silence.Silence` per watch and one
:class:`~.digest.Digest` per digest. Events come in through
:meth:`Watching.observe` (the render thread); :meth:`Watching.due` (the
engine's chores) hands out what is due: alerts, recoveries and closed
periods, each an :class:`Output` of plain values a template can show
and a store can keep. Nothing here renders or sends.

Times are epoch seconds on the watching process's clock: silence is
measured from when an event was seen here, so a backlog read late is not
a silence; a digest counts an event in the period of its own time.

One lock guards the state: the render thread and the engine's loop take
it for a few dictionary operations, never around I/O; the application's
threads never take it. A store that must keep the state and send what is
due in one step takes both at once (:meth:`Watching.due_and_snapshot`),
and learns from :attr:`Watching.mark` which event the state has seen
last.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from polybot_loghandler._events import LogEvent
from polybot_loghandler._matching import Matcher
from polybot_loghandler._model import Config, DigestRule, WatchRule
from polybot_loghandler._values import text_of

from .digest import Closed, Digest
from .silence import Alert, KeyState, Recovery, Silence

__all__ = ["ALERT", "DIGEST", "RECOVERY", "Mute", "Output", "Watching"]

ALERT = "alert"
RECOVERY = "recovery"
DIGEST = "digest"
#: The fields of a key's last event that are kept (the first ones).
LAST_FIELDS = 20
#: The characters of each kept value, at most.
LAST_CHARS = 200


@dataclass(frozen=True, slots=True)
class Output:
    """
    One message a watch or digest has to send.

    Attributes:
        kind: ``alert``, ``recovery`` or ``digest``.
        name: The watch's or digest's name.
        time: When it was made (epoch seconds).
        values: What its template shows, as plain values (JSON-able):
            see :func:`alert_values` and :func:`digest_values`.
    """

    kind: str
    name: str
    time: float
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Mute:
    """
    A route, watch or digest held back until *until* (epoch seconds).

    What it holds back is counted in ``dropped.muted``, not sent.
    """

    until: float
    reason: str = ""


@dataclass(slots=True)
class _Watch:
    rule: WatchRule
    silence: Silence
    #: the event names it may take (``None``: any), to skip the others
    names: frozenset[str] | None = field(init=False)

    def __post_init__(self) -> None:
        self.names = _names(self.rule.matcher, self.rule.end)


@dataclass(slots=True)
class _Digest:
    rule: DigestRule
    digest: Digest
    names: frozenset[str] | None = field(init=False)

    def __post_init__(self) -> None:
        self.names = _names(self.rule.matcher)


def _names(*matchers: Matcher | None) -> frozenset[str] | None:
    """The event names *matchers* may take; ``None`` when not only names."""
    names: set[str] = set()
    for matcher in matchers:
        if matcher is None:
            continue
        if matcher.event is None or not matcher.event.only_exact:
            return None
        names |= matcher.event.exact
    return frozenset(names)


class Watching:
    """
    Every watch and digest of one routing file, and what they know.

    Args:
        config: The routing file.
        now: The time the watching starts (expected keys are silent
            from here).
        count: Adds to a counter (``watching.keys_refused``...).
    """

    def __init__(
        self,
        config: Config,
        now: float,
        count: Callable[[str, int], None] = lambda _k, _n: None,
    ) -> None:
        self._lock = threading.RLock()
        self._count = count
        self._watches: dict[str, _Watch] = {}
        self._digests: dict[str, _Digest] = {}
        self._ready: list[Output] = []  # made when observed: recoveries
        self._mutes: dict[str, Mute] = {}
        self._held: dict[str, int] = {}  # held back, by muted name
        self._told: set[tuple[str, float]] = set()  # mutes told ended
        #: the *mark* of the last event a watch or digest took (opaque:
        #: the relay's stream entry id), kept in the snapshot
        self.mark: Any = None
        self._install(config, now)

    def after_fork_in_child(self) -> None:
        """The parent's threads may have held the lock at the fork."""
        self._lock = threading.RLock()

    @property
    def empty(self) -> bool:
        """Whether the routing file has no watch and no digest."""
        return not self._watches and not self._digests

    # -- mutes ----------------------------------------------------------------

    def set_mutes(self, mutes: Mapping[str, Mute]) -> None:
        """Hold back what *mutes* name from now on (replacing the last)."""
        self._mutes = dict(mutes)  # one assignment: readers see old or new

    def muted(self, name: str, now: float) -> bool:
        """Whether the route, watch or digest *name* is muted at *now*."""
        mute = self._mutes.get(name)
        return mute is not None and now < mute.until

    def hold_back(self, name: str, n: int = 1) -> None:
        """Count *n* messages of muted *name* as held back."""
        self._count("dropped.muted", n)
        self._held[name] = self._held.get(name, 0) + n

    def expired(self, now: float) -> list[tuple[str, Mute, int]]:
        """
        The mutes that have ended, each told once: name, mute, held back.

        For the announcement that a mute is over (and what it held).
        """
        out = []
        for name, mute in list(self._mutes.items()):
            told = (name, mute.until)
            if now >= mute.until and told not in self._told:
                self._told.add(told)
                out.append((name, mute, self._held.pop(name, 0)))
        return out

    # -- reloading ------------------------------------------------------------

    def update(self, config: Config, now: float) -> None:
        """
        Watch with *config* from now on.

        A watch or digest whose definition did not change keeps what it
        knows; a changed one starts afresh; one that is gone is dropped,
        with what it had not sent (a digest's open periods are sent
        first, marked partial: see :meth:`due`).
        """
        with self._lock:
            self._install(config, now)

    def _install(self, config: Config, now: float) -> None:
        old_watches, old_digests = self._watches, self._digests
        self._watches = {}
        for rule in config.watches:
            kept = old_watches.get(rule.name)
            if kept is not None and kept.rule.fingerprint == rule.fingerprint:
                self._watches[rule.name] = _Watch(rule, kept.silence)
            else:
                self._watches[rule.name] = _Watch(rule, _silence(rule, now))
        self._digests = {}
        for digest_rule in config.digests:
            was = old_digests.get(digest_rule.name)
            if was is not None and (
                was.rule.fingerprint == digest_rule.fingerprint
            ):
                self._digests[digest_rule.name] = _Digest(
                    digest_rule, was.digest
                )
                continue
            self._digests[digest_rule.name] = _Digest(
                digest_rule, _digest(digest_rule)
            )
            if was is not None:  # changed: what it gathered is sent
                self._ready.extend(
                    _digest_output(was.rule, c, now, partial=True)
                    for c in was.digest.close_all()
                )
        for name, was in old_digests.items():
            if name not in self._digests:
                self._ready.extend(
                    _digest_output(was.rule, c, now, partial=True)
                    for c in was.digest.close_all()
                )

    # -- events ---------------------------------------------------------------

    def observe(
        self,
        ev: LogEvent,
        context: Mapping[str, Any],
        now: float,
        *,
        mark: Any = None,
    ) -> bool:
        """
        Show one event to every watch and digest; whether any took it.

        A key heard of again after its alert makes a recovery, handed
        out by the next :meth:`due`. A template that fails (a ``key:``,
        a ``when:``) skips that watch for this event, counted in
        ``errors.template``; it never raises. An event taken with a
        *mark* becomes :attr:`mark`, in the same step.
        """
        if self.empty:
            return False
        fields = context.get("fields", ev.fields)
        took = False
        with self._lock:
            for watch in self._watches.values():
                took |= self._observe_watch(watch, ev, context, fields, now)
            for entry in self._digests.values():
                if entry.names is not None and ev.event not in entry.names:
                    continue
                try:
                    if not entry.rule.matcher.matches(ev, context):
                        continue
                except Exception:
                    self._count("errors.template", 1)
                    continue
                took = True
                digest = entry.digest
                late, crowded = digest.late, digest.crowded
                digest.add(ev.time, fields)
                if digest.late > late:
                    self._count("watching.late", 1)
                if digest.crowded > crowded:
                    self._count("watching.groups_crowded", 1)
            if took and mark is not None:
                self.mark = mark
        return took

    def _observe_watch(
        self,
        watch: _Watch,
        ev: LogEvent,
        context: Mapping[str, Any],
        fields: Mapping[str, Any],
        now: float,
    ) -> bool:
        rule = watch.rule
        if watch.names is not None and ev.event not in watch.names:
            return False
        try:
            ends = rule.end is not None and rule.end.matches(ev, context)
            if not ends and not rule.matcher.matches(ev, context):
                return False
            key = (
                rule.name
                if rule.key is None
                else rule.key.render(context).strip()
            )
        except Exception:
            self._count("errors.template", 1)
            return False
        if not key:
            self._count("watching.no_key", 1)
            return True
        if ends:
            watch.silence.ended(key)
            return True
        refused = watch.silence.refused
        back = watch.silence.seen(key, now, _kept(fields))
        if watch.silence.refused > refused:
            self._count("watching.keys_refused", 1)
        if back is not None and rule.recovery:
            self._ready.append(_recovery_output(rule, back, now))
        return True

    # -- what is due ----------------------------------------------------------

    def due(self, now: float) -> list[Output]:
        """
        Alerts, recoveries and closed periods due at *now*, in order.

        Those of a muted watch or digest are held back: counted in
        ``dropped.muted`` and gone (an alert held back is not told
        again when the mute ends; the key's recovery still is).
        """
        return self._unmuted(self._due(now), now)

    def due_and_snapshot(
        self, now: float, *, evaluate: bool = True
    ) -> tuple[list[Output], dict[str, Any]]:
        """
        What is due at *now* (as :meth:`due`), and the state after it.

        Taken together, so that a store keeping the state and sending
        the outputs in one step never has an event in one and not the
        other. Without *evaluate*, only what is made already (the
        recoveries, a changed digest's periods) is taken: no silence is
        told and no period closed (the relay, until it has read what was
        logged while no relay read).
        """
        with self._lock:
            if evaluate:
                found = self._due(now)
            else:
                found, self._ready = self._ready, []
            state = self.snapshot()
        return self._unmuted(found, now), state

    def _unmuted(self, outputs: list[Output], now: float) -> list[Output]:
        out = []
        for output in outputs:
            if self.muted(output.name, now):
                self.hold_back(output.name)
            else:
                out.append(output)
        return out

    def _due(self, now: float) -> list[Output]:
        with self._lock:
            out, self._ready = self._ready, []
            for watch in self._watches.values():
                out.extend(
                    _alert_output(watch.rule, alert, now)
                    for alert in watch.silence.due(now)
                )
            for entry in self._digests.values():
                out.extend(
                    _digest_output(entry.rule, closed, now, partial=False)
                    for closed in entry.digest.close_due(now)
                )
        return out

    def close_all(self, now: float) -> list[Output]:
        """At exit: what is due, and every open period, marked partial."""
        out = self.due(now)
        with self._lock:
            for entry in self._digests.values():
                if self.muted(entry.rule.name, now):
                    held = len(entry.digest.close_all())
                    if held:
                        self.hold_back(entry.rule.name, held)
                    continue
                out.extend(
                    _digest_output(entry.rule, closed, now, partial=True)
                    for closed in entry.digest.close_all()
                )
        return out

    def next_due(self) -> float | None:
        """When something may next be due (``None``: nothing can be)."""
        with self._lock:
            if self._ready:
                return float("-inf")
            times = [w.silence.next_due() for w in self._watches.values()]
            times += [d.digest.next_due() for d in self._digests.values()]
        return min((t for t in times if t is not None), default=None)

    # -- for a store ----------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """
        What the watches and digests know, as plain (JSON-able) values.

        ``{"watches": {name: {"fingerprint", "keys"}}, "digests": {name:
        {"fingerprint", "state"}}, "mark": mark}``; see :meth:`restore`.
        """
        with self._lock:
            return {
                "mark": self.mark,
                "watches": {
                    name: {
                        "fingerprint": w.rule.fingerprint,
                        "keys": {
                            key: [s.seen, s.heard, s.alerted, dict(s.last)]
                            for key, s in w.silence.keys.items()
                        },
                    }
                    for name, w in self._watches.items()
                },
                "digests": {
                    name: {
                        "fingerprint": d.rule.fingerprint,
                        "state": d.digest.snapshot(),
                    }
                    for name, d in self._digests.items()
                },
            }

    def restore(self, saved: Mapping[str, Any]) -> None:
        """
        Take back what :meth:`snapshot` gave, for unchanged definitions.

        A watch or digest whose definition changed since starts afresh;
        what does not read as a snapshot is ignored (a damaged store
        must not stop the watching).
        """
        watches = saved.get("watches")
        digests = saved.get("digests")
        with self._lock:
            self.mark = saved.get("mark")
            for name, state in _same(self._watches, watches):
                keys = state.get("keys")
                if isinstance(keys, dict):
                    _restore_keys(self._watches[name].silence, keys)
            for name, state in _same(self._digests, digests):
                with contextlib.suppress(ValueError):
                    digest = self._digests[name].digest
                    digest.restore(state.get("state") or {})


def _same(
    live: Mapping[str, _Watch | _Digest], saved: Any
) -> list[tuple[str, dict[str, Any]]]:
    """The saved states of *live*'s definitions that did not change."""
    if not isinstance(saved, dict):
        return []
    return [
        (name, state)
        for name, state in saved.items()
        if name in live
        and isinstance(state, dict)
        and state.get("fingerprint") == live[name].rule.fingerprint
    ]


def _restore_keys(silence: Silence, keys: Mapping[str, Any]) -> None:
    for key, row in keys.items():
        state = _key_state(row)
        if state is not None:
            silence.keys[str(key)] = state


def _key_state(row: Any) -> KeyState | None:
    """One key's saved row, or ``None`` if it does not read as one."""
    try:
        seen, heard, alerted, last = row
        return KeyState(float(seen), bool(heard), bool(alerted), dict(last))
    except (TypeError, ValueError):
        return None


def _silence(rule: WatchRule, now: float) -> Silence:
    return Silence(
        rule.alert_after, now, expect=rule.expect, limit=rule.max_keys
    )


def _digest(rule: DigestRule) -> Digest:
    return Digest(
        dict(rule.measures),
        rule.every,
        group_by=rule.group_by,
        zone=rule.zone,
        grace=rule.grace,
        limit=rule.max_groups,
    )


def _kept(fields: Mapping[str, Any]) -> dict[str, Any]:
    """
    A key's last fields, small and plain enough to keep and store.

    A name is shown as any value is (:func:`text_of`): a name whose
    ``str()`` raises must not cost the event.
    """
    out: dict[str, Any] = {}
    for name, value in list(fields.items())[:LAST_FIELDS]:
        if value is None or isinstance(value, (bool, int, float)):
            out[text_of(name)] = value
        else:
            out[text_of(name)] = text_of(value)[:LAST_CHARS]
    return out


def _alert_output(rule: WatchRule, alert: Alert, now: float) -> Output:
    return Output(
        ALERT,
        rule.name,
        now,
        {
            "watch": rule.name,
            "key": alert.key,
            "silent_for": alert.silent_for,
            "alert_after": rule.alert_after,
            "last_seen": alert.last_seen,
            "last": dict(alert.last),
        },
    )


def _recovery_output(rule: WatchRule, back: Recovery, now: float) -> Output:
    return Output(
        RECOVERY,
        rule.name,
        now,
        {
            "watch": rule.name,
            "key": back.key,
            "silent_for": back.silent_for,
            "alert_after": rule.alert_after,
        },
    )


def _digest_output(
    rule: DigestRule, closed: Closed, now: float, *, partial: bool
) -> Output:
    return Output(
        DIGEST,
        rule.name,
        now,
        {
            "digest": rule.name,
            "period": {"start": closed.period.start, "end": closed.period.end},
            "timezone": rule.zone_name,
            "groups": [
                {"key": key, **measures} for key, measures in closed.groups
            ],
            "total": dict(closed.total),
            "events": closed.events,
            "crowded": closed.crowded,
            "partial": partial or closed.partial,
        },
    )
