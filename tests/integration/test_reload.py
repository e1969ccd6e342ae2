"""
Live reload of the routing file, and the handler reporting on itself.

A running handler whose routing file is edited (in place or replaced by
rename, as editors save) routes with the new file within seconds; a
broken edit keeps the old routing and is reported once. The periodic
summary and the immediate warnings arrive in the ops channel.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fakes.discord import FakeDiscord
from polybot_loghandler import ConfigError, DiscordHandler
from polybot_loghandler import _routing as routing_module
from polybot_loghandler._delivery.ledger import Ledger
from tests.support.helpers import flushed, routing_yaml, wait_for
from tests.support.hostile_yaml import HOSTILE, HOSTILE_PARAMS, Hostile

WAIT = 10.0  # seconds: a bound on waits for real threads, never reached
#: Further looks at an unchanged file that must not say or read it again.
MORE_CHECKS = 5

# slow: each case waits for the file watcher on the real clock
pytestmark = [
    pytest.mark.usefixtures("clean_environment"),
    pytest.mark.slow,
]


def _routing(fake: FakeDiscord, to: str, **delivery: str) -> str:
    return routing_yaml(
        {
            "trades": fake.webhook_url("2001", "tok-trades"),
            "other": fake.webhook_url("2002", "tok-other"),
            "ops": fake.webhook_url("2003", "tok-ops"),
        },
        f"""\
            - name: to_{to}
              match: {{event: trade_executed}}
              to: {to}
              coalesce: false
            """,
        batch_window="0.05s",
        ops_channel="ops",
        **delivery,
    )


def _save_by_rename(path: Path, text: str) -> None:
    """Save *text* the way most editors do: a new file renamed over."""
    fresh = path.with_suffix(".tmp")
    fresh.write_text(text, encoding="utf-8")
    fresh.replace(path)
    _age(path)


def _age(path: Path) -> None:
    # a file written this instant may still be being written: the
    # watcher waits until it has settled (0.2 s); date it back instead of
    # waiting
    past = time.time() - 1
    os.utime(path, (past, past))


def _titles(fake: FakeDiscord, webhook_id: str) -> list[str]:
    return [e.get("title", "") for e in fake.embeds(webhook_id)]


@pytest.fixture
def handler_for(
    make_routing: Callable[[str], Path],
    logger_with: Callable[..., logging.Logger],
) -> Callable[[str], tuple[Path, DiscordHandler, logging.Logger]]:
    def make(text: str) -> tuple[Path, DiscordHandler, logging.Logger]:
        path = make_routing(text)
        handler = DiscordHandler(path)
        return path, handler, logger_with(handler)

    return make


class _Calls:
    """How many times the worker ran one of its periodic jobs."""

    def __init__(self) -> None:
        self.n = 0

    def more(self, n: int) -> bool:
        """Wait until the job has run *n* more times from now."""
        target = self.n + n
        return wait_for(lambda: self.n >= target, WAIT)


@pytest.fixture
def reload_checks(monkeypatch: pytest.MonkeyPatch) -> _Calls:
    """
    Count the worker's looks at the routing file.

    Each one is a call of ``RoutingHolder.check`` by the worker's reload
    job, counted when it returns. The job posts the alert it returns in
    the same step of the worker's loop, before the loop can take a flush
    asked for after the count was seen.
    """
    calls = _Calls()
    check = routing_module.RoutingHolder.check

    def counted(holder: routing_module.RoutingHolder) -> str | None:
        try:
            return check(holder)
        finally:
            calls.n += 1

    monkeypatch.setattr(routing_module.RoutingHolder, "check", counted)
    return calls


@pytest.fixture
def report_periods(monkeypatch: pytest.MonkeyPatch) -> _Calls:
    """
    Count the periodic summaries the worker worked out.

    Each is a call of ``Ledger.report`` by the worker's report job,
    counted once it has returned: the summary is posted by then, or
    there was nothing to say.
    """
    calls = _Calls()
    report = Ledger.report

    def counted(ledger: Ledger, *args: Any, **kwargs: Any) -> Any:
        try:
            return report(ledger, *args, **kwargs)
        finally:
            calls.n += 1

    monkeypatch.setattr(Ledger, "report", counted)
    return calls


class TestReload:
    def test_edited_file_moves_the_next_trade_within_seconds(
        self,
        fake_discord: FakeDiscord,
        handler_for: Callable[..., Any],
    ) -> None:
        # the default check interval (2 s): the bound is 5 s
        path, handler, log = handler_for(_routing(fake_discord, "trades"))
        log.info("trade_executed", extra={"n": 1})
        assert fake_discord.wait_for(lambda f: len(f.embeds("2001")) == 1)

        _save_by_rename(path, _routing(fake_discord, "other"))
        started = time.monotonic()
        # the first trade logged after the edit that lands in 'other'
        n = 2
        while not fake_discord.embeds("2002"):
            assert time.monotonic() - started < 5.0, "not moved within 5 s"
            log.info("trade_executed", extra={"n": n})
            n += 1
            # the scenario's pace, one trade per tick of a trading loop;
            # not a wait for the reload: the loop ends when a trade lands
            time.sleep(0.05)
        handler.flush()

        assert (
            len(fake_discord.embeds("2001")) + len(fake_discord.embeds("2002"))
            == n - 1
        ), "every trade went somewhere, once"
        assert "to_other" == handler.config.routes[0].name
        assert [] == fake_discord.rejected

    def test_edit_in_place_is_noticed_too(
        self,
        fake_discord: FakeDiscord,
        handler_for: Callable[..., Any],
    ) -> None:
        path, handler, log = handler_for(
            _routing(fake_discord, "trades", reload="0.1s")
        )
        path.write_text(
            _routing(fake_discord, "other", reload="0.1s"), encoding="utf-8"
        )
        _age(path)
        assert wait_for(lambda: handler.config.routes[0].name == "to_other")
        log.info("trade_executed")
        handler.flush()
        assert 1 == len(fake_discord.embeds("2002"))
        assert [] == fake_discord.embeds("2001")

    def test_broken_edit_keeps_the_old_routing_and_says_so_once(
        self,
        fake_discord: FakeDiscord,
        handler_for: Callable[..., Any],
        capsys: pytest.CaptureFixture[str],
        reload_checks: _Calls,
    ) -> None:
        path, handler, log = handler_for(
            _routing(fake_discord, "trades", reload="0.1s")
        )
        broken = _routing(fake_discord, "trades", reload="0.1s").replace(
            "to: trades", "to: trdes"
        )
        _save_by_rename(path, broken)
        assert wait_for(lambda: bool(fake_discord.embeds("2003")))
        # several more checks of the same broken file: still said once
        assert reload_checks.more(MORE_CHECKS)
        log.info("trade_executed")
        handler.flush()  # and what those checks posted has arrived

        assert 1 == len(fake_discord.embeds("2001")), "old routing runs"
        alerts = fake_discord.embeds("2003")
        assert 1 == len(alerts)
        assert "not reloaded" in alerts[0]["title"]
        line = broken.splitlines().index("    to: trdes") + 1
        assert f"{path}:{line}: routes[0].to" in alerts[0]["description"]
        err = capsys.readouterr().err
        assert 1 == err.count("does not load")
        assert f"{path}:{line}: routes[0].to: unknown channel 'trdes'" in err

        # fixed again: routing moves on, and a new mistake is news again
        _save_by_rename(path, _routing(fake_discord, "other", reload="0.1s"))
        assert wait_for(lambda: handler.config.routes[0].name == "to_other")

    def test_reload_during_a_burst_loses_and_repeats_nothing(
        self,
        fake_discord: FakeDiscord,
        handler_for: Callable[..., Any],
    ) -> None:
        fake_discord.reset_rate_limits()
        path, handler, log = handler_for(
            _routing(fake_discord, "trades", reload="0.1s")
        )
        stop = threading.Event()
        reloads = [0]

        def edit() -> None:
            to = ["other", "trades"]
            while not stop.is_set():
                _save_by_rename(
                    path, _routing(fake_discord, to[0], reload="0.1s")
                )
                handler.reload()
                reloads[0] += 1
                to.reverse()

        editor = threading.Thread(target=edit)
        editor.start()
        try:
            for n in range(200):
                log.info("trade_executed", extra={"n": n})
                if n % 5 == 4:
                    # spread over many reloads: the worker has routed
                    # these five, and the file has changed since (each
                    # five, routed by one version or the other, is a coin
                    # toss: forty of them, so both channels get some)
                    seen = reloads[0]
                    assert wait_for(
                        lambda n=n, seen=seen: (
                            reloads[0] > seen
                            and handler.stats()["handled"] > n
                        )
                    )
        finally:
            stop.set()
            editor.join()
        handler.flush(timeout=60)
        assert fake_discord.wait_for(
            lambda f: len(f.embeds("2001")) + len(f.embeds("2002")) >= 200,
            60,
        )

        numbers = sorted(
            int(field["value"])
            for embed in fake_discord.embeds()
            for field in embed.get("fields", ())
            if field["name"] == "N"
        )
        assert list(range(200)) == numbers
        assert fake_discord.embeds("2001"), "some went to the first channel"
        assert fake_discord.embeds("2002"), "and some to the second"

    def test_explicit_reload_reads_changed_variables(
        self,
        fake_discord: FakeDiscord,
        handler_for: Callable[..., Any],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setenv(
            "TRADES_WEBHOOK", fake_discord.webhook_url("2001", "tok-trades")
        )
        text = routing_yaml(
            {"trades": "${TRADES_WEBHOOK}"},
            "- {name: all, to: trades, coalesce: false}",
            batch_window="0.05s",
            reload="off",
        )
        _, handler, log = handler_for(text)
        log.info("first")
        handler.flush()
        monkeypatch.setenv(
            "TRADES_WEBHOOK", fake_discord.webhook_url("2002", "tok-other")
        )
        handler.reload()
        log.info("second")
        handler.flush()

        assert ["First"] == _titles(fake_discord, "2001")
        assert ["Second"] == _titles(fake_discord, "2002")

    def test_explicit_reload_of_a_broken_file_raises_and_keeps_routing(
        self,
        fake_discord: FakeDiscord,
        handler_for: Callable[..., Any],
    ) -> None:
        path, handler, log = handler_for(
            _routing(fake_discord, "trades", reload="off")
        )
        path.write_text("version: 1\nchannels: [\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=rf"{path.name}:\d+"):
            handler.reload()
        log.info("trade_executed")
        handler.flush()
        assert 1 == len(fake_discord.embeds("2001"))

    def test_settings_that_need_a_restart_are_named(
        self,
        fake_discord: FakeDiscord,
        handler_for: Callable[..., Any],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        path, handler, _ = handler_for(
            _routing(fake_discord, "trades", reload="off")
        )
        path.write_text(
            _routing(
                fake_discord, "trades", reload="off", queue_size="5"
            ).replace("batch_window: 0.05s", "batch_window: 2s"),
            encoding="utf-8",
        )
        with caplog.at_level(logging.WARNING, "polybot_loghandler"):
            handler.reload()
        warned = " ".join(r.getMessage() for r in caplog.records)
        assert "delivery.queue_size, delivery.batch_window changed" in warned
        assert "restarts" in warned


class _CountingLoads:
    """Stands in for the pipeline's load_config, counting its calls."""

    def __init__(self, load: Callable[..., Any]) -> None:
        self.load = load
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.load(*args, **kwargs)


