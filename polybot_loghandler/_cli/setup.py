"""
``polybot-loghandler setup``: make a server's channels and webhooks.

They come from the routing file, and are made with the bot token.

Only what is missing is created: categories are matched by name, text
channels by name within their category, and each channel's webhook by
its name, ``Polybot``. Running it again creates nothing.

Each request has a total deadline (``_discord.REQUEST_DEADLINE``), and
set-up waits on Discord's rate limits only up to their caps
(``_ratelimit.CAPS``): past them, or on a redirect or an answer that is
not Discord's, it stops with a paragraph that says what to do.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import anyio
import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

from polybot_loghandler import _discord
from polybot_loghandler._discord import (
    API_BASE_ENV,
    BOT_TOKEN_ENV,
    DEFAULT_API_BASE,
)
from polybot_loghandler._discord import user_agent as _user_agent
from polybot_loghandler._format import counted
from polybot_loghandler._model import Channel, Config
from polybot_loghandler._pipeline import _version
from polybot_loghandler._ratelimit import CAPS, RateLimiter, Wait
from polybot_loghandler._retry import RetryPolicy
from polybot_loghandler._text import redact_text

from .usage import EXIT_OK, FILE_HELP, UsageError, load_routing

__all__ = [
    "SetupError",
    "SetupResult",
    "add_setup_parser",
    "run_setup",
    "write_env_file",
]

WEBHOOK_NAME = "Polybot"
GUILD_CATEGORY = 4
GUILD_TEXT = 0
MAX_TRIES = 5  # 429s in a row before setup gives up
#: Server errors, timeouts and lost connections are tried again, as
#: delivery does; setup gives up once its pauses would pass the budget
#: (about four tries: a person is waiting).
RETRY = RetryPolicy(base=0.5, cap=5.0, budget=8.0)
TIMEOUT = 15.0
PUBLIC_WEBHOOK_BASE = "https://discord.com/api/webhooks"
MANAGE_CHANNELS = "Manage Channels"
MANAGE_WEBHOOKS = "Manage Webhooks"
# Discord's JSON error codes set-up acts on
UNKNOWN_GUILD = 10004
MISSING_ACCESS = 50001
MISSING_PERMISSIONS = 50013
MAX_GUILD_CHANNELS = 30013
MAX_WEBHOOKS = 30007


class SetupError(Exception):
    """A problem a person can fix, told as one paragraph."""


def add_setup_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add ``setup`` to the command line."""
    setup = sub.add_parser(
        "setup",
        help="create the routing's categories, channels and webhooks in a "
        "server with the bot token from $DISCORD_BOT_TOKEN",
    )
    setup.add_argument(
        "--guild",
        required=True,
        type=_snowflake("server"),
        metavar="ID",
        help="the server's id (17 to 20 digits: Developer Mode, then "
        "right-click the server → Copy Server ID)",
    )
    setup.add_argument("--routing", help=FILE_HELP)
    setup.add_argument(
        "--out",
        help="write DISCORD_WEBHOOK_<KEY>=<url> lines to this file "
        "(mode 0600, replaced atomically)",
    )
    setup.add_argument(
        "--dry-run",
        action="store_true",
        help="show what would be created; change nothing",
    )
    setup.set_defaults(run=_setup)


def _snowflake(what: str) -> Callable[[str], str]:
    """An option type: a Discord id, else a usage error naming *what*."""

    def parse(value: str) -> str:
        value = value.strip()  # pasted with a space
        problem = _discord.snowflake_problem(value)
        if problem is not None:
            # a short number too: setup is about to act on it, and no
            # server of Discord's has such an id
            shown = repr(value) if len(value) <= 40 else f"{value[:40]!r}…"
            raise argparse.ArgumentTypeError(
                f"{shown} is not the id of a {what}: a Discord id is "
                f"{problem.rule} (with User Settings → Advanced → Developer "
                f"Mode on, right-click the {what} and choose Copy "
                f"{what.title()} ID)"
            )
        return value

    return parse


