"""
Tests for the routing in use (``_routing.py``).

The holder swaps a whole :class:`Routing` on reload; a file that does
not load leaves the old one and is told once per distinct error. Files
are given an mtime in the past, so the watch never waits for an editor
to finish saving: nothing here sleeps.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from polybot_loghandler import _routing as routing_module
from polybot_loghandler._config import load_config
from polybot_loghandler._diagnostics import Diagnostics
from polybot_loghandler._events import RawEvent
from polybot_loghandler._routing import Routing, RoutingHolder, is_ignored
from polybot_loghandler._stats import Stats
from polybot_loghandler.exceptions import ConfigError, PolybotError
from tests.support.helpers import routing_yaml

ROUTE = "- {name: trades, match: {event: trade_executed}, to: %s}\n"
#: a route to a channel that is not declared: does not load (line 3)
BROKEN = "version: 1\nchannels: {a: ''}\nroutes: [{to: nowhere}]\n"


def _write(path: Path, text: str, age: float = 10.0) -> None:
    """Write *text*, dated *age* seconds ago (long settled)."""
    path.write_text(text, encoding="utf-8")
    then = time.time() - age
    os.utime(path, (then, then))


def _raw(event: str = "trade_executed", **fields: object) -> RawEvent:
    return (event, logging.INFO, "app", time.time(), fields, None, None)


class Rig:
    def __init__(self, tmp_path: Path, to: str = "a") -> None:
        self.path = tmp_path / "routing.yaml"
        _write(self.path, routing_yaml({"a": "", "b": ""}, ROUTE % to))
        self.stats = Stats()
        self.holder = RoutingHolder(
            load_config(self.path), str(self.path), self.stats, Diagnostics()
        )

    def channels(self, event: str = "trade_executed") -> list[str]:
        return [m.channel for m in self.holder.process(_raw(event))]


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


class TestReload:
    def test_an_unchanged_file_is_not_read_again(self, rig: Rig) -> None:
        before = rig.holder.current

        assert rig.holder.check() is None
        assert before is rig.holder.current

    def test_a_changed_file_is_swapped_in_whole(self, rig: Rig) -> None:
        before = rig.holder.current
        _write(rig.path, routing_yaml({"a": "", "b": ""}, ROUTE % "b"))

        assert rig.holder.check() is None
        assert before is not rig.holder.current
        assert rig.holder.router is rig.holder.current.router
        assert ["b"] == rig.channels()

    def test_a_file_being_saved_waits_for_the_next_check(
        self, rig: Rig
    ) -> None:
        _write(rig.path, routing_yaml({"a": "", "b": ""}, ROUTE % "b"), 0)

        assert rig.holder.check() is None
        assert ["a"] == rig.channels()

    def test_a_broken_file_is_told_once_and_the_old_one_stays(
        self, rig: Rig, capsys: pytest.CaptureFixture[str]
    ) -> None:
        _write(
            rig.path,
            "version: 1\nchannels: {a: ''}\nroutes: [{to: nowhere}]\n",
        )

        told = rig.holder.check()
        again = rig.holder.check()

        assert told is not None
        assert "routing.yaml:3" in told
        assert again is None
        assert ["a"] == rig.channels()
        assert 1 == capsys.readouterr().err.count("does not load")

    def test_the_same_mistake_after_a_good_file_is_news_again(
        self, rig: Rig
    ) -> None:
        _write(rig.path, BROKEN, 30)
        assert rig.holder.check() is not None
        _write(rig.path, routing_yaml({"a": "", "b": ""}, ROUTE % "b"), 20)
        assert rig.holder.check() is None
        _write(rig.path, BROKEN + "\n", 10)

        assert rig.holder.check() is not None

    @pytest.mark.parametrize(
        "fault", [RecursionError("deep"), MemoryError(), ValueError("odd")]
    )
    def test_any_failure_to_load_is_a_config_error(
        self, rig: Rig, fault: Exception, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broken(*_: object) -> None:
            raise fault

        monkeypatch.setattr(routing_module, "load_config", broken)
        _write(rig.path, routing_yaml({"a": ""}, ROUTE % "a") + "\n")

        told = rig.holder.check()

        assert told is not None
        assert f"{rig.path}:0: the routing file could not be loaded" in told
        assert type(fault).__name__ in told

    def test_a_fixed_setting_changed_is_said_to_need_a_restart(
        self, rig: Rig, caplog: pytest.LogCaptureFixture
    ) -> None:
        _write(
            rig.path,
            routing_yaml({"a": ""}, ROUTE % "a", queue_size="5"),
        )

        rig.holder.check()

        err = caplog.text
        assert "delivery.queue_size changed" in err
        assert "only takes effect when the process restarts" in err

    def test_reload_on_demand_raises_what_the_file_says(
        self, rig: Rig
    ) -> None:
        _write(rig.path, BROKEN)

        with pytest.raises(ConfigError):
            rig.holder.reload()
        assert ["a"] == rig.channels()
        _write(rig.path, routing_yaml({"a": "", "b": ""}, ROUTE % "b"))

        assert rig.holder.reload() is rig.holder.config
        assert ["b"] == rig.channels()

    def test_a_routing_not_from_a_file_cannot_reload(self, rig: Rig) -> None:
        holder = RoutingHolder(rig.holder.config, None, Stats(), Diagnostics())

        assert not holder.watched
        assert holder.check() is None
        with pytest.raises(PolybotError, match="not loaded from a file"):
            holder.reload()


class TestProcess:
    def test_an_event_no_route_takes_is_counted(self, rig: Rig) -> None:
        assert [] == rig.channels("something_else")
        assert 1 == rig.stats.get("unmatched")

    def test_an_undeclared_channel_is_counted_and_warned_once(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        rig = Rig(tmp_path, to="'{{ fields.where }}'")

        for _ in range(2):
            rig.holder.process(_raw(where="nowhere"))

        assert 2 == rig.stats.get("dropped.unknown_channel")
        told = [r for r in caplog.records if "nowhere" in r.getMessage()]
        assert 1 == len(told)

    def test_a_to_that_chooses_nothing_is_counted(
        self, tmp_path: Path
    ) -> None:
        rig = Rig(tmp_path, to="'{{ fields.where }}'")

        assert [] == rig.holder.process(_raw(where=""))
        assert 1 == rig.stats.get("dropped.no_channel")

    def test_an_event_that_cannot_be_read_is_counted(self, rig: Rig) -> None:
        broken: RawEvent = ("e", "not a level", None, None, None, None, None)  # type: ignore[assignment]

        assert [] == rig.holder.process(broken)
        assert 1 == rig.stats.get("dropped.unrenderable")


def test_shared_destinations_label_their_embeds(tmp_path: Path) -> None:
    url = "https://discord.com/api/webhooks/1/abc"
    path = tmp_path / "routing.yaml"
    _write(path, routing_yaml({"a": url, "b": url, "c": ""}, ROUTE % "a"))

    routing = Routing.of(load_config(path))

    assert frozenset({"a", "b"}) == routing.labelled


@pytest.mark.parametrize(
    ("logger", "ignored"),
    [
        ("polybot_loghandler", True),
        ("polybot_loghandler.worker", True),
        ("httpx", True),
        ("httpcore.http11", True),
        ("httpxyz", False),
        ("app", False),
        ("", False),
    ],
)
def test_our_own_loggers_never_feed_delivery(
    logger: str, ignored: bool
) -> None:
    assert ignored == is_ignored(logger)
