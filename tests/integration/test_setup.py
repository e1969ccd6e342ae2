"""
Tests for ``polybot-loghandler setup`` and ``send-test`` against the fake.
"""

from __future__ import annotations

import io
import json
import math
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock

from fakes.discord import FakeDiscord
from polybot_loghandler import _discord
from polybot_loghandler._cli import botapi, guild, main, sendtest
from polybot_loghandler._cli.setup import write_env_file
from polybot_loghandler._config import load_config
from polybot_loghandler._model import (
    BotChannelDestination,
    Channel,
    WebhookDestination,
)
from polybot_loghandler._retry import RetryPolicy

GUILD = "400000000000000000"
BOT_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.SeCrEtBoTtOkEnForSetupTests0123"
CATEGORIES = 9
CHANNELS = 37
#: The shipped routing's forum channels (type: forum), as Discord names.
FORUMS = {
    "alerts-critical",
    "agent-momentum",
    "agent-mean-reversion",
    "agent-volume",
}
EXIT_USER_ERROR = 2


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDiscord]:
    """A fake with an empty guild, the bot token and API base in the env."""
    with FakeDiscord(rate_limit=None, bot_token=BOT_TOKEN) as fake:
        fake.add_guild(GUILD)
        monkeypatch.setenv("DISCORD_BOT_TOKEN", BOT_TOKEN)
        monkeypatch.setenv("DISCORD_API_BASE", fake.api_base)
        monkeypatch.delenv("POLYBOT_ROUTING", raising=False)
        monkeypatch.delenv("DISCORD_WEBHOOK_URL", raising=False)
        monkeypatch.chdir(Path(__file__).parent)  # no routing.yaml here
        yield fake
    assert [] == fake.server_errors


def _setup(*extra: str) -> int:
    return main(["setup", "--guild", GUILD, *extra])