def _setup(args: argparse.Namespace) -> int:
    config = load_routing(args.routing)
    out = Path(args.out) if args.out else None
    if out is not None and not args.dry_run and not out.parent.is_dir():
        raise UsageError(f"--out: no such directory: {out.parent}")
    result = run_setup(
        config, args.guild, dry_run=args.dry_run, version=_version()
    )
    print(f"server {args.guild}, routing {config.path}:")
    describe(result, print, dry_run=args.dry_run)
    if args.dry_run:
        print("dry run: nothing was changed")
        return EXIT_OK
    lines = env_lines(result.webhooks)
    count = len(result.webhooks)
    if out is not None:
        write_env_file(out, lines)
        print(
            f"wrote {counted(count, 'DISCORD_WEBHOOK_* line')} to {out} "
            "(mode 0600); "
            f"load them with: set -a; . {_shell_path(out)}; set +a"
        )
    else:
        print(
            f"{counted(count, 'webhook URL')} "
            f"{'is' if count == 1 else 'are'} ready. A webhook URL holds a "
            "secret, so none is printed: run again with --out discord.env "
            "to write them as DISCORD_WEBHOOK_<KEY>=<url> lines to a file "
            "only you can read (nothing is created twice), then load them "
            "with: "
            "set -a; . ./discord.env; set +a"
        )
    return EXIT_OK


def _shell_path(path: Path) -> str:
    text = str(path)
    return text if "/" in text else f"./{text}"


@dataclass(slots=True)
class SetupResult:
    """
    What set-up did (or, in a dry run, would do).

    Attributes:
        created: Lines naming what was (or would be) created.
        found: How many categories, channels and webhooks already existed.
        left_alone: Names of the guild's channels the routing does not name.
        webhooks: Channel key → webhook URL, in routing order.
    """

    created: list[str] = field(default_factory=list)
    found: dict[str, int] = field(default_factory=dict)
    left_alone: list[str] = field(default_factory=list)
    webhooks: dict[str, str] = field(default_factory=dict)


class _Http:
    """
    Blocking requests, each within a total deadline.

    httpx's timeouts are per read: an answer trickled a byte at a time
    would never end. The requests run on a private event loop, where a
    deadline can cut one short.
    """

    def __init__(
        self, portal: BlockingPortal, client: httpx.AsyncClient
    ) -> None:
        self._portal = portal
        self._client = client

    def request(
        self, method: str, url: str, *, json: dict[str, Any] | None = None
    ) -> httpx.Response:
        """
        Make one request; its answer, read in full.

        Raises:
            TimeoutError: No complete answer within the deadline.
            httpx.HTTPError: No answer.
        """
        response: httpx.Response = self._portal.call(
            self._request, method, url, json
        )
        return response

    async def _request(
        self, method: str, url: str, body: dict[str, Any] | None
    ) -> httpx.Response:
        with anyio.fail_after(_discord.REQUEST_DEADLINE):
            return await self._client.request(method, url, json=body)


class _Transient(Exception):  # noqa: N818 - not an error the user sees
    """A failure worth another try; *error* is what to say if none helps."""

    def __init__(self, error: SetupError) -> None:
        super().__init__(str(error))
        self.error = error