class TestHostileRoutingFiles:
    @pytest.mark.parametrize("case", HOSTILE_PARAMS)
    def test_handler_refuses_with_a_config_error(
        self, case: Hostile, make_routing: Callable[[str], Path]
    ) -> None:
        """DiscordHandler raises the located ConfigError, nothing else."""
        path = make_routing(case.text)

        with pytest.raises(ConfigError) as info:
            DiscordHandler(routing=path)

        assert str(info.value).startswith(f"{path}:")
        assert case.says in str(info.value)

    @pytest.mark.parametrize("case", HOSTILE_PARAMS)
    def test_live_reload_says_so_once_and_reads_it_once(  # noqa: PLR0917 - fixtures
        self,
        case: Hostile,
        fake_discord: FakeDiscord,
        handler_for: Callable[..., Any],
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        reload_checks: _Calls,
    ) -> None:
        """
        A hostile edit is reported once and not read again until changed.

        The old routing goes on; the watcher does not retry the broken
        version at every check (which once cost 70 % of a core).
        """
        path, handler, log = handler_for(
            _routing(fake_discord, "trades", reload="0.1s")
        )
        loads = _CountingLoads(routing_module.load_config)
        monkeypatch.setattr(routing_module, "load_config", loads)

        _save_by_rename(path, case.text)
        assert wait_for(lambda: bool(fake_discord.embeds("2003")))
        # several more checks of the same broken file: not read again
        assert reload_checks.more(MORE_CHECKS)
        log.info("trade_executed")
        handler.flush()  # and what those checks posted has arrived

        assert 1 == loads.calls
        assert 1 == len(fake_discord.embeds("2003"))
        assert f"{path}:" in fake_discord.embeds("2003")[0]["description"]
        err = capsys.readouterr().err
        assert 1 == err.count("does not load")
        assert case.says in err
        assert "Traceback" not in err
        assert 1 == len(fake_discord.embeds("2001")), "old routing runs"

    @pytest.mark.parametrize(
        "fault",
        [
            pytest.param(RecursionError("too deep"), id="recursion"),
            pytest.param(MemoryError(), id="memory"),
            pytest.param(ValueError("odd"), id="value"),
        ],
    )
    def test_any_failure_to_load_is_reported_once(  # noqa: PLR0917 - fixtures
        self,
        fault: Exception,
        fake_discord: FakeDiscord,
        handler_for: Callable[..., Any],
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        reload_checks: _Calls,
    ) -> None:
        """Not only a ConfigError: whatever a load raises is said once."""
        path, handler, _ = handler_for(
            _routing(fake_discord, "trades", reload="0.1s")
        )

        def broken(*_: Any, **__: Any) -> Any:
            raise fault

        original = routing_module.load_config
        loads = _CountingLoads(broken)
        monkeypatch.setattr(routing_module, "load_config", loads)
        _save_by_rename(path, _routing(fake_discord, "other", reload="0.1s"))
        assert wait_for(lambda: bool(fake_discord.embeds("2003")))
        # several more checks of the same broken file: not read again
        assert reload_checks.more(MORE_CHECKS)
        assert flushed(handler)  # what those checks posted has arrived

        assert 1 == loads.calls
        assert 1 == len(fake_discord.embeds("2003"))
        err = capsys.readouterr().err
        assert 1 == err.count("does not load")
        assert f"{path}:0: the routing file could not be loaded" in err
        assert type(fault).__name__ in err

        # the next edit is read again, and loads
        monkeypatch.setattr(routing_module, "load_config", original)
        _save_by_rename(path, _routing(fake_discord, "other", reload="0.1s"))
        assert wait_for(lambda: handler.config.routes[0].name == "to_other")

    @pytest.mark.parametrize(
        "name", ["laughs-list", "recursive-anchor-mapping", "deep-flow-list"]
    )
    def test_explicit_reload_raises_a_config_error(
        self,
        name: str,
        fake_discord: FakeDiscord,
        handler_for: Callable[..., Any],
    ) -> None:
        """reload() of a hostile file raises ConfigError; routing stays."""
        path, handler, log = handler_for(
            _routing(fake_discord, "trades", reload="off")
        )
        path.write_text(dict(HOSTILE)[name].text, encoding="utf-8")

        with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:"):
            handler.reload()
        log.info("trade_executed")
        handler.flush()
        assert 1 == len(fake_discord.embeds("2001"))