def _load_env(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        monkeypatch.setenv(name, value)


@pytest.mark.slow
def test_setup_creates_everything_once(
    fake: FakeDiscord,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "discord.env"
    assert _setup("--out", str(out)) == 0
    channels = fake.guild_channels(GUILD)
    categories = {c["id"]: c["name"] for c in channels if c["type"] == 4}
    texts = [c for c in channels if c["type"] in (0, 15)]
    assert len(categories) == CATEGORIES
    assert len(texts) == CHANNELS
    assert FORUMS == {c["name"] for c in texts if c["type"] == 15}
    assert all(c["parent_id"] in categories for c in texts)
    by_name = {c["name"]: c for c in texts}
    assert categories[by_name["trades-paper"]["parent_id"]] == (
        "💰 TRADING ACTIVITY"
    )
    assert by_name["alerts-critical"]["topic"] == (
        "Critical alerts only, one post per incident"
    )
    hooks = [h for c in texts for h in fake.channel_webhooks(c["id"])]
    assert len(hooks) == CHANNELS
    assert {h["name"] for h in hooks} == {"Polybot"}
    first = out.read_text()
    lines = first.splitlines()
    assert len(lines) == CHANNELS
    assert lines[0].startswith("DISCORD_WEBHOOK_SYSTEM_HEALTH=http://")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    printed = capsys.readouterr()
    assert BOT_TOKEN not in printed.out + printed.err
    assert all(h["token"] not in printed.out for h in hooks)
    assert "created: 9 categories, 37 channels, 37 webhooks" in printed.out

    requests = len(fake.requests)
    assert _setup("--out", str(out)) == 0
    again = capsys.readouterr().out
    assert "created: 0 categories, 0 channels, 0 webhooks" in again
    assert "already there: 9 categories, 37 channels, 37 webhooks" in again
    assert not [r for r in fake.requests[requests:] if r.method == "POST"]
    assert out.read_text() == first
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["discord.env"]

    _load_env(out, monkeypatch)
    assert main(["send-test", "--all"]) == 0
    report = capsys.readouterr().out
    assert report.count("delivered") >= CHANNELS
    assert "37 of 37 channels delivered" in report
    assert len(fake.messages) == CHANNELS
    # a forum's goes into a post of its own, in that forum
    assert {m.parent_id or m.channel_id for m in fake.messages} == {
        c["id"] for c in texts
    }
    forums = {c["id"] for c in texts if c["type"] == 15}
    assert forums == {m.parent_id for m in fake.messages if m.parent_id}
    assert all(h["token"] not in report for h in hooks)


@pytest.mark.slow
def test_setup_without_out_prints_no_secrets(
    fake: FakeDiscord, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _setup() == 0
    printed = capsys.readouterr().out
    assert "--out" in printed
    assert "set -a" in printed
    assert "/api/webhooks/" not in printed
    assert BOT_TOKEN not in printed


@pytest.mark.slow
def test_dry_run_changes_nothing(
    fake: FakeDiscord, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "discord.env"
    assert _setup("--dry-run", "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert "would create: 9 categories, 37 channels, 37 webhooks" in printed
    assert "nothing was changed" in printed
    assert fake.guild_channels(GUILD) == []
    assert not [r for r in fake.requests if r.method == "POST"]
    assert not out.exists()


@pytest.mark.slow
def test_missing_manage_webhooks_is_one_paragraph(
    fake: FakeDiscord, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.deny("MANAGE_WEBHOOKS")
    assert _setup() == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "Manage Webhooks" in err
    assert "Traceback" not in err
    assert err.strip().count("\n") == 0
    assert BOT_TOKEN not in err


@pytest.mark.slow
def test_missing_manage_channels_names_it(
    fake: FakeDiscord, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.deny("MANAGE_CHANNELS")
    assert _setup() == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "Manage Channels" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_bad_token(
    fake: FakeDiscord,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.WrOnGbOtToKeNfOrSeTuPtEsTs0123"
    monkeypatch.setenv("DISCORD_BOT_TOKEN", wrong)
    assert _setup() == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "401" in err
    assert "DISCORD_BOT_TOKEN" in err
    assert wrong not in err
    assert "Traceback" not in err


def test_missing_token(
    fake: FakeDiscord,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DISCORD_BOT_TOKEN")
    assert _setup() == EXIT_USER_ERROR
    assert "DISCORD_BOT_TOKEN is not set" in capsys.readouterr().err
    assert fake.requests == []


@pytest.mark.slow
def test_unknown_guild(
    fake: FakeDiscord, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["setup", "--guild", "999999999999999999"]) == 2
    err = capsys.readouterr().err
    assert "10004" in err
    assert "--guild" in err


@pytest.mark.parametrize(
    "guild",
    [
        pytest.param("abc", id="letters"),
        pytest.param("", id="empty"),
        pytest.param("4000", id="too-short"),
        pytest.param("1234567890123456", id="16-digits"),
        pytest.param("01234567890123456", id="leading-zero"),
        pytest.param("123456789012345678901", id="21-digits"),
        pytest.param("18446744073709551616", id="over-64-bits"),
        pytest.param("-12345678901234567", id="negative"),
        pytest.param("1234567890123456.0", id="decimal"),
        pytest.param("１２３４５６７８９０１２３４５６７８", id="fullwidth"),
        pytest.param("<#123456789012345678>", id="mention"),
    ],
)
def test_guild_must_be_a_discord_id(
    guild: str, fake: FakeDiscord, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --guild that is not a Discord id stops setup before any request."""
    with pytest.raises(SystemExit) as info:
        main(["setup", "--guild", guild])

    err = capsys.readouterr().err
    assert EXIT_USER_ERROR == info.value.code
    assert f"argument --guild: {guild!r} is not the id of a server" in err
    assert "Copy Server ID" in err
    assert "Traceback" not in err
    assert [] == fake.requests


@pytest.mark.parametrize(
    "guild",
    [
        pytest.param("12345678901234567", id="17-digits"),
        pytest.param("18446744073709551615", id="largest"),
        pytest.param(" 123456789012345678 ", id="pasted-with-spaces"),
    ],
)
def test_guild_ids_accepted(
    guild: str, fake: FakeDiscord, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Discord id of any valid length reaches Discord, spaces trimmed."""
    status = main(["setup", "--guild", guild, "--dry-run"])

    err = capsys.readouterr().err
    assert EXIT_USER_ERROR == status  # the fake knows no such server
    assert "10004" in err
    assert [f"/api/v10/guilds/{guild.strip()}/channels"] == [
        r.path for r in fake.requests
    ][:1]


@pytest.mark.slow
def test_webhook_limit(
    fake: FakeDiscord, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.webhook_limit = 0
    assert _setup() == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "15 webhooks" in err


@pytest.mark.slow
def test_guild_full(
    fake: FakeDiscord, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.guild_channel_limit = 3
    assert _setup() == EXIT_USER_ERROR
    assert "500 channels" in capsys.readouterr().err


@pytest.mark.slow
def test_category_full(
    fake: FakeDiscord, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.category_limit = 1
    assert _setup() == EXIT_USER_ERROR
    assert "50 channels" in capsys.readouterr().err


@pytest.mark.slow
def test_send_test_reports_console_channels(
    fake: FakeDiscord, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["send-test", "--channel", "trades_paper"])
    assert code == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "trades_paper" in out
    assert "no destination, so it is shown above on the console" in out
    assert "0 of 1 channel delivered" == lines[-1]
    # the message itself, rendered as the console shows it
    assert lines[0].startswith("┌─ #trades-paper · ")
    assert "✅ polybot_loghandler test message" in out
    assert "Channel key: trades_paper" in out


@pytest.mark.slow
def test_send_test_reports_a_refused_webhook(
    fake: FakeDiscord,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake.set_token("777", "right")
    monkeypatch.setenv(
        "DISCORD_WEBHOOK_ADMIN", fake.webhook_url("777", "wrong")
    )
    assert main(["send-test", "--channel", "admin"]) == 1
    out = capsys.readouterr().out
    assert "refused the webhook" in out
    assert "wrong" not in out


@pytest.mark.slow
def test_send_test_unknown_channel(
    fake: FakeDiscord, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["send-test", "--channel", "nope"]) == EXIT_USER_ERROR
    assert "'nope'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("channels", "expected"),
    [
        pytest.param(
            ["trades_papr"],
            "no channel 'trades_papr' (did you mean 'trades_paper'?) in ",
            id="typo",
        ),
        pytest.param(
            ["admin", "Admin"],
            "no channel 'Admin' (did you mean 'admin'?) in ",
            id="case",
        ),
        pytest.param(["zzz"], "no channel 'zzz' in ", id="nothing-close"),
    ],
)
def test_send_test_unknown_channel_suggests(
    channels: list[str],
    expected: str,
    fake: FakeDiscord,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """
    An unknown channel key gets a did-you-mean, not the list of all keys.
    """
    args = [arg for key in channels for arg in ("--channel", key)]

    status = main(["send-test", *args])

    err = capsys.readouterr().err
    assert EXIT_USER_ERROR == status
    assert f"polybot-loghandler: --channel: {expected}" in err
    assert "lists its 37 channels" in err
    assert "system_health" not in err  # no dump of every key
    assert [] == fake.requests


@pytest.mark.parametrize(
    "names",
    [
        pytest.param(
            ("{{ 7*7 }}", "{% if true %}x{% endif %}"), id="template"
        ),
        pytest.param(("half {{ open", "{{"), id="unbalanced"),
        pytest.param(("{# note #}", "{%"), id="comment"),
    ],
)
def test_send_test_shows_names_as_written(
    names: tuple[str, str],
    fake: FakeDiscord,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """
    A channel's name and category are text, never templates: shown as
    written in the test message, with no traceback.
    """
    name, category = names
    fake.set_token("777", "right")
    monkeypatch.setenv("POLYBOT_TEST_HOOK", fake.webhook_url("777", "right"))
    routing = tmp_path / "routing.yaml"
    routing.write_text(
        "version: 1\n"
        "channels:\n"
        "  admin:\n"
        f"    name: {json.dumps(name)}\n"
        f"    category: {json.dumps(category)}\n"
        "    webhook: ${POLYBOT_TEST_HOOK}\n"
        "routes:\n"
        "  - name: r\n"
        "    to: admin\n",
        encoding="utf-8",
    )

    code = main(["send-test", "--routing", str(routing)])

    assert 0 == code, capsys.readouterr()
    [embed] = fake.embeds()
    assert f"#{name} in {category} receives" in embed["description"]
    assert "49" not in embed["description"]


# -- hostile answers: setup gives up with a paragraph, never hangs -----------

#: The longest single sleep a test allows setup (a hang guard, so the
#: test fails instead of sleeping for years).
LONGEST_SLEEP = 5.0


#: Setup's retry policy, quick: about three tries within 0.2 s of pauses.
QUICK_RETRY = RetryPolicy(base=0.05, cap=0.1, budget=0.2)


@pytest.mark.parametrize(
    ("failures", "status"),
    [
        pytest.param(1, 503, id="one-503"),
        pytest.param(2, 502, id="two-502"),
        pytest.param(2, 408, id="two-408"),
    ],
)
def test_setup_tries_again_after_a_server_error(
    fake: FakeDiscord,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    failures: int,
    status: int,
) -> None:
    """A passing server error costs a pause, not the set-up."""
    monkeypatch.setattr(botapi, "RETRY", QUICK_RETRY)
    fake.fail_with(status, times=failures)

    assert _setup() == 0
    statuses = [r.status for r in fake.requests]
    assert [status] * failures == statuses[:failures]
    assert "Traceback" not in capsys.readouterr().err


def test_setup_gives_up_on_a_server_error_that_lasts(
    fake: FakeDiscord,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past the policy's budget, the refusal is told and nothing else sent."""
    monkeypatch.setattr(botapi, "RETRY", QUICK_RETRY)
    slept: list[float] = []
    monkeypatch.setattr(
        "polybot_loghandler._cli.botapi.time.sleep", slept.append
    )
    fake.fail_with(503, times=1000)

    assert _setup() == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "503" in err
    assert "run setup again" in err
    assert 2 <= len(fake.requests) <= 5
    assert sum(slept) <= QUICK_RETRY.budget


@pytest.fixture
def guarded_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record setup's sleeps; one longer than LONGEST_SLEEP fails."""
    slept: list[float] = []
    real = time.sleep

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        assert seconds <= LONGEST_SLEEP, f"setup would sleep {seconds}s"
        real(seconds)

    monkeypatch.setattr("polybot_loghandler._cli.botapi.time.sleep", sleep)
    return slept


@pytest.mark.parametrize(
    ("arrange", "said"),
    [
        pytest.param(
            lambda f: f.rate_limited(1e9, header="1000000000"),
            "wait 277,778 hours (a rate limit)",
            id="retry-after-1e9",
        ),
        pytest.param(
            lambda f: f.rate_limited(math.inf, header="inf"),
            "(a rate limit)",
            id="retry-after-infinite",
        ),
        pytest.param(
            lambda f: f.rate_limited(1e9, is_global=True),
            "(a global rate limit)",
            id="global-1e9",
        ),
        pytest.param(
            lambda f: f.rate_limited(600.0),
            "wait 600s (a rate limit)",
            id="ten-minutes",
        ),
        pytest.param(
            lambda f: f.fail_with(
                429,
                times=1,
                body={"retry_after": 0.1, "global": False},
                headers={
                    "X-RateLimit-Scope": "user",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset-After": "1e9",
                },
            ),
            "(a rate limit)",
            id="reset-after-1e9",
        ),
        pytest.param(
            lambda f: f.redirect(301, "http://elsewhere.invalid/api"),
            "redirect (301)",
            id="redirect",
        ),
        pytest.param(
            lambda f: f.garbage(200, b"<html>proxy</html>"),
            "not Discord's (200, not JSON)",
            id="html-200",
        ),
        pytest.param(
            lambda f: f.garbage(200, b"[]", content_type="application/json"),
            "not Discord's (no channel in it)",
            id="json-but-not-a-channel",
        ),
        pytest.param(
            lambda f: f.slow_loris(),
            "did not answer the request to list the channels of server "
            f"{GUILD} within 0.5s",
            id="slow-loris",
        ),
    ],
)
@pytest.mark.slow
def test_setup_gives_up_on_a_hostile_answer(  # noqa: PLR0917 - fixtures
    arrange: Callable[[FakeDiscord], None],
    said: str,
    fake: FakeDiscord,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    guarded_sleep: list[float],
) -> None:
    """An answer that would hold setup for ever ends it with a paragraph."""
    monkeypatch.setattr(_discord, "REQUEST_DEADLINE", 0.5)
    monkeypatch.setattr(botapi, "RETRY", QUICK_RETRY)
    arrange(fake)
    assert _setup() == EXIT_USER_ERROR
    err = capsys.readouterr().err
    print(err)
    assert said in err
    assert "run setup again" in err
    assert "Traceback" not in err
    assert BOT_TOKEN not in err
    assert [] == [s for s in guarded_sleep if s > LONGEST_SLEEP]
    assert [] == [r for r in fake.requests if "elsewhere" in r.path]


@pytest.mark.parametrize(
    "retry_after",
    [
        pytest.param(-5, id="negative"),
        pytest.param(math.nan, id="nan"),
        pytest.param("soon", id="garbage"),
        pytest.param(None, id="null"),
        pytest.param(0.1, id="ordinary"),
    ],
)
@pytest.mark.slow
def test_setup_waits_out_an_odd_429(
    retry_after: Any,
    fake: FakeDiscord,
    guarded_sleep: list[float],
) -> None:
    """A 429 with an odd retry_after is waited briefly, then set-up goes on."""
    fake.rate_limited(retry_after, header=None, times=2)
    assert _setup() == 0
    assert 0 < len(guarded_sleep)
    assert all(0 <= s <= 1.1 for s in guarded_sleep)


@pytest.mark.slow
def test_send_test_retries_a_slow_answer(
    fake: FakeDiscord,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An answer past the deadline is abandoned and the message retried."""
    monkeypatch.setattr(_discord, "REQUEST_DEADLINE", 0.5)
    monkeypatch.setattr(sendtest, "TIMEOUT", 5.0)
    monkeypatch.setenv("DISCORD_WEBHOOK_ADMIN", fake.webhook_url("778", "t"))
    fake.slow_loris(times=1)
    assert main(["send-test", "--channel", "admin"]) == 0
    assert "1 of 1 channel delivered" in capsys.readouterr().out
    assert 2 == len(fake.requests)


# -- fast: a server in memory, its answers given through pytest-httpx --------

API = "https://discord.test/api/v10"
#: A routing file of two channels: one in a category, with a topic. Set
#: up in an empty server, setup's requests are: 0 list the channels, 1
#: make the category, 2 the first channel, 3 list its webhooks, 4 make
#: one, 5 the second channel, 6 list its webhooks, 7 make one.
SMALL_ROUTING = """\
version: 1
channels:
  alerts: {category: Ops, topic: Alerts only}
  trades: ''
routes:
  - {name: r, to: [alerts, trades]}
"""
#: An answer for requests 0 to 8, enough to outlast setup's retries.
ALWAYS = range(9)


class Server:
    """
    A Discord server in memory: lists and makes channels and webhooks.

    ``answers`` answers requests by their number (from 0) otherwise:
    with an ``httpx.Response``, or an exception to raise.
    """

    def __init__(self) -> None:
        self.channels: list[dict[str, Any]] = []
        self.hooks: dict[str, list[dict[str, Any]]] = {}
        self.answers: dict[int, httpx.Response | BaseException] = {}
        self.requests: list[httpx.Request] = []
        self.slept: list[float] = []
        self._ids = iter(range(500000000000000000, 600000000000000000))

    def add(self, **channel: Any) -> dict[str, Any]:
        """A channel (or category) the server has already."""
        made = {"id": str(next(self._ids)), **channel}
        self.channels.append(made)
        return made

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.get(len(self.requests) - 1)
        if isinstance(answer, BaseException):
            raise answer
        if answer is not None:
            return answer
        kind, ident = request.url.path.split("/")[3:5]
        posted = request.method == "POST"
        if kind == "guilds":
            body = json.loads(request.content) if posted else None
            made = self.add(**body) if body else self.channels
            return httpx.Response(200, json=made)
        hooks = self.hooks.setdefault(ident, [])
        if posted:
            new = {"id": str(next(self._ids)), "name": "Polybot"}
            hooks.append({**new, "token": f"token{len(hooks)}"})
        return httpx.Response(200, json=hooks[-1] if posted else hooks)


@pytest.fixture
def server(
    httpx_mock: HTTPXMock,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Server:
    """An empty server, the small routing, no sleeping; the token set."""
    found = Server()
    httpx_mock.add_callback(found, is_reusable=True, is_optional=True)
    monkeypatch.setenv("DISCORD_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("DISCORD_API_BASE", API + "/")
    routing = tmp_path / "routing.yaml"
    routing.write_text(SMALL_ROUTING, encoding="utf-8")
    monkeypatch.setenv("POLYBOT_ROUTING", str(routing))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(botapi, "RETRY", QUICK_RETRY)
    monkeypatch.setattr(botapi.time, "sleep", found.slept.append)
    return found


def _answer(status: int, body: Any = None, **headers: str) -> httpx.Response:
    """An answer of *status*: *body* as JSON (bytes as they are)."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(
        status, content=b"" if body is None else content, headers=headers
    )


def test_setup_makes_what_is_missing_once(
    server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Made once, with the topic and the category; the file 0600."""
    assert 0 == _setup("--out", "discord.env")

    printed = capsys.readouterr().out
    assert "created: 1 category, 2 channels, 2 webhooks" in printed
    assert "load them with: set -a; . ./discord.env; set +a" in printed
    ops, alerts, trades = server.channels
    assert (ops["name"], ops["type"]) == ("Ops", 4)
    assert (alerts["parent_id"], alerts["topic"]) == (ops["id"], "Alerts only")
    assert "parent_id" not in trades
    env = tmp_path / "discord.env"
    assert env.read_text().startswith(
        "DISCORD_WEBHOOK_ALERTS=https://discord.com/api/webhooks/"
    )
    assert 0o600 == stat.S_IMODE(env.stat().st_mode)

    written, before = env.read_text(), len(server.requests)
    assert 0 == _setup("--out", str(env))
    again = capsys.readouterr().out
    assert "already there: 1 category, 2 channels, 2 webhooks" in again
    assert f"set -a; . {env}; set +a" in again
    assert ["GET"] * 3 == [r.method for r in server.requests[before:]]
    assert written == env.read_text()


#: Two channels: a forum and a text channel, both without a category.
FORUM_ROUTING = """\
version: 1
channels:
  alerts: {webhook: "", type: forum}
  trades: ''
routes:
  - {name: incidents, to: alerts, thread: "{{ issue }}"}
  - {name: trades, to: trades}
"""
#: What the forum's note and the text channel's say, in part.
TEXT_NOT_FORUM = "#alerts is a text channel, but the routing makes it a forum"
FORUM_NOT_TEXT = "#trades is a forum channel, but the routing makes it a text"


@pytest.mark.parametrize(
    ("there", "made", "note"),
    [
        pytest.param([], {"alerts": 15, "trades": 0}, None, id="empty"),
        pytest.param(
            [("alerts", 15), ("trades", 0)], {}, None, id="both-there"
        ),
        pytest.param(
            [("alerts", 0)], {"trades": 0}, TEXT_NOT_FORUM, id="text-not-forum"
        ),
        pytest.param(
            [("trades", 15)],
            {"alerts": 15},
            FORUM_NOT_TEXT,
            id="forum-not-text",
        ),
        # a forum of the name beside a text channel of it: the forum
        pytest.param(
            [("alerts", 0), ("alerts", 15)],
            {"trades": 0},
            None,
            id="both-kinds",
        ),
    ],
)
def test_setup_makes_forum_channels(  # noqa: PLR0917 - fixtures
    server: Server,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    there: list[tuple[str, int]],
    made: dict[str, int],
    note: str | None,
) -> None:
    """
    ``type: forum`` makes a forum channel (type 15); one of the other
    kind there already is used, never doubled, and said.
    """
    (tmp_path / "routing.yaml").write_text(FORUM_ROUTING, encoding="utf-8")
    before = [server.add(name=name, type=kind) for name, kind in there]

    assert 0 == _setup("--out", "discord.env")

    printed = capsys.readouterr().out
    new = server.channels[len(before) :]
    assert made == {c["name"]: c["type"] for c in new}
    assert 2 == len({c["name"] for c in server.channels})  # none twice
    notes = [
        line.removeprefix("note: ")
        for line in printed.splitlines()
        if line.startswith("note: ")
    ]
    assert ([note] if note else []) == [n[: len(note or "")] for n in notes]
    if "alerts" in made:
        assert "  create channel #alerts (a forum)" in printed
    used = {c["name"]: c["id"] for c in before if c["type"] == 15}
    used |= {c["name"]: c["id"] for c in new}
    for c in before:
        used.setdefault(c["name"], c["id"])
    assert set(used.values()) == set(server.hooks)  # a webhook each
    env = (tmp_path / "discord.env").read_text().splitlines()
    assert ["ALERTS", "TRADES"] == [
        line.split("=")[0].removeprefix("DISCORD_WEBHOOK_") for line in env
    ]


def test_setup_forum_dry_run(
    server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A dry run says the forum it would make, and the mismatch."""
    (tmp_path / "routing.yaml").write_text(FORUM_ROUTING, encoding="utf-8")
    server.add(name="trades", type=15)

    assert 0 == _setup("--dry-run")

    printed = capsys.readouterr().out
    assert "  would create channel #alerts (a forum)" in printed
    assert f"note: {FORUM_NOT_TEXT}" in printed
    assert "would create: 0 categories, 1 channel, 2 webhooks" in printed
    assert ["GET", "GET"] == [r.method for r in server.requests]


def test_setup_leaves_other_channels_alone(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    """Channels the routing does not name are listed, ten at the most."""
    for n in range(12):
        server.add(name=f"chat-{n}", type=0)
    server.add(name="Elsewhere", type=4)

    assert 0 == _setup("--dry-run")

    printed = capsys.readouterr().out
    assert "  would create category Ops" in printed
    assert "would create: 1 category, 2 channels, 2 webhooks" in printed
    assert "left alone: 12 channels the routing does not name" in printed
    assert "chat-9, ...)" in printed
    assert "dry run: nothing was changed" in printed
    assert ["GET"] == [r.method for r in server.requests]


def test_dry_run_looks_at_the_webhooks_there(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    """A channel there already has its webhooks looked at, not made."""
    ops = server.add(name="Ops", type=4)
    server.add(name="alerts", type=0, parent_id=ops["id"])

    assert 0 == _setup("--dry-run")

    printed = capsys.readouterr().out
    assert "  would create the webhook of #alerts" in printed
    assert "would create: 0 categories, 1 channel, 2 webhooks" in printed
    assert ["GET", "GET"] == [r.method for r in server.requests]


def test_setup_without_out_tells_how(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    """Webhook URLs are not printed; a URL Discord gives is kept."""
    ops = server.add(name="Ops", type=4)
    alerts = server.add(name="alerts", type=0, parent_id=ops["id"])
    hook = {
        "id": "1",
        "name": "Polybot",
        "token": "t",
        "url": "https://x.test/h",
    }
    server.hooks[alerts["id"]] = [hook]

    assert 0 == _setup()

    printed = capsys.readouterr().out
    assert "created: 0 categories, 1 channel, 1 webhook" in printed
    assert "2 webhook URLs are ready" in printed
    assert "https://x.test/h" not in printed


def test_setup_progress_on_a_terminal(server: Server) -> None:
    """A terminal sees one line that counts the channels."""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    shown = Terminal()

    result = guild.run_setup(load_config(None), GUILD, progress=shown)

    assert "[2/2] #trades" in shown.getvalue()
    assert shown.getvalue().endswith("\r\033[K")
    assert "https://x.test/h" != result.webhooks["alerts"]


def test_setup_out_needs_its_directory(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    assert EXIT_USER_ERROR == _setup("--out", "nowhere/discord.env")
    assert "--out: no such directory: nowhere" in capsys.readouterr().err
    assert [] == server.requests


def test_a_failed_env_file_leaves_nothing(tmp_path: Path) -> None:
    """The file is replaced whole, or not at all."""
    target = tmp_path / "taken"
    target.mkdir()

    with pytest.raises(OSError, match="directory"):
        write_env_file(target, "DISCORD_WEBHOOK_A=x\n")

    assert ["taken"] == [p.name for p in tmp_path.iterdir()]


def test_a_long_guild_is_cut_in_the_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["setup", "--guild", "x" * 60])

    said = capsys.readouterr().err
    assert f"{'x' * 40!r}… is not the id of a server" in said


#: What answers which requests (by number), and what setup then says.
REFUSALS: dict[str, tuple[range, httpx.Response | BaseException, str]] = {
    "bad-token": (range(1), _answer(401, {"code": 0}), "(401 Unauthorized)"),
    "unknown-guild": (
        range(1),
        _answer(404, {"code": 10004, "message": "Unknown Guild"}),
        "or the bot is not in it (404, code 10004: Unknown Guild)",
    ),
    "cannot-see": (
        range(1),
        _answer(403, {"code": 50001, "message": "Missing Access"}),
        "(403, code 50001: Missing Access): the bot cannot see",
    ),
    "no-manage-channels": (
        range(1, 2),
        _answer(403, {"code": 50013}),
        "the bot lacks the Manage Channels permission (403, code 50013",
    ),
    "no-manage-webhooks": (
        range(3, 4),
        _answer(403, {"code": 50013}),
        "the bot lacks the Manage Webhooks permission",
    ),
    "guild-full": (range(1, 2), _answer(400, {"code": 30013}), "of 500"),
    "category-full": (
        range(2, 3),
        _answer(400, {"errors": "CHANNEL_PARENT_MAX_CHANNELS"}),
        "the category already holds Discord's maximum of 50 channels",
    ),
    "webhooks-full": (range(4, 5), _answer(400, {"code": 30007}), "of 15"),
    "other": (
        range(1, 2),
        _answer(400, {"message": "no"}),
        "Discord refused to create category Ops (400: no).",
    ),
    "lasting-503": (ALWAYS, _answer(503), "could not list the channels"),
    "redirect": (
        range(1),
        _answer(302, location="https://elsewhere.test/"),
        "was a redirect (302), which setup does not follow",
    ),
    "html": (range(1), _answer(200, b"<html>"), "(200, not JSON)"),
    "object": (range(1), _answer(200, {}), "(no list of channels in it)"),
    "list": (range(1, 2), _answer(200, []), "(no channel in it)"),
    "no-id": (range(1, 2), _answer(201, {"a": 1}), "(no channel in it)"),
    "no-token": (range(4, 5), _answer(200, {"id": "1"}), "(no webhook in it)"),
    "timeout": (
        ALWAYS,
        TimeoutError(),
        (
            "did not answer the request to list the channels of server "
            f"{GUILD} within 30s"
        ),
    ),
    "unreachable": (
        ALWAYS,
        httpx.ConnectError("refused"),
        (
            "Could not reach Discord to list the channels of server "
            f"{GUILD}: ConnectError (refused)"
        ),
    ),
    "long-429": (
        range(1),
        _answer(429, {"retry_after": 600}, **{"X-RateLimit-Scope": "user"}),
        "wait 600s (a rate limit) before it may list the channels",
    ),
    "global-429": (
        range(1),
        _answer(
            429,
            {"retry_after": 1e6, "global": True},
            **{"X-RateLimit-Global": "true"},
        ),
        "wait 278 hours (a global rate limit)",
    ),
    "cloudflare-429": (
        range(1),
        _answer(429, {"retry_after": 1000}),
        "(a Cloudflare block of this address)",
    ),
    "429-again-and-again": (
        ALWAYS,
        _answer(429, {"retry_after": 0.1}, **{"X-RateLimit-Scope": "user"}),
        "Discord kept answering 429 (rate limited) while trying to list",
    ),
}


@pytest.mark.parametrize(
    ("which", "answer", "said"), REFUSALS.values(), ids=REFUSALS
)
def test_setup_tells_a_refusal(
    server: Server,
    capsys: pytest.CaptureFixture[str],
    which: range,
    answer: httpx.Response | BaseException,
    said: str,
) -> None:
    """Each refusal is one paragraph that says what to do; nothing more."""
    server.answers = dict.fromkeys(which, answer)

    assert EXIT_USER_ERROR == _setup()

    err = capsys.readouterr().err
    assert said in err
    assert err.startswith("polybot-loghandler setup: ")
    assert 1 == err.count("\n")
    assert BOT_TOKEN not in err


#: Answers that pass: setup waits, or tries again, and goes on.
PASSING: dict[str, httpx.Response | BaseException] = {
    "429": _answer(429, {"retry_after": 0.1}, **{"X-RateLimit-Scope": "user"}),
    "503": _answer(503),
    "408": _answer(408),
    "lost-connection": httpx.ReadError("reset"),
    "deadline": TimeoutError(),
}


@pytest.mark.parametrize("answer", PASSING.values(), ids=PASSING)
def test_setup_gets_over(server: Server, answer: Any) -> None:
    server.answers = {0: answer, 3: answer}

    assert 0 == _setup()

    assert 10 == len(server.requests)
    assert 2 <= len(server.slept)
    assert sum(server.slept) < 1


#: What became of a channel's test message, by its destination and the
#: statistics of its pipeline, as send-test reports it.
WEBHOOK = WebhookDestination(url="https://discord.test/api/webhooks/1/t")
BOT = BotChannelDestination(channel_id="123456789012345678")
OUTCOMES: dict[str, tuple[Any, dict[str, int], tuple[bool, str]]] = {
    "delivered": (WEBHOOK, {"delivered": 1}, (True, "delivered")),
    "console": (None, {"console": 1}, (False, "it is shown above")),
    "console-off": (None, {}, (False, "it is not shown on the console")),
    "gone": (
        WEBHOOK,
        {"dropped.webhook_gone": 1},
        (False, "refused the webhook"),
    ),
    "new-reason": (
        WEBHOOK,
        {"dropped.odd": 1, "dropped.x": 0},
        (False, "not delivered: odd"),
    ),
    "bot": (BOT, {}, (False, "the bot token was refused or missing")),
    "late": (WEBHOOK, {"dropped.x": 0}, (False, "not delivered within 30s")),
}


@pytest.mark.parametrize(
    ("destination", "stats", "expected"), OUTCOMES.values(), ids=OUTCOMES
)
def test_send_test_outcome(
    destination: Any, stats: dict[str, int], expected: tuple[bool, str]
) -> None:
    channel = Channel(key="a", name="a", destination=destination)

    delivered, said = sendtest._outcome(channel, stats)

    assert expected[0] == delivered
    assert expected[1] in said
