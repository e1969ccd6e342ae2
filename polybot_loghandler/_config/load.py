"""
routing.yaml → validated, frozen configuration (the objects of ``_model``).

Every problem is reported with the file, the line and the key path
(``routing.yaml:14: routes[2].match.level: ...``), all of them at once, so
a person can fix a file in one pass. Nothing from PyYAML or Jinja2 reaches
the user as a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from polybot_loghandler._lookup import resolve_routing
from polybot_loghandler._model import (
    Channel,
    Coalesce,
    Config,
    Mention,
    Route,
)
from polybot_loghandler._templates import (
    Text,
    is_template,
)
from polybot_loghandler._yaml import (
    MAX_CHARS,
    KeyPath,
    load_yaml,
)
from polybot_loghandler.exceptions import ConfigError

from .channels import SNOWFLAKE, ChannelChecker
from .checker import Checker, RoutingFile
from .delivery import DeliveryChecker
from .embeds import EmbedChecker
from .match import MatchChecker
from .words import (
    kind_of,
    shown,
)

__all__ = ["MAX_PROBLEMS", "load_config", "parse_config"]

SUPPORTED_VERSIONS = (1,)

#: At most this many problems are listed (a file that is not a routing
#: file at all could have thousands).
MAX_PROBLEMS = 100


# -- loading ----------------------------------------------------------------


def load_config(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """
    Load and validate a routing file.

    Args:
        path: The routing file; ``None`` finds it as ``DiscordHandler()``
            does: ``$POLYBOT_ROUTING``, else ``./routing.yaml``, else the
            shipped Polybot routing.
        environ: Variables for ``${VAR}``; defaults to ``os.environ``.

    Raises:
        ConfigError: The file cannot be read or is not valid; the message
            lists every problem with its line and key path.

    .. versionadded:: 0.1.0
    """
    path = resolve_routing(path)
    name = str(path)
    try:
        with Path(path).open("rb") as file:
            # read no more than a routing file may hold, whatever the
            # path names (a huge file, a device that never ends)
            data = file.read(MAX_CHARS + 1)
    except OSError as exc:
        raise ConfigError(
            f"{name}:0: cannot read the routing file: {exc.strerror or exc}"
        ) from None
    if len(data) > MAX_CHARS:
        raise ConfigError(
            f"{name}:0: the file is larger than {MAX_CHARS:,} bytes, the "
            "most a routing file may hold (is this the routing file?)"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{name}:0: the routing file is not UTF-8 text ({exc.reason})"
        ) from None
    return parse_config(text, name, environ)


def parse_config(
    text: str,
    filename: str = "<string>",
    environ: Mapping[str, str] | None = None,
) -> Config:
    """
    Validate routing YAML given as text; see :func:`load_config`.

    Raises:
        ConfigError: The text is not a valid routing file.
    """
    data, lines = load_yaml(text, filename)
    file = RoutingFile(
        filename, lines, os.environ if environ is None else environ
    )
    config = _Checker(file).config(data)
    if file.problems or config is None:
        # in file order, as a person reads the file
        ordered = sorted(file.problems, key=lambda p: p[0])
        listed = [message for _, message in ordered[:MAX_PROBLEMS]]
        if len(ordered) > MAX_PROBLEMS:
            listed.append(
                f"{filename}: and {len(ordered) - MAX_PROBLEMS:,} more "
                "problems (fix these first)"
            )
        raise ConfigError(listed)
    return config


class _Checker(Checker):
    """Walks the YAML data, collecting every problem with its location."""

    def __init__(self, file: RoutingFile) -> None:
        super().__init__(file)
        self.match = MatchChecker(file)
        self.embeds = EmbedChecker(file)

    # -- top level

    def config(self, data: Any) -> Config | None:
        if data is None:
            self.problem(
                (),
                "the routing file is empty (it needs version, "
                "channels and routes)",
            )
            return None
        top = self.mapping(data, (), "the routing file")
        if top is None:
            return None
        self.keys(
            top,
            (),
            ("version", "channels", "routes", "delivery"),
            required=("version", "channels", "routes"),
        )
        version = top.get("version")
        if "version" in top and version not in SUPPORTED_VERSIONS:
            self.problem(
                ("version",),
                f"unsupported version {shown(version)} "
                "(this library reads version: 1)",
            )
        channels = ChannelChecker(self.file).channels(top.get("channels"))
        delivery = DeliveryChecker(self.file).delivery(
            top.get("delivery", {}), channels
        )
        routes = self.routes(top.get("routes"), channels)
        if self.file.problems:
            return None
        return Config(
            path=self.file.name,
            version=1,
            channels=channels,
            routes=tuple(routes),
            delivery=delivery,
            notes=tuple(self.file.notes),
            env_references=dict(self.file.references),
        )

    # -- routes

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
            self.note(
                path, f"{shown(text)} is empty, so this route pings no one"
            )
            return None
        if value in ("everyone", "here"):
            return Mention(kind=value)
        kind, _, ident = value.partition(":")
        if kind in ("role", "user") and _:
            if not ident:
                self.note(
                    path, f"{shown(text)} is empty, so this route pings no one"
                )
                return None
            if SNOWFLAKE.match(ident):
                return Mention(kind=kind, id=ident)
            self.problem(path, f"a {kind} id is a number, not {shown(text)}")
            return None
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
            items = (
                table["by"] if isinstance(table["by"], list) else [table["by"]]
            )
            if all(isinstance(i, str) and i for i in items) and items:
                by = tuple(items)
            else:
                self.problem((*path, "by"), "'by' takes a list of field names")
        window = None
        if "window" in table:
            window = self.duration(table["window"], (*path, "window"))
        return Coalesce(enabled=True, by=by, window=window)
