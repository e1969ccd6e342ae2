"""
Faults a server, a proxy or the network may throw at delivery.

Each test drives the loopback fake (or a port where nothing listens)
through one fault and checks the same promise: nothing is lost beyond
what is counted and reported. Every event logged is either delivered
(and the fake holds its embed) or counted under a ``dropped.*`` reason,
each reason is said, no warning is said twice, and no token is shown.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes.discord import FakeDiscord
from polybot_loghandler import DiscordHandler, _discord
from polybot_loghandler._delivery import ledger
from polybot_loghandler._events import RawEvent
from polybot_loghandler._message import RoutedMessage
from tests.support.connect import Connect
from tests.support.helpers import routing_yaml

# slow: each case delivers through a fault of the fake Discord, 1 s or more
pytestmark = [
    pytest.mark.usefixtures("clean_environment"),
    pytest.mark.slow,
]

EVENTS = 6
TOKEN = "tok-SeCrEt-faults-7Qz"
WEBHOOK_ID = "3101"
#: Seconds a request may take in these tests (30 s in production).
DEADLINE = 0.5
ROUTE = "- {name: trades, to: trades, coalesce: false}"
WAIT = 20.0  # seconds: a bound on waits for real threads, never reached


def _numbers(embeds: list[dict[str, Any]]) -> list[int]:
    """The ``n`` field of each embed that has one (the test's events)."""
    return [
        int(item["value"])
        for embed in embeds
        for item in embed.get("fields", ())
        if item["name"] == "N"
    ]


@dataclasses.dataclass
class Run:
    """What became of EVENTS events logged through one fault."""

    stats: dict[str, int]
    delivered: list[int]  # the n of each event the fake accepted
    stderr: str
    logged: list[str]  # the library's own warnings

    @property
    def dropped(self) -> dict[str, int]:
        """Drops by reason."""
        return {
            k.removeprefix("dropped."): v
            for k, v in self.stats.items()
            if k.startswith("dropped.") and v
        }

    @property
    def said(self) -> str:
        """Everything the library said, on stderr or through logging."""
        return self.stderr + "\n" + "\n".join(self.logged)

    def lines(self, pattern: str) -> list[str]:
        """The stderr lines that match *pattern*."""
        return [
            line
            for line in self.stderr.splitlines()
            if re.search(pattern, line)
        ]


@pytest.fixture
def run(
    connect: Connect,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., Run]:
    """Log EVENTS events to *url*, close the handler, and report."""
    monkeypatch.setattr(_discord, "REQUEST_DEADLINE", DEADLINE)
    caplog.set_level(logging.WARNING, logger="polybot_loghandler")

    def go(url: str, fake: FakeDiscord, **delivery: str) -> Run:
        settings = {
            "batch_window": "0.1s",
            "retry_for": "1s",
            "flush_timeout": "8s",
            **delivery,
        }
        handler, log = connect(
            routing_yaml({"trades": url}, ROUTE, **settings)
        )
        for n in range(EVENTS):
            log.info("trade_executed", extra={"n": n})
        handler._pipeline.close()  # as at exit: flush, stop, tell
        return Run(
            stats=handler.stats(),
            delivered=_numbers(fake.embeds()),
            stderr=capsys.readouterr().err,
            logged=[
                r.getMessage()
                for r in caplog.records
                if r.name == "polybot_loghandler"
            ],
        )

    return go


def _accounted(result: Run) -> None:
    """
    Nothing is lost beyond what is counted and reported.

    Every event is delivered (once, and the fake has it) or dropped for a
    counted reason; every reason is said; no warning is said twice; no
    token is shown.
    """
    stats = result.stats
    print(f"stats: {stats}\nstderr: {result.stderr}\nlogged: {result.logged}")
    assert EVENTS == stats.get("delivered", 0) + sum(result.dropped.values())
    assert stats.get("delivered", 0) == len(result.delivered)
    assert len(set(result.delivered)) == len(result.delivered)
    for reason in result.dropped:
        if reason == "shutdown":
            assert "were not delivered" in result.stderr
        else:
            assert f"({reason})" in result.said, reason
    stderr = [
        line
        for line in result.stderr.splitlines()
        if line.startswith("polybot_loghandler:")
    ]
    assert [] == [k for k, n in Counter(stderr).items() if n > 1]
    assert [] == [k for k, n in Counter(result.logged).items() if n > 1]
    assert TOKEN not in result.said


def _webhook(fake: FakeDiscord) -> str:
    return fake.webhook_url(WEBHOOK_ID, TOKEN)


# -- faults that pass: everything arrives ------------------------------------

PASSING = [
    pytest.param(lambda f: f.slow_loris(times=1), id="slow-loris-once"),
    pytest.param(lambda f: f.rate_limited(-5, header="-5"), id="negative"),
    pytest.param(lambda f: f.rate_limited(math.nan), id="nan"),
    pytest.param(
        lambda f: f.rate_limited("soon", header="later"), id="garbage"
    ),
    pytest.param(lambda f: f.rate_limited(None), id="null"),
    pytest.param(lambda f: f.rate_limited(0.2), id="ordinary-429"),
    pytest.param(
        lambda f: f.garbage(200, b"<html>Sign in to Wi-Fi</html>", times=2),
        id="200-html-portal",
    ),
    pytest.param(
        lambda f: f.garbage(200, b"", content_type="text/plain", times=1),
        id="200-empty",
    ),
    pytest.param(
        lambda f: f.garbage(200, b'{"id": ', times=1), id="200-truncated"
    ),
    pytest.param(
        lambda f: f.garbage(
            429,
            b"<html>slow down</html>",
            headers={"X-RateLimit-Scope": "user"},
            times=1,
        ),
        id="429-html",
    ),
    pytest.param(
        lambda f: f.garbage(500, b"Internal Server Error", times=2),
        id="500-text",
    ),
    pytest.param(
        lambda f: f.garbage(502, b"<html>nginx</html>", times=2),
        id="502-proxy-html",
    ),
    pytest.param(lambda f: f.garbage(503, b"", times=1), id="503-empty-body"),
    pytest.param(
        lambda f: f.redirect(307, "/api/elsewhere", times=1),
        id="307-once",
    ),
]


@pytest.mark.parametrize("fault", PASSING)
def test_a_passing_fault_loses_nothing(
    fault: Callable[[FakeDiscord], None],
    fake_discord: FakeDiscord,
    run: Callable[..., Run],
) -> None:
    """A fault that passes delays delivery; every event still arrives."""
    fault(fake_discord)
    result = run(_webhook(fake_discord), fake_discord)
    _accounted(result)
    assert list(range(EVENTS)) == sorted(result.delivered)
    assert [] == [r for r in fake_discord.requests if "elsewhere" in r.path]


# -- faults that last: everything is counted and said ------------------------


def _refused(fake: FakeDiscord) -> str:
    return fake.refused_url(WEBHOOK_ID, TOKEN)


def _slow_loris(fake: FakeDiscord) -> str:
    fake.slow_loris()
    return _webhook(fake)


def _absurd(**kwargs: Any) -> Callable[[FakeDiscord], str]:
    def arrange(fake: FakeDiscord) -> str:
        fake.rate_limited(**kwargs, times=None)
        return _webhook(fake)

    return arrange


def _redirect(status: int, where: str) -> Callable[[FakeDiscord], str]:
    def arrange(fake: FakeDiscord) -> str:
        target = {
            "host": fake.refused_url(WEBHOOK_ID, TOKEN),
            "path": f"{fake.url}/api/elsewhere/{WEBHOOK_ID}/{TOKEN}",
        }[where]
        fake.redirect(status, target)
        return _webhook(fake)

    return arrange


def _garbage(status: int, body: bytes) -> Callable[[FakeDiscord], str]:
    def arrange(fake: FakeDiscord) -> str:
        fake.garbage(status, body)
        return _webhook(fake)

    return arrange


LASTING = [
    pytest.param(
        _refused,
        "server_error",
        r"unreachable since .* UTC \(connection refused\)",
        id="refused",
    ),
    pytest.param(
        _slow_loris,
        "server_error",
        rf"failing since .* \(no complete answer within {DEADLINE:g}s\)",
        id="slow-loris",
    ),
    pytest.param(
        _absurd(retry_after=1e9, header="1000000000"),
        "rate_limited",
        r"failing since .* \(held for .* by its rate limit, past the cap\)",
        id="retry-after-1e9",
    ),
    pytest.param(
        _absurd(retry_after=math.inf, header="inf"),
        "rate_limited",
        r"held for .* by its rate limit",
        id="retry-after-infinite",
    ),
    pytest.param(
        _absurd(retry_after=1e9, is_global=True),
        "rate_limited",
        r"held for .* by a global rate limit",
        id="global-retry-after-1e9",
    ),
    pytest.param(
        _redirect(301, "host"),
        "server_error",
        r"failing since .* \(301 redirect \(not followed\)\)",
        id="301-other-host",
    ),
    pytest.param(
        _redirect(302, "path"),
        "server_error",
        r"\(302 redirect \(not followed\)\)",
        id="302-other-path",
    ),
    pytest.param(
        _redirect(307, "host"),
        "server_error",
        r"\(307 redirect \(not followed\)\)",
        id="307-other-host",
    ),
    pytest.param(
        _garbage(200, b"<html>proxy</html>"),
        "server_error",
        r"\(200 with a body that is not Discord's\)",
        id="200-html-always",
    ),
    pytest.param(
        _garbage(500, b"<html>oops</html>"),
        "server_error",
        r"\(500\)",
        id="500-html-always",
    ),
    pytest.param(
        _garbage(400, b"<html>Bad Request</html>"),
        "rejected",
        None,
        id="400-html",
    ),
]


@pytest.mark.parametrize(("arrange", "reason", "notice"), LASTING)
def test_a_lasting_fault_is_counted_and_said(
    arrange: Callable[[FakeDiscord], str],
    reason: str,
    notice: str | None,
    fake_discord: FakeDiscord,
    run: Callable[..., Run],
) -> None:
    """
    Every event is dropped for one reason, said once; nothing hangs.

    The destination's failing is said once on stderr, with the reason and
    since when, its token redacted. An absurd ``retry_after`` is never
    cut short: after its 429 not one more request goes out.
    """
    url = arrange(fake_discord)
    result = run(url, fake_discord)
    _accounted(result)
    assert {reason: EVENTS} == result.dropped
    if notice is not None:
        assert 1 == len(result.lines(notice))
    if reason == "rate_limited":
        assert 1 == len(fake_discord.requests)
    assert [] == [r for r in fake_discord.requests if "elsewhere" in r.path]


def test_redirect_to_another_host_sends_it_nothing(
    fake_discord: FakeDiscord, run: Callable[..., Run]
) -> None:
    """A redirect to another server never takes the token there."""
    with FakeDiscord() as other:
        fake_discord.redirect(308, other.webhook_url(WEBHOOK_ID, TOKEN))
        result = run(_webhook(fake_discord), fake_discord)
        _accounted(result)
        assert ([], {"server_error": EVENTS}) == (
            other.requests,
            result.dropped,
        )


# -- what is said: at exit, to the ops channel, on recovery ------------------


def test_exit_line_says_why(
    fake_discord: FakeDiscord, run: Callable[..., Run]
) -> None:
    """
    Events left at exit are counted, and the exit line says why.

    "6 events were not delivered within the 1.5s flush timeout: http://
    127.0.0.1:PORT/api/webhooks/3101/(redacted) unreachable since
    12:01:02 UTC (connection refused)".
    """
    url = _refused(fake_discord)
    result = run(url, fake_discord, retry_for="60s", flush_timeout="1.5s")
    _accounted(result)
    assert {"shutdown": EVENTS} == result.dropped
    pattern = (
        rf"{EVENTS} events were not delivered within the 1.5s flush "
        r"timeout: http://127\.0\.0\.1:\d+/api/webhooks/3101/\(redacted\) "
        r"unreachable since \d\d:\d\d:\d\d UTC \(connection refused\)$"
    )
    assert 1 == len(result.lines(pattern))


def test_ops_channel_hears_of_an_unreachable_destination(
    fake_discord: FakeDiscord,
    connect: Connect,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The ops channel, which works, is told once, the token redacted."""
    handler, log = connect(
        routing_yaml(
            {
                "trades": _refused(fake_discord),
                "ops": fake_discord.webhook_url("3102", "tok-ops"),
            },
            ROUTE,
            batch_window="0.1s",
            retry_for="60s",
            flush_timeout="1s",
            ops_channel="ops",
        )
    )
    log.info("trade_executed", extra={"n": 1})
    assert fake_discord.wait_for(lambda f: len(f.embeds("3102")) >= 1, WAIT)
    handler.close()
    alerts = fake_discord.embeds("3102")
    text = str(alerts)
    print(alerts)
    assert 1 == len(alerts)
    assert "A Discord destination is failing" in alerts[0]["title"]
    assert "connection refused" in text
    assert "unreachable since" in text
    assert TOKEN not in text
    assert TOKEN not in capsys.readouterr().err


def test_recovery_is_said_once(
    fake_discord: FakeDiscord,
    connect: Connect,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A destination failing for a while is said, and so is its return."""
    # said after 0.5 s of failures: the third try (0.75 s to 1.5 s in,
    # whatever the jitter) comes after that and before the fake recovers
    monkeypatch.setattr(ledger, "FAILING_AFTER", 0.5)
    handler, log = connect(
        routing_yaml(
            {"trades": _webhook(fake_discord)},
            ROUTE,
            batch_window="0.1s",
            flush_timeout="15s",
        )
    )
    fake_discord.fail_for(3.0)
    log.info("trade_executed", extra={"n": 1})
    handler.flush()
    log.info("trade_executed", extra={"n": 2})
    handler.close()
    err = capsys.readouterr().err
    print(err)
    failing = re.findall(r"failing since .* UTC \(503 .*\)", err)
    back = re.findall(
        r"answers again, after \d+s \(failing since .* UTC\)", err
    )
    assert (1, 1) == (len(failing), len(back))
    assert [1, 2] == sorted(_numbers(fake_discord.embeds()))
    assert TOKEN not in err


# -- a message that cannot be encoded ----------------------------------------

SURROGATE = "report-\udcff.csv"


def _poison(embed: dict[str, Any], where: str) -> dict[str, Any]:
    """*embed* with a value that cannot be encoded at *where*."""
    embed = {**embed}
    if where == "description":
        embed["description"] = f"could not process {SURROGATE}"
    elif where == "title":
        embed["title"] = SURROGATE
    elif where == "field":
        embed["fields"] = [
            *embed.get("fields", ()),
            {"name": "path", "value": SURROGATE},
        ]
    elif where == "author":
        embed["author"] = {"name": SURROGATE}
    elif where == "nan":
        embed["color"] = math.nan
    return embed


@pytest.fixture
def poisoned(
    connect: Connect,
) -> Iterator[Callable[[str, str], tuple[DiscordHandler, logging.Logger]]]:
    """
    A handler whose message for ``n == 2`` holds an unencodable value.

    It is put into the engine after rendering, as if the renderer had let
    it through, to prove the sending side safe by itself.
    """

    def make(text: str, where: str) -> tuple[DiscordHandler, logging.Logger]:
        handler, log = connect(text)
        routing = handler._pipeline._routing
        process = routing.process

        def tampered(raw: RawEvent) -> list[RoutedMessage]:
            out = []
            for message in process(raw):
                if _numbers([message.embed]) != [2]:
                    out.append(message)
                    continue
                embed = _poison(message.embed, where)
                out.append(
                    dataclasses.replace(
                        message,
                        embed=embed,
                        payload={**message.payload, "embeds": [embed]},
                    )
                )
            return out

        routing.process = tampered  # type: ignore[method-assign]
        return handler, log

    return make


@pytest.mark.parametrize(
    "where", ["description", "title", "field", "author", "nan"]
)
@pytest.mark.parametrize("spool", [False, True], ids=["memory", "spool"])
def test_unencodable_message_is_dropped_alone(  # noqa: PLR0917 - fixtures
    where: str,
    spool: bool,
    fake_discord: FakeDiscord,
    poisoned: Callable[[str, str], tuple[DiscordHandler, logging.Logger]],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """
    The bad message is dropped as rejected; its batch-mates go at once.

    Nothing is retried, the lane is not blocked (later events arrive
    too), and with a spool nothing is left in it.
    """
    caplog.set_level(logging.WARNING, logger="polybot_loghandler")
    delivery = {"batch_window": "0.2s", "flush_timeout": "10s"}
    if spool:
        delivery["spool"] = str(tmp_path / "spool")
    handler, log = poisoned(
        routing_yaml({"trades": _webhook(fake_discord)}, ROUTE, **delivery),
        where,
    )
    for n in range(EVENTS):
        log.info("trade_executed", extra={"n": n})
    handler.flush()
    log.info("trade_executed", extra={"n": EVENTS})
    handler.flush()
    stats = handler.stats()
    handler.close()
    warned = [
        r.getMessage()
        for r in caplog.records
        if "dropped (rejected)" in r.getMessage()
    ]
    print(stats, warned)
    expected = [n for n in range(EVENTS + 1) if n != 2]
    assert expected == sorted(_numbers(fake_discord.embeds()))
    assert (EVENTS, 1) == (
        stats.get("delivered"),
        stats.get("dropped.rejected"),
    )
    assert 0 == stats.get("retries", 0)
    assert len(fake_discord.requests) == len(fake_discord.messages)
    assert 1 == len(warned)
    assert 0 == stats.get("spool.pending", 0)


def test_lost_alerts_are_not_counted_as_events(
    fake_discord: FakeDiscord,
    connect: Connect,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An alert lost with its failing ops channel is no lost event."""
    handler, log = connect(
        routing_yaml(
            {
                "trades": _refused(fake_discord),
                "ops": fake_discord.refused_url("3103", "tok-ops"),
            },
            ROUTE,
            batch_window="0.1s",
            retry_for="1s",
            flush_timeout="8s",
            ops_channel="ops",
        )
    )
    for n in range(EVENTS):
        log.info("trade_executed", extra={"n": n})
    handler._pipeline.close()
    stats = handler.stats()
    err = capsys.readouterr().err
    print(stats, err)
    assert "/webhooks/3103/(redacted) unreachable since" in err
    assert EVENTS == stats.get("dropped.server_error")
    assert [] == [
        k
        for k in stats
        if k.startswith("dropped.") and k != "dropped.server_error"
    ]
