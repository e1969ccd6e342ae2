"""
``ask`` against a real relay's state: the shipped ``state:`` and
``commands:``, a relay keeping them in a real ``redis-server``, a
producer logging a scripted floor, and ``polybot-loghandler ask``
reading the answers back, as an operator would.

The floor: three agents start, trade, open two positions and close one;
then one agent stops sending heartbeats, and the others go on. Only the
trades have a route here, so every other event reaches the relay
because the state takes it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import yaml

from fakes.discord import FakeDiscord
from polybot_loghandler import DiscordHandler, load_config
from polybot_loghandler._cli import main
from polybot_loghandler._relay.floorstore import Meta
from polybot_loghandler._relay.keys import Keys
from polybot_loghandler._relay.relay import Relay
from tests.conftest import SHIPPED_ROUTING
from tests.support.helpers import flushed, producer, running_relay, wait_for

pytestmark = pytest.mark.slow

#: How long an agent may be silent here (the shipped watch says 3m).
SILENT_AFTER = 1.5
AGENTS = ("Momentum_BTC_v1", "Mean_Reversion_BTC_v1", "Volume_ETH_v1")


def routing(webhook: str, redis_url: str) -> str:
    """The shipped state and commands; a route for the trades only."""
    shipped = yaml.safe_load(SHIPPED_ROUTING.read_text(encoding="utf-8"))
    own = {
        "version": 1,
        "channels": {
            "trades": {"webhook": webhook},
        },
        "delivery": {"relay": redis_url, "batch_window": 0.2},
        "routes": [
            {
                "name": "trades",
                "match": {"event": "trade_executed"},
                "to": "trades",
            }
        ],
        "watches": [
            {
                "name": "agent_heartbeat",
                "match": {"event": "heartbeat"},
                "key": "{{ agent }}",
                "alert_after": SILENT_AFTER,
                "to": "trades",
            }
        ],
        "state": shipped["state"],
        "commands": shipped["commands"],
    }
    return yaml.safe_dump(own, allow_unicode=True, sort_keys=False)


@pytest.fixture
def path(tmp_path: Path, redis_url: str) -> Iterator[Path]:
    with FakeDiscord() as fake:
        made = tmp_path / "routing.yaml"
        webhook = fake.webhook_url("4001", "tok-t")
        made.write_text(routing(webhook, redis_url), encoding="utf-8")
        yield made


@pytest.fixture
def relay(path: Path) -> Iterator[Relay]:
    with running_relay(load_config(path)) as made:
        yield made


@pytest.fixture
def log(path: Path) -> Iterator[logging.Logger]:
    """A producer: a logger whose handler appends to the stream."""
    with producer(path) as made:
        yield made


def _applied(client: redis.Redis) -> bool:
    """The relay's saved state has applied the stream's last entry."""
    newest = client.xrevrange(Keys.stream, count=1)
    cursor = client.hget(Keys.floor_meta, "cursor")
    return bool(newest) and cursor == newest[0][0]


def _settled(log: logging.Logger, redis_url: str) -> None:
    handler = next(h for h in log.handlers if isinstance(h, DiscordHandler))
    assert flushed(handler)
    with redis.Redis.from_url(redis_url) as client:
        assert wait_for(lambda: _applied(client))


def _ask(
    path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, list[str], str]:
    status = main(["ask", command, "--routing", str(path)])
    out, err = capsys.readouterr()
    return status, out.splitlines(), err


def scripted_floor(log: logging.Logger, redis_url: str) -> None:
    """
    The floor: three agents start, two trade, two positions open and one
    closes (three closes count), then Volume_ETH_v1 goes quiet; returns
    once the relay's state has applied it all.
    """
    for agent in AGENTS:
        log.info("agent_started", extra={"agent": agent, "mode": "paper"})
    for agent, amount in ((AGENTS[0], 20.0), (AGENTS[2], 15.0)):
        trade = {"agent": agent, "amount": amount, "fees": 0.02 * amount}
        log.info("trade_executed", extra=trade)
    for agent, market, side in ((AGENTS[0], "BTC", "YES"),
                                (AGENTS[2], "ETH", "NO")):  # fmt: skip
        opened = {"agent": agent, "market": market, "side": side}
        extra = {**opened, "size": 20.0, "entry_price": 0.4871}
        log.info("position_opened", extra=extra)
    closed = {"agent": AGENTS[0], "market": "BTC", "side": "YES"}
    for pnl in (2.42, -1.05, 0.17):  # the first closes one, all count
        log.info("position_closed", extra={**closed, "pnl": pnl})
    time.sleep(SILENT_AFTER + 0.2)  # Volume_ETH_v1 says nothing more
    for agent in AGENTS[:2]:
        log.info("heartbeat", extra={"agent": agent})
    _settled(log, redis_url)


def test_ask_answers_from_the_state_the_relay_keeps(
    path: Path,
    relay: Relay,
    log: logging.Logger,
    redis_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    scripted_floor(log, redis_url)

    status, lines, err = _ask(path, "/status", capsys)
    assert (status, err) == (0, "")
    assert lines[0] == "🟠 Needs a look. 2 agents running, 1 position open."
    assert lines[1].startswith("🔇 Volume_ETH_v1: silent, last heard of ")

    status, lines, _ = _ask(path, "pnl", capsys)
    assert status == 0
    assert lines[0] == "💰 Today: +$1.54"  # 2.42 - 1.05 + 0.17, to the cent

    _, lines, _ = _ask(path, "!agents", capsys)
    assert lines[0] == "🤖 Agents (3)"
    assert [line.split("**")[1] for line in lines[1:4]] == sorted(AGENTS)

    _, lines, _ = _ask(path, "/positions", capsys)
    assert lines[:2] == [
        "📂 Open positions (1)",
        "**Volume_ETH_v1** NO ETH · $20.00 at 0.4871 · opened "
        + lines[1].rpartition("opened ")[2],
    ]


def test_without_a_state_yet_ask_says_so(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, lines, err = _ask(path, "/status", capsys)

    assert (status, lines) == (1, [])
    assert err == (
        "polybot-loghandler ask: the relay has kept no state yet (is "
        f"`polybot-loghandler relay {path}` running?)\n"
    )


def test_an_unreachable_redis_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    webhook = "https://discord.com/api/webhooks/4001/tok-t"
    text = routing(webhook, "redis://127.0.0.1:1/0")
    made = tmp_path / "routing.yaml"
    made.write_text(text, encoding="utf-8")

    status, _, err = _ask(made, "/status", capsys)

    assert status == 1
    assert err.startswith(
        "polybot-loghandler ask: cannot reach Redis at redis://127.0.0.1:1/0"
    )
    assert "Traceback" not in err


def test_a_state_kept_by_another_state_section_is_noted(
    path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The answer stands, and stderr says whose spec made it."""
    meta = Meta(cursor="1700000000000-0", fingerprint="not this file's")
    fields = meta.fields({})
    with redis.Redis.from_url(redis_url) as client:
        client.hset(
            Keys.floor_meta,
            mapping=dict(zip(fields[::2], fields[1::2], strict=True)),
        )

    status, lines, err = _ask(path, "/positions", capsys)

    assert (status, lines[0]) == (0, "📂 Open positions (0)")
    assert err.startswith(
        "polybot-loghandler ask: note: the relay keeps this state by "
        "another state: section than this file's"
    )
