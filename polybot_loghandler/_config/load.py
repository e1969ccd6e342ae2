"""
Reading a routing file: the file, its YAML, its top level, its problems.

``load_config`` reads the file (bounded, UTF-8), ``parse_config`` the
YAML, and the top level hands each section to its checker. Every problem
is reported with the file, the line and the key path
(``routing.yaml:14: routes[2].match.level: ...``), all of them at once,
in file order, so a person can fix a file in one pass. Nothing from
PyYAML or Jinja2 reaches the user as a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from polybot_loghandler._lookup import resolve_routing
from polybot_loghandler._model import Config
from polybot_loghandler._yaml import MAX_CHARS, load_yaml
from polybot_loghandler.exceptions import ConfigError

from .bot import BotChecker
from .channels import ChannelChecker
from .checker import Checker, RoutingFile
from .commands import CommandsChecker
from .delivery import DeliveryChecker
from .routes import RouteChecker
from .state import StateChecker
from .watching import WatchingChecker
from .words import shown

__all__ = ["MAX_PROBLEMS", "load_config", "parse_config"]

SUPPORTED_VERSIONS = (1,)

#: At most this many problems are listed (a file that is not a routing
#: file at all could have thousands).
MAX_PROBLEMS = 100


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
    config = _FileChecker(file).config(data)
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


class _FileChecker(Checker):
    """
    Checks the top of a routing file: its keys, version and sections.

    Each section has its checker; channels go first, as delivery and
    routes name them.
    """

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
            (
                "version",
                "channels",
                "routes",
                "delivery",
                "watches",
                "digests",
                "state",
                "commands",
                "bot",
            ),
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
        routes = RouteChecker(self.file).routes(top.get("routes"), channels)
        watching = WatchingChecker(self.file, _route_names(top.get("routes")))
        watches = watching.watches(top.get("watches"), channels)
        digests = watching.digests(top.get("digests"), channels)
        state = StateChecker(self.file).state(top.get("state"))
        commands = CommandsChecker(self.file).commands(top.get("commands"))
        bot = BotChecker(self.file).bot(top.get("bot"))
        if self.file.problems:
            return None
        return Config(
            path=self.file.name,
            version=1,
            channels=channels,
            routes=tuple(routes),
            delivery=delivery,
            watches=tuple(watches),
            digests=tuple(digests),
            state=state,
            commands=tuple(commands),
            bot=bot,
            notes=tuple(self.file.notes),
            env_references=dict(self.file.references),
        )


def _route_names(routes: Any) -> dict[str, str]:
    """The routes' names, each with where (for names used twice)."""
    names: dict[str, str] = {}
    for index, spec in enumerate(routes if isinstance(routes, list) else []):
        name = spec.get("name") if isinstance(spec, dict) else None
        if isinstance(name, str) and name.strip():
            names.setdefault(name, f"routes[{index}]")
    return names