class _Api:
    """
    Bot-token requests, waiting on Discord's rate limits.

    Server errors, timeouts and lost connections are tried again with the
    library's :class:`RetryPolicy`; other refusals are told at once.
    """

    def __init__(self, client: _Http, base: str) -> None:
        self._client = client
        self._base = base
        self._limiter = RateLimiter()
        self._sent = 0

    def call(  # noqa: PLR0913 - one request's description, keyword-only
        self,
        method: str,
        path: str,
        key: str,
        *,
        doing: str,
        permission: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        limited = failures = 0
        waited = 0.0
        while limited < MAX_TRIES:
            # set-up calls are not messages: Discord's per-channel message
            # limit does not apply, so each request is its own "channel"
            self._sent += 1
            lane = f"setup:{self._sent}"
            _wait(self._limiter.wait(key, lane, time.monotonic()), doing)
            self._limiter.sending(key, lane, time.monotonic())
            try:
                response = self._request(method, path, body, doing)
            except _Transient as failed:
                failures += 1
                pause = RETRY.pause(failures)
                if RETRY.gives_up(waited + pause):
                    raise failed.error from None
                time.sleep(pause)
                waited += pause
                continue
            headers = {k.lower(): v for k, v in response.headers.items()}
            data = _json(response)
            if response.status_code == 429:
                # the limiter holds the pause: the next try waits it out,
                # or gives up on it past its cap
                limited += 1
                self._limiter.too_many(key, headers, data, time.monotonic())
                continue
            self._limiter.update(key, headers, time.monotonic())
            if 300 <= response.status_code < 400:
                raise SetupError(
                    f"Discord's answer to the request to {doing} was a "
                    f"redirect ({response.status_code}), which setup does "
                    "not follow: it would take the bot token elsewhere. "
                    f"Check {API_BASE_ENV} (unset, it is "
                    f"{DEFAULT_API_BASE}), then run setup again."
                )
            if response.is_success and not isinstance(data, (dict, list)):
                raise SetupError(
                    f"The answer to the request to {doing} was not "
                    f"Discord's ({response.status_code}, not JSON): is a "
                    f"proxy in the way, or {API_BASE_ENV} wrong? Check it, "
                    "then run setup again."
                )
            if response.is_success:
                return data
            raise _refusal(response.status_code, data, doing, permission)
        raise SetupError(
            f"Discord kept answering 429 (rate limited) while trying to "
            f"{doing}. Wait a minute, then run setup again."
        )

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None, doing: str
    ) -> httpx.Response:
        try:
            response = self._client.request(
                method, self._base + path, json=body
            )
        except TimeoutError:
            raise _Transient(
                SetupError(
                    f"Discord did not answer the request to {doing} within "
                    f"{_discord.REQUEST_DEADLINE:g}s. Check the network (and "
                    f"{API_BASE_ENV}, if set), then run setup again."
                )
            ) from None
        except httpx.HTTPError as exc:
            raise _Transient(
                SetupError(
                    f"Could not reach Discord to {doing}: "
                    f"{redact_text(type(exc).__name__)} "
                    f"({redact_text(str(exc))}). Check the network (and "
                    f"{API_BASE_ENV}, if set), then run setup again."
                )
            ) from None
        if response.status_code >= 500 or response.status_code == 408:
            # Discord's trouble, not the request's: worth another try
            error = _refusal(
                response.status_code, _json(response), doing, None
            )
            raise _Transient(error)
        return response


