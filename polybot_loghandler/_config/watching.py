"""
``watches:`` and ``digests:``: silence told, and events summed up.

A watch keeps one key per distinct ``key:`` its events render to, and
alerts when a key goes silent for longer than ``alert_after``; a digest
folds the events of each period into one message. Both take the same
``match:``, ``to:``, ``mention:`` and ``embed:`` as a route, checked by
the same checkers. Their names share one space with the routes' (so
``mute NAME`` names one thing); each is fingerprinted, so a reload
keeps the state of those whose definition did not change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from polybot_loghandler._model import (
    Channel,
    DigestRule,
    EmbedTemplate,
    WatchRule,
)
from polybot_loghandler._watching.periods import check_every
from polybot_loghandler._yaml import KeyPath

from .checker import RoutingFile
from .embeds import EmbedChecker
from .match import MatchChecker
from .measures import MeasuresChecker
from .routes import RouteChecker
from .words import kind_of, shown

__all__ = ["WatchingChecker", "fingerprint"]

_Rule = TypeVar("_Rule", WatchRule, DigestRule)

_WATCH_KEYS = (
    "name",
    "match",
    "key",
    "alert_after",
    "expect",
    "end",
    "to",
    "mention",
    "embed",
    "recovery",
    "max_keys",
)
_DIGEST_KEYS = (
    "name",
    "match",
    "every",
    "timezone",
    "group_by",
    "measures",
    "to",
    "mention",
    "embed",
    "top",
    "grace",
    "max_groups",
)


def fingerprint(spec: Any) -> str:
    """A short hash of one definition, as the file wrote it."""
    text = json.dumps(spec, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class WatchingChecker(MeasuresChecker):
    """
    Checks ``watches:`` and ``digests:`` and makes each one.

    Args:
        file: The reading of the routing file.
        names: Names already taken (by the routes), each with where.
    """

    def __init__(self, file: RoutingFile, names: dict[str, str]) -> None:
        super().__init__(file)
        self.match = MatchChecker(file)
        self.embeds = EmbedChecker(file)
        self.routes = RouteChecker(file)
        self.names = names

    # -- both ---------------------------------------------------------------

    def _each(
        self,
        data: Any,
        section: str,
        make: Callable[[Any, int], _Rule | None],
    ) -> list[_Rule]:
        """What *make* makes of each entry of the list *data*, if sound."""
        if data is None:
            return []
        if not isinstance(data, list):
            self.problem(
                (section,), f"{section} must be a list, not {kind_of(data)}"
            )
            return []
        made = (make(spec, index) for index, spec in enumerate(data))
        return [rule for rule in made if rule is not None]

    def _name(self, table: Mapping[str, Any], path: KeyPath) -> str | None:
        if "name" not in table:
            return None  # told as a missing key
        name = self.string(table["name"], (*path, "name"), "name")
        if name is None:
            return None
        if not name.strip():
            self.problem((*path, "name"), "a name must not be empty")
            return None
        where = f"{path[0]}[{path[1]}]"
        if name in self.names:
            self.problem(
                (*path, "name"),
                f"duplicate name '{name}' (first used by {self.names[name]}; "
                "routes, watches and digests need names of their own)",
            )
            return None
        self.names[name] = where
        return name

    def _whole(
        self, table: Mapping[str, Any], key: str, path: KeyPath, default: int
    ) -> int:
        if key not in table:
            return default
        found = self.positive_whole(table[key], (*path, key))
        return default if found is None else found

    # -- watches ------------------------------------------------------------

    def watches(
        self, data: Any, channels: Mapping[str, Channel]
    ) -> list[WatchRule]:
        """Every watch of *data* that has no problem."""
        return self._each(
            data, "watches", lambda spec, i: self.watch(spec, i, channels)
        )

    def watch(
        self, spec: Any, index: int, channels: Mapping[str, Channel]
    ) -> WatchRule | None:
        path: KeyPath = ("watches", index)
        table = self.mapping(spec, path, "a watch")
        if table is None:
            return None
        before = len(self.file.problems)
        self.keys(
            table, path, _WATCH_KEYS, required=("name", "alert_after", "to")
        )
        name = self._name(table, path)
        matcher = self.match.matcher(table.get("match", {}), (*path, "match"))
        key = None
        if table.get("key") is not None:
            key = self.template(table["key"], (*path, "key"), mode="raw")
        alert_after = None
        if "alert_after" in table:
            alert_after = self.duration(
                table["alert_after"], (*path, "alert_after")
            )
            if alert_after == 0:
                self.problem(
                    (*path, "alert_after"),
                    "must be longer than 0s (how long a key may be silent)",
                )
        expect = self._expect(table.get("expect"), (*path, "expect"))
        end = None
        if table.get("end") is not None:
            end = self.match.matcher(table["end"], (*path, "end"))
        to = self._to(table, path, channels)
        mention = self.routes.mention(table.get("mention"), (*path, "mention"))
        embed = self.embeds.embed(table.get("embed"), (*path, "embed"))
        recovery, recovery_embed = self._recovery(
            table.get("recovery", True), (*path, "recovery")
        )
        max_keys = self._whole(table, "max_keys", path, 1000)
        if (
            len(self.file.problems) > before
            or name is None
            or matcher is None
            or alert_after is None
        ):
            return None
        return WatchRule(
            name=name,
            index=index,
            line=self.line(path),
            matcher=matcher,
            key=key,
            alert_after=alert_after,
            expect=expect,
            end=end,
            to=to,
            mention=mention,
            embed=embed,
            recovery=recovery,
            recovery_embed=recovery_embed,
            max_keys=max_keys,
            fingerprint=fingerprint(spec),
        )

    def _to(
        self,
        table: Mapping[str, Any],
        path: KeyPath,
        channels: Mapping[str, Channel],
    ) -> tuple[Any, ...]:
        if "to" not in table:
            return ()  # told as a missing key
        # in a forum, each watch key's alerts and recoveries, and each
        # digest, go into a thread of their own (``_routing``)
        return self.routes.targets(table["to"], (*path, "to"), channels)

    def _expect(self, data: Any, path: KeyPath) -> tuple[str, ...]:
        if data is None:
            return ()
        items = data if isinstance(data, list) else [data]
        out: list[str] = []
        for n, item in enumerate(items):
            where = (*path, n) if isinstance(data, list) else path
            if isinstance(item, bool) or not isinstance(item, (str, int)):
                self.problem(
                    where,
                    f"an expected key is a string, not {kind_of(item)}",
                )
                continue
            text = str(item)
            if not text.strip():
                self.problem(where, "an expected key must not be empty")
            elif text not in out:
                out.append(text)
        return tuple(out)

    def _recovery(
        self, data: Any, path: KeyPath
    ) -> tuple[bool, EmbedTemplate | None]:
        if isinstance(data, bool):
            return data, None
        table = self.mapping(
            data, path, "recovery (true, false or {embed: {...}})"
        )
        if table is None:
            return True, None
        self.keys(table, path, ("embed",))
        return True, self.embeds.embed(table.get("embed"), (*path, "embed"))

    # -- digests ------------------------------------------------------------

    def digests(
        self, data: Any, channels: Mapping[str, Channel]
    ) -> list[DigestRule]:
        """Every digest of *data* that has no problem."""
        return self._each(
            data, "digests", lambda spec, i: self.digest(spec, i, channels)
        )

    def digest(
        self, spec: Any, index: int, channels: Mapping[str, Channel]
    ) -> DigestRule | None:
        path: KeyPath = ("digests", index)
        table = self.mapping(spec, path, "a digest")
        if table is None:
            return None
        before = len(self.file.problems)
        self.keys(
            table,
            path,
            _DIGEST_KEYS,
            required=("name", "every", "measures", "to"),
        )
        name = self._name(table, path)
        matcher = self.match.matcher(table.get("match", {}), (*path, "match"))
        every = None
        if "every" in table:
            every = self._every(table["every"], (*path, "every"))
        zone_name, zone = self.zone_of(table, path)
        group_by = self.group_by(table, path)
        measures = self.measures(table.get("measures"), (*path, "measures"))
        to = self._to(table, path, channels)
        mention = self.routes.mention(table.get("mention"), (*path, "mention"))
        embed = self.embeds.embed(table.get("embed"), (*path, "embed"))
        top = None
        if "top" in table:
            top = self.positive_whole(table["top"], (*path, "top"))
        grace = 2.0
        if "grace" in table:
            found_grace = self.duration(table["grace"], (*path, "grace"))
            grace = 2.0 if found_grace is None else found_grace
        max_groups = self._whole(table, "max_groups", path, 100)
        if (
            len(self.file.problems) > before
            or name is None
            or matcher is None
            or every is None
        ):
            return None
        return DigestRule(
            name=name,
            index=index,
            line=self.line(path),
            matcher=matcher,
            every=every,
            zone_name=zone_name,
            zone=zone,
            group_by=group_by,
            measures=measures,
            to=to,
            mention=mention,
            embed=embed,
            top=top,
            grace=grace,
            max_groups=max_groups,
            fingerprint=fingerprint(spec),
        )

    def _every(self, data: Any, path: KeyPath) -> float | None:
        seconds = self.duration(data, path)
        if seconds is None:
            return None
        problem = check_every(seconds)
        if problem is not None:
            self.problem(path, f"{shown(data)} {problem}")
            return None
        return seconds
