"""
The durable spool: events survive Discord outages, exits and kill -9.

Each scenario runs real processes (``scripts/spool_process.py``) against
the loopback fake Discord, sharing one spool directory: one logs during
an outage and ends (normally, or by SIGKILL), the next delivers.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fakes.discord import FakeDiscord
from polybot_loghandler import DiscordHandler
from polybot_loghandler._spool.db import Database
from polybot_loghandler._spool.status import status
from polybot_loghandler._spool.store import DATABASE, Spool
from tests.support.helpers import routing_yaml, wait_for

SCRIPT = Path(__file__).parent / "scripts" / "spool_process.py"
TIMEOUT = 90.0  # seconds: a bound for a script, never reached
NOBODY = 65534  # a user id other than the tests' (they run as root)

# slow: processes killed and restarted, outages waited out on the real clock
pytestmark = [
    pytest.mark.usefixtures("clean_environment"),
    pytest.mark.slow,
]


def _routing(fake: FakeDiscord, spool: Path, **delivery: str) -> str:
    settings = {
        "batch_window": "0.05s",
        # an exit during an outage leaves once everything is on disk;
        # the bound is headroom for a loaded machine (tests run in
        # parallel) to route and file every event first
        "flush_timeout": "20s",
        "retry_for": "1s",
        "reload": "off",
        "spool": str(spool),
        **delivery,
    }
    return routing_yaml(
        {"trades": fake.webhook_url("4001", "tok-trades")},
        "- {name: trades, match: {event: trade_executed}, to: trades,"
        " coalesce: false}",
        **settings,
    )


def _environment() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if name != "POLYBOT_ROUTING" and not name.startswith("DISCORD_")
    }


def _start(routing: Path, start: int, count: int, mode: str) -> Any:
    return subprocess.Popen(
        [sys.executable, SCRIPT, routing, str(start), str(count), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(),
    )


def _kill(process: Any) -> None:
    """SIGKILL *process*: the scenario, or the end of a failed test."""
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=TIMEOUT)


def _run(routing: Path, start: int, count: int, mode: str) -> str:
    process = _start(routing, start, count, mode)
    out, err = process.communicate(timeout=TIMEOUT)
    assert 0 == process.returncode, err
    return out


def _drain(routing: Path) -> dict[str, int]:
    """Start a process that logs nothing and sends what the spool has."""
    out = _run(routing, 0, 0, "drain")
    stats: dict[str, int] = json.loads(out.splitlines()[-1])
    return stats


def _numbers(fake: FakeDiscord) -> list[int]:
    return _numbers_of(fake.embeds())


def _numbers_of(embeds: list[dict[str, Any]]) -> list[int]:
    return [
        int(field["value"])
        for embed in embeds
        for field in embed.get("fields", ())
        if field["name"] == "N"
    ]


def _on_disk(spool: Path) -> set[int]:
    """
    The trades the spool holds, not done yet, as committed on disk.

    Read as ``spool status`` reads, while a process writes: a database
    not made yet, or made but without its tables, holds none.
    """
    try:
        database = Database(spool / DATABASE, create=False)
    except FileNotFoundError:
        return set()
    try:
        with database.transaction("BEGIN") as db:
            bodies = (
                [row[0] for row in db.execute("SELECT body FROM messages")]
                if database.version(db)
                else []
            )
    finally:
        database.close()
    return set(_numbers_of([json.loads(body)["embed"] for body in bodies]))


def _caught_up(spool: Path, fake: FakeDiscord, count: int) -> bool:
    """
    Whether the spool on disk has caught up with a process sending.

    Every one of the *count* trades it logged is on disk or delivered,
    and of those delivered, at most the batch in flight is still on
    disk: the done marks of the others are committed.
    """
    sent = set(_numbers(fake))
    kept = _on_disk(spool)
    return set(range(count)) <= kept | sent and len(kept & sent) <= 10


class TestAcrossProcesses:
    def test_outage_then_exit_then_the_next_process_delivers_all(
        self, fake_discord: FakeDiscord, tmp_path: Path
    ) -> None:
        routing = tmp_path / "routing.yaml"
        spool = tmp_path / "spool"
        routing.write_text(
            _routing(fake_discord, spool, flush_timeout="20s"),
            encoding="utf-8",
        )
        fake_discord.fail_for(3600, 503)

        started = time.monotonic()
        _run(routing, 0, 200, "exit")
        took = time.monotonic() - started

        # everything was on disk: exit did not wait out the flush
        # timeout (20 s) for an outage
        assert took < 15
        assert [] == fake_discord.messages
        assert 200 == sum(status(spool).pending.values())
        fake_discord.recover()
        stats = _drain(routing)

        assert list(range(200)) == sorted(_numbers(fake_discord))
        assert 200 == stats["delivered"]
        assert 0 == sum(status(spool).pending.values())
        assert [] == fake_discord.rejected

    def test_killed_during_an_outage_loses_nothing(
        self, fake_discord: FakeDiscord, tmp_path: Path
    ) -> None:
        routing = tmp_path / "routing.yaml"
        spool = tmp_path / "spool"
        routing.write_text(_routing(fake_discord, spool), encoding="utf-8")
        fake_discord.fail_for(3600, 503)

        process = _start(routing, 0, 200, "hold")
        try:
            assert process.stdout is not None
            assert "logged" == process.stdout.readline().strip()
            # the scenario: killed a second later, when the group
            # commits (every 0.1 s) have put every event on disk; killed
            # as soon as they have, not after a second hoping they did
            assert wait_for(lambda: set(range(200)) == _on_disk(spool), 30)
        finally:
            _kill(process)
        fake_discord.recover()
        _drain(routing)

        assert list(range(200)) == sorted(_numbers(fake_discord))

    def test_killed_while_sending_repeats_at_most_the_batch_in_flight(
        self, fake_discord: FakeDiscord, tmp_path: Path
    ) -> None:
        """Only a message sent but not yet marked done may come twice."""
        routing = tmp_path / "routing.yaml"
        spool = tmp_path / "spool"
        routing.write_text(_routing(fake_discord, spool), encoding="utf-8")

        process = _start(routing, 0, 300, "hold")
        try:
            assert fake_discord.wait_for(lambda f: len(f.messages) >= 3, 30)
            # past a few group commits: what was accepted is on disk, and
            # so are the done marks of what was sent (events accepted
            # within the last commit interval may be lost: that is the
            # contract, and not what this test is about)
            assert wait_for(lambda: _caught_up(spool, fake_discord, 300), 30)
        finally:
            _kill(process)
        before = len(fake_discord.messages)
        not_done = _on_disk(spool)
        _drain(routing)

        seen = Counter(_numbers(fake_discord))
        assert set(range(300)) == set(seen)
        twice = [n for n, times in seen.items() if times > 1]
        # only what was sent but not marked done on disk: at most the
        # message in flight, and the one sent after the last commit of
        # done marks, two batches of ten
        assert set(twice) <= not_done, twice
        assert len(twice) <= 20, twice
        assert before < len(fake_discord.messages)

    def test_killed_while_replaying_the_next_process_finishes(
        self, fake_discord: FakeDiscord, tmp_path: Path
    ) -> None:
        routing = tmp_path / "routing.yaml"
        spool = tmp_path / "spool"
        routing.write_text(_routing(fake_discord, spool), encoding="utf-8")
        fake_discord.fail_for(3600, 503)
        _run(routing, 0, 300, "exit")
        fake_discord.recover()

        replaying = _start(routing, 0, 0, "drain")
        try:
            assert fake_discord.wait_for(lambda f: len(f.messages) >= 3, 30)
            # a few group commits of done marks: on disk, the spool has
            # caught up with what was sent
            assert wait_for(lambda: _caught_up(spool, fake_discord, 300), 30)
        finally:
            _kill(replaying)
        not_done = _on_disk(spool)
        _drain(routing)

        seen = Counter(_numbers(fake_discord))
        assert set(range(300)) == set(seen)
        twice = [n for n, k in seen.items() if k > 1]
        assert set(twice) <= not_done, twice
        assert len(twice) <= 20, twice
        assert 0 == sum(status(spool).pending.values())

    def test_two_processes_on_one_spool_deliver_each_message_once(
        self, fake_discord: FakeDiscord, tmp_path: Path
    ) -> None:
        routing = tmp_path / "routing.yaml"
        spool = tmp_path / "spool"
        routing.write_text(_routing(fake_discord, spool), encoding="utf-8")
        fake_discord.fail_for(3600, 503)
        _run(routing, 0, 100, "exit")
        fake_discord.recover()

        first = _start(routing, 1000, 50, "drain")
        second = _start(routing, 2000, 50, "drain")
        for process in (first, second):
            _, err = process.communicate(timeout=TIMEOUT)
            assert 0 == process.returncode, err

        seen = Counter(_numbers(fake_discord))
        expected = [*range(100), *range(1000, 1050), *range(2000, 2050)]
        assert sorted(expected) == sorted(seen)
        assert {1} == set(seen.values())

    def test_size_cap_evicts_and_counts(
        self, fake_discord: FakeDiscord, tmp_path: Path
    ) -> None:
        routing = tmp_path / "routing.yaml"
        spool = tmp_path / "spool"
        routing.write_text(
            _routing(fake_discord, spool, spool_size="40KB"),
            encoding="utf-8",
        )
        fake_discord.fail_for(3600, 503)
        _run(routing, 0, 400, "exit")
        left = sum(status(spool).pending.values())
        fake_discord.recover()
        _drain(routing)

        delivered = _numbers(fake_discord)
        assert 0 < left < 400
        assert left == len(delivered) == len(set(delivered))
        # the newest survive: the oldest were evicted first
        assert list(range(400 - left, 400)) == sorted(delivered)


class TestInOneProcess:
    @pytest.fixture
    def handler_for(
        self,
        make_routing: Callable[[str], Path],
        logger_with: Callable[..., logging.Logger],
    ) -> Callable[[str], tuple[DiscordHandler, logging.Logger]]:
        def make(text: str) -> tuple[DiscordHandler, logging.Logger]:
            handler = DiscordHandler(make_routing(text))
            return handler, logger_with(handler)

        return make

    def test_more_than_fits_in_memory_waits_on_disk_in_order(
        self,
        fake_discord: FakeDiscord,
        tmp_path: Path,
        handler_for: Callable[..., Any],
    ) -> None:
        fake_discord.reset_rate_limits()
        handler, log = handler_for(
            _routing(fake_discord, tmp_path / "spool", queue_size="10")
        )
        fake_discord.fail_for(3600, 503)
        for n in range(100):
            log.info("trade_executed", extra={"n": n})
            if n % 5 == 4:
                # the queue into the worker holds 10 too: let it take them
                assert wait_for(lambda: 0 == handler.stats()["queued"])
        handler.flush(timeout=2)
        fake_discord.recover()
        handler.flush(timeout=60)

        assert list(range(100)) == _numbers(fake_discord)
        stats = handler.stats()
        assert 0 == stats.get("dropped.queue_full", 0)
        assert 0 == stats["spool.pending"]

    def test_past_the_retry_budget_it_keeps_trying(
        self,
        fake_discord: FakeDiscord,
        tmp_path: Path,
        handler_for: Callable[..., Any],
    ) -> None:
        handler, log = handler_for(
            _routing(fake_discord, tmp_path / "spool", retry_for="0.2s")
        )
        fake_discord.fail_for(3600, 503)
        log.info("trade_executed", extra={"n": 1})
        handler.flush(timeout=1.5)
        fake_discord.recover()
        handler.flush(timeout=20)

        assert [1] == _numbers(fake_discord)
        assert 0 == handler.stats().get("dropped.server_error", 0)

    def test_an_unusable_spool_falls_back_to_memory(
        self,
        fake_discord: FakeDiscord,
        tmp_path: Path,
        handler_for: Callable[..., Any],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        blocked = tmp_path / "not-a-directory"
        blocked.write_text("", encoding="utf-8")
        handler, log = handler_for(_routing(fake_discord, blocked / "spool"))
        log.info("trade_executed", extra={"n": 7})
        handler.flush()

        assert [7] == _numbers(fake_discord)
        assert "cannot use the spool" in capsys.readouterr().err
        assert 1 == handler.stats()["errors.spool"]


# -- what the spool trusts ---------------------------------------------------


WEBHOOK_TOKEN = "Zq3xWebhookTokenSecretPart_0123456789abcdefABCDEF"
DISCORD_URL = (
    f"https://discord.com/api/webhooks/123456789012345678/{WEBHOOK_TOKEN}"
)
BOT_TOKEN = (
    "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789"
)
API_KEY = "sk-live-4f9a8b7c6d5e"
#: What must never be on disk, or reach Discord from the disk.
SECRETS = [WEBHOOK_TOKEN, BOT_TOKEN, API_KEY, "tok-trades"]


def _plant(spool: Path, *bodies: dict[str, Any]) -> None:
    """Leave *bodies* in *spool* as a process that died would."""
    planted = Spool(spool)
    planted.open()
    for body in bodies:
        planted.append("trades", logging.ERROR, time.time(), body)
    planted.commit()
    planted.close()


HOSTILE_BODY: dict[str, Any] = {
    "route": "trades",
    "payload": {
        "content": "@everyone",
        "allowed_mentions": {"parse": ["everyone", "roles", "users"]},
    },
    "content": "@everyone",
    "allowed_mentions": {"parse": ["everyone"]},
    "embed": {
        "title": "@everyone free money",
        "description": f"<@&1> @here {DISCORD_URL}",
        "fields": [{"name": "@everyone", "value": BOT_TOKEN}],
        "footer": {"text": f"<@2> {DISCORD_URL}"},
    },
}


def _fail(text: str) -> None:
    raise RuntimeError(text)


def _assert_harmless(fake: FakeDiscord) -> None:
    """Every message the fake took pings no one and shows no secret."""
    assert fake.messages
    for message in fake.messages:
        body = message.json
        assert {"parse": []} == body["allowed_mentions"]
        assert "content" not in body
        shown = json.dumps(body, ensure_ascii=False)
        for secret in SECRETS:
            assert secret not in shown
        for ping in ("@everyone", "@here", "<@&1>", "<@2>"):
            assert ping not in shown
    assert [] == fake.rejected


class TestTrust:
    @pytest.fixture
    def handler_for(
        self,
        make_routing: Callable[[str], Path],
        logger_with: Callable[..., logging.Logger],
    ) -> Callable[[str], tuple[DiscordHandler, logging.Logger]]:
        def make(text: str) -> tuple[DiscordHandler, logging.Logger]:
            handler = DiscordHandler(make_routing(text))
            return handler, logger_with(handler)

        return make

    @pytest.mark.parametrize(
        "route", ["trades", "gone", 7], ids=["its-route", "no-route", "junk"]
    )
    def test_a_planted_message_pings_no_one_and_shows_no_token(
        self,
        fake_discord: FakeDiscord,
        tmp_path: Path,
        handler_for: Callable[..., Any],
        route: object,
    ) -> None:
        spool = tmp_path / "spool"
        _plant(spool, {**HOSTILE_BODY, "route": route})
        handler, _ = handler_for(_routing(fake_discord, spool))

        handler.flush(timeout=20)

        assert 1 == len(fake_discord.messages)
        _assert_harmless(fake_discord)
        embed = fake_discord.embeds()[0]
        assert "@\u200beveryone free money" == embed["title"]

    def test_the_route_s_own_ping_is_kept(
        self,
        fake_discord: FakeDiscord,
        tmp_path: Path,
        handler_for: Callable[..., Any],
    ) -> None:
        spool = tmp_path / "spool"
        _plant(spool, {**HOSTILE_BODY, "route": "pager"})
        routing = routing_yaml(
            {"trades": fake_discord.webhook_url("4001", "tok-trades")},
            '- {name: pager, to: trades, mention: "role:42"}',
            batch_window="0.05s",
            reload="off",
            spool=str(spool),
        )
        handler, _ = handler_for(routing)

        handler.flush(timeout=20)

        (message,) = fake_discord.messages
        assert "<@&42>" == message.json["content"]
        assert {"parse": [], "roles": ["42"]} == (
            message.json["allowed_mentions"]
        )

    @pytest.mark.parametrize(
        "made",
        [(0o777, None), (0o703, None), (0o700, NOBODY), (0o1777, NOBODY)],
        ids=["0777", "0703", "nobody-s", "nobody-s-sticky"],
    )
    def test_a_directory_others_could_write_is_not_used(
        self,
        fake_discord: FakeDiscord,
        tmp_path: Path,
        handler_for: Callable[..., Any],
        capsys: pytest.CaptureFixture[str],
        made: tuple[int, int | None],
    ) -> None:
        """Mode and owner (None: the tests' user) of the directory."""
        mode, owner = made
        spool = tmp_path / "spool"
        _plant(spool, HOSTILE_BODY)
        spool.chmod(mode)
        if owner is not None:
            os.chown(spool, owner, owner)
        try:
            handler, log = handler_for(_routing(fake_discord, spool))
            log.info("trade_executed", extra={"n": 7})
            handler.flush(timeout=20)
            handler.close()
        finally:
            os.chown(spool, 0, 0)  # so tmp_path can be cleaned

        assert [7] == _numbers(fake_discord), "only the live event"
        _assert_harmless(fake_discord)
        err = capsys.readouterr().err
        assert 1 == err.count("cannot use the spool")
        assert "plant messages" in err
        assert 1 == handler.stats()["errors.spool"]
        assert 1 == sum(status(spool).pending.values()), "left alone"

    def test_no_secret_reaches_the_disk(
        self,
        fake_discord: FakeDiscord,
        tmp_path: Path,
        handler_for: Callable[..., Any],
    ) -> None:
        """A secret in every part of an event, grepped in the files."""
        spool = tmp_path / "spool"
        routing = routing_yaml(
            {"trades": fake_discord.webhook_url("4001", "tok-trades")},
            """\
            - name: trades
              to: trades
              coalesce: {by: [api_key, webhook_url, note, token]}
              embed:
                title: "{{ event }}"
                description: "{{ message }}"
                footer: "{{ logger }}"
                fields: auto
            """,
            batch_window="0.05s",
            flush_timeout="2s",
            reload="off",
            spool=str(spool),
        )
        handler, _ = handler_for(routing)
        log = logging.getLogger(f"app.{BOT_TOKEN}")
        log.addHandler(handler)
        log.propagate = False
        fake_discord.fail_for(3600, 503)
        try:
            _fail(f"posting to {DISCORD_URL} failed")
        except RuntimeError:
            log.exception(
                "calling %s with %s",
                DISCORD_URL,
                BOT_TOKEN,
                extra={
                    "api_key": API_KEY,
                    "webhook_url": DISCORD_URL,
                    "note": f"see {DISCORD_URL} and {BOT_TOKEN}",
                    "token": BOT_TOKEN,
                    "nested": {"url": DISCORD_URL, "api_key": API_KEY},
                },
            )
        handler.flush(timeout=1)
        handler.close()
        log.removeHandler(handler)

        files = [p for p in spool.iterdir() if p.is_file()]
        assert "spool.db" in {p.name for p in files}
        assert 1 == sum(status(spool).pending.values())
        data = b"".join(p.read_bytes() for p in files)
        for secret in SECRETS:
            for form in (secret, secret.lower(), json.dumps(secret)[1:-1]):
                assert form.encode() not in data, form