def _wait(wait: Wait, doing: str) -> None:
    """
    Sleep out a rate limit, or give up on one past its cap.

    Never sooner than Discord said (early tries draw more 429s, and
    those count toward a ban), and never for longer than the cap.
    """
    if wait.excessive:
        until = time.strftime(
            "%H:%M UTC", time.gmtime(time.time() + min(wait.seconds, 1e9))
        )
        what = {
            "bucket": "a rate limit",
            "global": "a global rate limit",
            "cloudflare": "a Cloudflare block of this address",
        }.get(wait.scope, "a rate limit")
        span = (
            f"{wait.seconds / 3600:,.0f} hours"
            if wait.seconds >= 7200
            else f"{wait.seconds:,.0f}s"
        )
        raise SetupError(
            f"Discord asked setup to wait {span} ({what}) before it may "
            f"{doing}, longer than the {CAPS[wait.scope]:g}s setup waits. "
            f"Nothing more was changed; run setup again later"
            f"{f' (after {until})' if wait.seconds < 86400 else ''}: "
            "what exists already is kept."
        )
    if wait.seconds > 0:
        time.sleep(wait.seconds)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _refusal(
    status: int, data: Any, doing: str, permission: str | None
) -> SetupError:
    body = data if isinstance(data, dict) else {}
    code = body.get("code")
    said = redact_text(str(body.get("message", "")))[:200]
    answer = f"{status}{f', code {code}' if code else ''}: {said}"
    if status == 401:
        text = (
            f"Discord did not accept the bot token in {BOT_TOKEN_ENV} "
            f"(401 Unauthorized). Copy the token again from the Developer "
            "Portal (Application → Bot → Reset Token), export it, and run "
            "setup again."
        )
    elif code == UNKNOWN_GUILD or (status == 404 and "guild" in doing):
        text = (
            "Discord knows no server with that id, or the bot is not in it "
            f"({answer}). Check --guild (Developer Mode → right-click the "
            "server → Copy Server ID) and invite the bot with the URL in "
            "docs/setup.md."
        )
    elif status == 403 and permission is not None:
        text = (
            f"Discord refused to {doing}: the bot lacks the {permission} "
            f"permission ({answer}). Give the bot's role {permission} in "
            "Server Settings → Roles (or invite it again with the URL in "
            "docs/setup.md), then run setup again."
        )
    elif status == 403:
        text = (
            f"Discord refused to {doing} ({answer}): the bot cannot see "
            "that server or channel. Invite the bot with the URL in "
            "docs/setup.md, then run setup again."
        )
    elif status >= 500 or status == 408:
        text = (
            f"Discord could not {doing} ({answer}), and still could not "
            "after a few tries: the trouble is on Discord's side. Wait a "
            "few minutes (https://discordstatus.com), then run setup again: "
            "what exists already is kept."
        )
    elif code == MAX_GUILD_CHANNELS:
        text = (
            f"Could not {doing}: the server already has Discord's maximum "
            f"of 500 channels ({answer}). Delete channels it no longer "
            "needs, or use another server, then run setup again."
        )
    elif "CHANNEL_PARENT_MAX_CHANNELS" in str(data):
        text = (
            f"Could not {doing}: the category already holds Discord's "
            "maximum of 50 channels. Move some channels out of it, or give "
            "these channels another category in the routing file, then run "
            "setup again."
        )
    elif code == MAX_WEBHOOKS:
        text = (
            f"Could not {doing}: the channel already has Discord's maximum "
            f"of 15 webhooks ({answer}). Delete unused ones in Channel "
            "Settings → Integrations → Webhooks, then run setup again."
        )
    else:
        text = f"Discord refused to {doing} ({answer})."
    return SetupError(text)


class _Progress:
    """One updating line on a terminal's stderr; silent otherwise."""

    def __init__(self, stream: TextIO, total: int) -> None:
        self._stream = stream
        self._on = stream.isatty()
        self._total = total
        self._done = 0

    def step(self, what: str) -> None:
        self._done += 1
        if self._on:
            line = f"[{self._done}/{self._total}] {what}"[:78]
            self._stream.write(f"\r\033[K{line}")
            self._stream.flush()

    def end(self) -> None:
        if self._on:
            self._stream.write("\r\033[K")
            self._stream.flush()


@contextmanager
def _client(version: str) -> Iterator[_Http]:
    token = os.environ.get(BOT_TOKEN_ENV, "").strip()
    if not token:
        raise SetupError(
            f"{BOT_TOKEN_ENV} is not set. setup reads the bot token only "
            "from the environment, never from the command line: copy it "
            "from the Developer Portal (Application → Bot → Reset Token), "
            f"then `export {BOT_TOKEN_ENV}=...` and run setup again."
        )
    headers = {
        "Authorization": f"Bot {token}",
        "User-Agent": _user_agent(version),
    }
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(
            httpx.AsyncClient(
                headers=headers, timeout=TIMEOUT, follow_redirects=False
            )
        ) as client,
    ):
        yield _Http(portal, client)