class TestSelfReport:
    def test_summary_of_the_counters_goes_to_the_report_channel(
        self,
        fake_discord: FakeDiscord,
        handler_for: Callable[..., Any],
        report_periods: _Calls,
    ) -> None:
        _, handler, log = handler_for(
            _routing(fake_discord, "trades", report="{every: 0.3s}")
        )
        for n in range(3):
            log.info("trade_executed", extra={"n": n})
        handler.flush()
        assert fake_discord.wait_for(
            lambda f: any(
                "Delivered" in str(e) and "3 events" in str(e)
                for e in f.embeds("2003")
            ),
            WAIT,
        )
        report = fake_discord.embeds("2003")[0]
        assert report["title"].startswith("📊 Discord delivery")
        # an idle period sends nothing more
        count = len(fake_discord.embeds("2003"))
        assert report_periods.more(3)  # three idle report periods
        assert flushed(handler)  # and what they posted has arrived
        assert count == len(fake_discord.embeds("2003"))
        assert [] == fake_discord.rejected

    def test_disabled_destination_is_reported_at_once(
        self,
        fake_discord: FakeDiscord,
        handler_for: Callable[..., Any],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        fake_discord.delete_webhook("2001")
        _, handler, log = handler_for(_routing(fake_discord, "trades"))
        log.info("trade_executed")
        handler.flush()
        assert fake_discord.wait_for(lambda f: len(f.embeds("2003")) >= 2)

        titles = _titles(fake_discord, "2003")
        assert "⛔ A Discord destination was disabled" in titles
        assert "⚠️ Discord delivery is dropping events" in titles
        text = str(fake_discord.embeds("2003"))
        assert "tok-trades" not in text
        assert "tok-trades" not in capsys.readouterr().err
