"""
``routes:``: which messages go where, tried in order, each route checked.

A route names its channels (``to:``), and may add a ``match:``, a
``mention:``, ``coalesce:``, an ``embed:``, a ``max_lag:``, a
``fold:``, a ``board:``, a ``thread:`` or ``thread_id:`` and an
``identity:``; the match, the embed, the folding and the place have
checkers of their own (``match``, ``embeds``, ``fold``, ``places``). A
route with a problem is not made, but the routes after it are still
checked, so every problem of the file is told at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from polybot_loghandler._model import Channel, Coalesce, Mention, Route
from polybot_loghandler._templates import Text, is_template
from polybot_loghandler._yaml import KeyPath

from .checker import Checker, RoutingFile
from .embeds import EmbedChecker
from .fold import FoldChecker
from .match import MatchChecker
from .places import PLACE_KEYS, PlaceChecker
from .words import kind_of, shown


class RouteChecker(Checker):
    """Checks ``routes:`` and makes each route."""

    def __init__(self, file: RoutingFile) -> None:
        super().__init__(file)
        self.match = MatchChecker(file)
        self.embeds = EmbedChecker(file)
        self.folds = FoldChecker(file)
        self.places = PlaceChecker(file)

    def routes(
        self, data: Any, channels: Mapping[str, Channel]
    ) -> list[Route]:
        path: KeyPath = ("routes",)
        if data is None:
            return []
        if not isinstance(data, list):
            self.problem(path, f"routes must be a list, not {kind_of(data)}")
            return []
        out: list[Route] = []
        seen: dict[str, int] = {}
        for index, spec in enumerate(data):
            name = spec.get("name") if isinstance(spec, dict) else None
            if isinstance(name, str) and name in seen:
                # checked before the rest, so it is reported beside any
                # other problem of either route
                self.problem(
                    (*path, index, "name"),
                    f"duplicate route name '{name}' (first used by "
                    f"routes[{seen[name]}]; names must be unique)",
                )
            elif isinstance(name, str) and name:
                seen[name] = index
            route = self.route(spec, index, channels)
            if route is not None:
                out.append(route)
        return out

    def route(
        self, spec: Any, index: int, channels: Mapping[str, Channel]
    ) -> Route | None:
        path: KeyPath = ("routes", index)
        table = self.mapping(spec, path, "a route")
        if table is None:
            return None
        before = len(self.file.problems)
        self.keys(
            table,
            path,
            (
                "name",
                "match",
                "to",
                "continue",
                "mention",
                "coalesce",
                "embed",
                "max_lag",
                "fold",
                *PLACE_KEYS,
            ),
            required=("name", "to"),
        )
        name = self.string(table.get("name", ""), (*path, "name"), "name")
        if name is not None and "name" in table and not name.strip():
            self.problem((*path, "name"), "a route name must not be empty")
        matcher = self.match.matcher(table.get("match", {}), (*path, "match"))
        to = (
            self.targets(table["to"], (*path, "to"), channels)
            if "to" in table
            else ()  # already reported as a missing key
        )
        cont = table.get("continue", False)
        if not isinstance(cont, bool):
            self.problem(
                (*path, "continue"),
                f"must be true or false, not {shown(cont)}",
            )
        mention = self.mention(table.get("mention"), (*path, "mention"))
        coalesce = self.coalesce(
            table.get("coalesce")
            if table.get("coalesce") is not None
            else True,
            (*path, "coalesce"),
        )
        embed = self.embeds.embed(table.get("embed"), (*path, "embed"))
        fold = self.folds.fold(table, path)
        places = self.places.places(table, path, channels)
        if len(self.file.problems) > before or matcher is None or not name:
            return None
        return Route(
            name=name,
            index=index,
            line=self.line(path),
            matcher=matcher,
            to=to,
            continue_=bool(cont),
            mention=mention,
            coalesce=coalesce,
            embed=embed,
            fold=fold,
            board=places.board,
            thread=places.thread,
            thread_id=places.thread_id,
            identity=places.identity,
        )

    def targets(
        self, data: Any, path: KeyPath, channels: Mapping[str, Channel]
    ) -> tuple[Text, ...]:
        items = data if isinstance(data, list) else [data]
        if data is None or not items:
            self.problem(path, "name at least one channel")
            return ()
        out: list[Text] = []
        for n, item in enumerate(items):
            where = (*path, n) if isinstance(data, list) else path
            text = self.template(item, where, mode="raw")
            if text is None:
                continue
            if not is_template(text.source):
                self.channel_key(text.source, where, channels)
            out.append(text)
        return tuple(out)

    def mention(  # noqa: PLR0911 - one exit per mention form
        self, data: Any, path: KeyPath
    ) -> Mention | None:
        if data is None or data is False:
            return None
        text = self.string(data, path, "mention")
        if text is None:
            return None
        value = self.env(text, path)
        if value is None:
            return None
        if not value:
            self.note(path, f"{shown(text)} is empty, so {_pinger(path)}")
            return None
        if value in ("everyone", "here"):
            return Mention(kind=value)
        kind, _, ident = value.partition(":")
        if kind in ("role", "user") and _:
            if not ident:
                self.note(path, f"{shown(text)} is empty, so {_pinger(path)}")
                return None
            found = self.discord_id(ident, path, kind, text)
            return None if found is None else Mention(kind=kind, id=found)
        self.problem(
            path,
            f"unknown mention {shown(text)} (use everyone, here, "
            "role:ID or user:ID)",
        )
        return None

    def coalesce(self, data: Any, path: KeyPath) -> Coalesce:
        if isinstance(data, bool):
            return Coalesce(enabled=data)
        table = self.mapping(
            data, path, "coalesce (false, true or {by: [...], window: ...})"
        )
        if table is None:
            return Coalesce()
        self.keys(table, path, ("by", "window"))
        by: tuple[str, ...] | None = None
        if "by" in table:
            names = table["by"]
            by = self.field_names(
                names if isinstance(names, list) else [names],  # one name
                (*path, "by"),
                "by",
                at_least_one=True,
            )
        window = None
        if "window" in table:
            window = self.duration(table["window"], (*path, "window"))
        return Coalesce(enabled=True, by=by, window=window)


def _pinger(path: KeyPath) -> str:
    """Who pings no one for an empty mention at *path*: the rule's kind."""
    return {
        "watches": "this watch's alerts ping no one",
        "digests": "this digest pings no one",
    }.get(str(path[0]), "this route pings no one")