def run_setup(
    config: Config,
    guild_id: str,
    *,
    dry_run: bool = False,
    version: str = "0",
    progress: TextIO | None = None,
) -> SetupResult:
    """
    Create what the routing needs in guild *guild_id*; see the module.

    Raises:
        SetupError: A problem to report to a person (bad token, missing
            permission, unknown guild, a Discord limit).
    """
    base = (os.environ.get(API_BASE_ENV) or DEFAULT_API_BASE).rstrip("/")
    with _client(version) as client:
        api = _Api(client, base)
        return _Setup(api, config, guild_id, dry_run=dry_run).run(
            _Progress(progress or sys.stderr, len(config.channels))
        )


class _Setup:
    def __init__(
        self, api: _Api, config: Config, guild_id: str, *, dry_run: bool
    ) -> None:
        self.api = api
        self.config = config
        self.guild = guild_id
        self.dry_run = dry_run
        self.result = SetupResult()
        self.found = self.result.found
        self._ids = 0

    def _count(self, what: str) -> None:
        self.found[what] = self.found.get(what, 0) + 1

    def _planned(self) -> str:
        self._ids += 1
        return f"(new {self._ids})"

    def run(self, progress: _Progress) -> SetupResult:
        existing = self.api.call(
            "GET",
            f"/guilds/{self.guild}/channels",
            f"GET /guilds/channels:{self.guild}",
            doing=f"list the channels of server {self.guild}",
        )
        channels = [c for c in existing or [] if isinstance(c, dict)]
        categories = self._categories(channels)
        used: set[str] = set(categories.values())
        try:
            for channel in self.config.channels.values():
                progress.step(f"#{channel.name}")
                parent = (
                    categories[channel.category] if channel.category else None
                )
                channel_id = self._channel(channel, parent, channels)
                used.add(channel_id)
                self._webhook(channel, channel_id)
        finally:
            progress.end()
        self.result.left_alone = [
            str(c.get("name"))
            for c in channels
            if c.get("id") not in used and c.get("type") != GUILD_CATEGORY
        ]
        return self.result

    def _create(
        self, body: dict[str, Any], doing: str
    ) -> dict[str, Any] | None:
        self.result.created.append(doing)
        if self.dry_run:
            return None
        made = self.api.call(
            "POST",
            f"/guilds/{self.guild}/channels",
            f"POST /guilds/channels:{self.guild}",
            doing=doing,
            permission=MANAGE_CHANNELS,
            body=body,
        )
        if not isinstance(made, dict) or "id" not in made:
            raise SetupError(
                f"The answer to the request to {doing} was not Discord's "
                f"(no channel in it): is a proxy in the way, or "
                f"{API_BASE_ENV} wrong? Check it, then run setup again."
            )
        return made

    def _categories(self, channels: list[dict[str, Any]]) -> dict[str, str]:
        ids: dict[str, str] = {}
        for name in dict.fromkeys(
            c.category for c in self.config.channels.values() if c.category
        ):
            found = next(
                (
                    c
                    for c in channels
                    if c.get("type") == GUILD_CATEGORY
                    and c.get("name") == name
                ),
                None,
            )
            if found is not None:
                self._count("categories")
                ids[name] = str(found["id"])
                continue
            made = self._create(
                {"name": name, "type": GUILD_CATEGORY},
                f"create category {name}",
            )
            ids[name] = str(made["id"]) if made else self._planned()
        return ids

    def _channel(
        self,
        channel: Channel,
        parent: str | None,
        channels: list[dict[str, Any]],
    ) -> str:
        found = next(
            (
                c
                for c in channels
                if c.get("type") == GUILD_TEXT
                and c.get("name") == channel.name
                and c.get("parent_id") == parent
            ),
            None,
        )
        if found is not None:
            self._count("channels")
            return str(found["id"])
        body: dict[str, Any] = {"name": channel.name, "type": GUILD_TEXT}
        if parent is not None:
            body["parent_id"] = parent
        if channel.topic:
            body["topic"] = channel.topic
        where = f" in {channel.category}" if channel.category else ""
        made = self._create(body, f"create channel #{channel.name}{where}")
        return str(made["id"]) if made else self._planned()

    def _webhook(self, channel: Channel, channel_id: str) -> None:
        doing = f"create the webhook of #{channel.name}"
        if channel_id.startswith("(new"):
            self.result.created.append(doing)
            return
        hooks = self.api.call(
            "GET",
            f"/channels/{channel_id}/webhooks",
            f"GET /channels/webhooks:{channel_id}",
            doing=f"list the webhooks of #{channel.name}",
            permission=MANAGE_WEBHOOKS,
        )
        found = next(
            (
                h
                for h in hooks or []
                if isinstance(h, dict)
                and h.get("name") == WEBHOOK_NAME
                and h.get("token")
            ),
            None,
        )
        if found is not None:
            self._count("webhooks")
        else:
            self.result.created.append(doing)
            if self.dry_run:
                return
            found = self.api.call(
                "POST",
                f"/channels/{channel_id}/webhooks",
                f"POST /channels/webhooks:{channel_id}",
                doing=doing,
                permission=MANAGE_WEBHOOKS,
                body={"name": WEBHOOK_NAME},
            )
            if not isinstance(found, dict) or not (
                found.get("url") or ("id" in found and "token" in found)
            ):
                raise SetupError(
                    f"The answer to the request to {doing} was not "
                    f"Discord's (no webhook in it): is a proxy in the way, "
                    f"or {API_BASE_ENV} wrong? Check it, then run setup "
                    "again."
                )
        self.result.webhooks[channel.key] = _webhook_url(found)


def _webhook_url(hook: dict[str, Any]) -> str:
    url = hook.get("url")
    if isinstance(url, str) and url:
        return url
    return f"{PUBLIC_WEBHOOK_BASE}/{hook['id']}/{hook['token']}"


def env_lines(webhooks: dict[str, str]) -> str:
    """The ``DISCORD_WEBHOOK_<KEY>=<url>`` lines, in routing order."""
    return "".join(
        f"DISCORD_WEBHOOK_{key.upper()}={url}\n"
        for key, url in webhooks.items()
    )


def write_env_file(path: Path, text: str) -> None:
    """
    Replace *path* with *text* atomically, readable only by its owner.

    The temporary file is made in the same directory (mode 0600 from the
    start), so ``os.replace`` never crosses file systems and no reader
    ever sees half a file or a moment of wider permissions.
    """
    directory = path.parent if str(path.parent) else Path()
    fd, temp = tempfile.mkstemp(
        dir=directory, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        Path(temp).chmod(0o600)
        Path(temp).replace(path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def describe(
    result: SetupResult, out: Callable[[str], None], *, dry_run: bool
) -> None:
    """Report what was created, found and left alone."""
    verb = "would create" if dry_run else "created"
    for line in result.created:
        out(f"  {'would ' if dry_run else ''}{line}")
    kinds = ("categories", "channels", "webhooks")
    made = {
        k: sum(
            1
            for line in result.created
            if line.startswith(
                {
                    "categories": "create category",
                    "channels": "create channel",
                    "webhooks": "create the webhook",
                }[k]
            )
        )
        for k in kinds
    }
    one = {
        "categories": "category",
        "channels": "channel",
        "webhooks": "webhook",
    }
    out(
        f"{verb}: "
        + ", ".join(counted(made[k], one[k], k) for k in kinds)
        + "; already there: "
        + ", ".join(counted(result.found.get(k, 0), one[k], k) for k in kinds)
    )
    if result.left_alone:
        out(
            f"left alone: {counted(len(result.left_alone), 'channel')} "
            "the routing "
            f"does not name ({', '.join(result.left_alone[:10])}"
            f"{', ...' if len(result.left_alone) > 10 else ''})"
        )
