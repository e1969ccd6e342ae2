"""
Tests for DiscordHandler and DiscordProcessor, end to end in one process.

Most tests route with ``capture()``, which renders in the logging thread;
the ``TestConsole``, ``TestBackpressure`` and ``TestFork`` groups go
through the real background worker and the console sink.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import logging.config
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import structlog
from structlog.stdlib import ProcessorFormatter
from structlog.testing import CapturingLoggerFactory

from polybot_loghandler import (
    ConfigError,
    DiscordHandler,
    DiscordProcessor,
    PolybotError,
    _registry,
)
from polybot_loghandler.testing import RoutedMessage, capture
from tests.conftest import MINIMAL_ROUTING, SHIPPED_ROUTING
from tests.support.helpers import run_forked

THREAD_NAME = "polybot_loghandler.worker"
WAIT = 5.0  # seconds: a bound on waits for real threads, never reached

TRADE: dict[str, Any] = {
    "agent": "MomentumAlpha",
    "market": "BTC above 100k",
    "side": "YES",
    "is_paper": True,
    "amount": 20.0,
    "price": 0.5423,
}

CATCH_ALL_ROUTING = """\
version: 1
channels:
  everything: ""
routes:
  - name: everything
    to: everything
"""


def _fields(message: RoutedMessage) -> dict[str, str]:
    """
    Return the embed's fields as name → value.
    """
    return {f["name"]: f["value"] for f in message.embed.get("fields", ())}


def _channels(sent: list[RoutedMessage]) -> list[str]:
    """
    Return the channel of each captured message, in order.
    """
    return [m.channel for m in sent]


#: Two channels on the console, each taking its own event.
TWO_CONSOLE_CHANNELS = """\
version: 1
channels:
  alpha: ""
  beta: ""
routes:
  - {name: alpha, match: {event: alpha_event}, to: alpha}
  - {name: beta, match: {event: beta_event}, to: beta}
delivery:
  batch_window: 50ms
"""


def _with_delivery(delivery: str, routing: str = MINIMAL_ROUTING) -> str:
    """
    Return *routing* with a ``delivery:`` section added.
    """
    return routing + "delivery:\n" + delivery


def _worker_threads() -> list[threading.Thread]:
    """
    Return the live worker threads.
    """
    return [
        t
        for t in threading.enumerate()
        if t.name == THREAD_NAME and t.is_alive()
    ]


class Unprintable:
    """
    A field value whose ``__str__`` raises.
    """

    def __str__(self) -> str:
        raise RuntimeError("cannot show this value")

    def __repr__(self) -> str:
        raise RuntimeError("cannot show this value either")


class BlockingValue:
    """
    A field value whose ``__str__`` waits until the test releases it.
    """

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __str__(self) -> str:
        self.entered.set()
        self.release.wait(WAIT)
        return "released"


class GatedStream:
    """
    A text stream whose writes can be held until the test releases them.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch
        self.parts: list[str] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def install(self) -> None:
        """Become sys.stderr until the test ends."""
        self._monkeypatch.setattr(sys, "stderr", self)

    def hold(self) -> None:
        """Make the next write wait until release is set."""
        self.entered.clear()
        self.release.clear()

    def write(self, text: str) -> int:
        """Record *text*, waiting at the gate first."""
        self.entered.set()
        self.release.wait(WAIT)
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered."""

    def isatty(self) -> bool:
        """Not a terminal: no colours."""
        return False

    def getvalue(self) -> str:
        """Everything written so far."""
        return "".join(self.parts)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No routing or webhook settings leak in from the environment."""
    for name in list(os.environ):
        if name == "POLYBOT_ROUTING" or name.startswith("DISCORD_"):
            monkeypatch.delenv(name)


@pytest.fixture
def _structlog_defaults() -> Iterator[None]:
    """Restore structlog's configuration after the test."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def gated_stderr(monkeypatch: pytest.MonkeyPatch) -> Iterator[GatedStream]:
    """
    A GatedStream for sys.stderr, released after the test.

    Tests install it in their body: pytest puts its own capture back on
    sys.stderr between set-up and the test call.
    """
    stream = GatedStream(monkeypatch)
    yield stream
    stream.release.set()


def _dict_config(**handler: Any) -> None:
    """
    Configure logging with one DiscordHandler on the root logger.
    """
    logging.config.dictConfig(
        {
            "version": 1,
            # other tests' loggers must keep working
            "disable_existing_loggers": False,
            "handlers": {
                "discord": {
                    "class": "polybot_loghandler.DiscordHandler",
                    **handler,
                },
            },
            "root": {"level": "INFO", "handlers": ["discord"]},
        }
    )


class TestDoneWhen:
    """
    The issue's acceptance case: one dictConfig line, one paper trade.
    """

    @pytest.mark.parametrize(
        ("text", "expected_fields"),
        [
            pytest.param(
                MINIMAL_ROUTING,
                {
                    "Agent": "MomentumAlpha",
                    "Amount": "$20.00",
                    "Price": "0.5423",
                },
                id="test-routing",
            ),
            pytest.param(
                SHIPPED_ROUTING.read_text(encoding="utf-8"),
                {
                    "Agent": "MomentumAlpha",
                    "Market": "BTC above 100k",
                    "Side": "YES",
                    "Amount": "$20.00",
                    "Price": "0.5423",
                    "Mode": "📄 Paper Trading",
                },
                id="shipped-routing",
            ),
        ],
    )
    @pytest.mark.slow
    def test_paper_trade_reaches_both_channels(
        self,
        text: str,
        expected_fields: dict[str, str],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A paper trade goes to trades_executed and trades_paper."""
        (tmp_path / "routing.yaml").write_text(text, encoding="utf-8")
        monkeypatch.chdir(tmp_path)
        _dict_config(routing="routing.yaml")

        with capture() as sent:
            logging.getLogger("trader").info("trade_executed", extra=TRADE)

        assert ["trades_executed", "trades_paper"] == _channels(sent)
        for message in sent:
            fields = _fields(message)
            actual = {k: fields.get(k) for k in expected_fields}
            assert expected_fields == actual
            assert "Trade Executed" in message.embed["title"]
            expected_payload = {
                "allowed_mentions": {"parse": []},
                "embeds": [message.embed],
            }
            assert expected_payload == message.payload
            json.dumps(message.payload)  # the body is plain JSON

    def test_live_trade_reaches_the_live_channel(
        self, make_routing: Callable[..., Path]
    ) -> None:
        """is_paper=False goes to trades_live instead of trades_paper."""
        _dict_config(routing=str(make_routing()))

        with capture() as sent:
            logging.getLogger("trader").info(
                "trade_executed", extra={**TRADE, "is_paper": False}
            )

        assert ["trades_executed", "trades_live"] == _channels(sent)

    def test_routing_key_is_optional_in_dict_config(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without a routing key the handler uses ./routing.yaml."""
        (tmp_path / "routing.yaml").write_text(
            MINIMAL_ROUTING, encoding="utf-8"
        )
        monkeypatch.chdir(tmp_path)
        _dict_config()

        with capture() as sent:
            logging.getLogger("trader").info("trade_executed", extra=TRADE)

        assert ["trades_executed", "trades_paper"] == _channels(sent)

    def test_level_in_dict_config_is_respected(
        self, make_routing: Callable[..., Path]
    ) -> None:
        """A handler configured at WARNING ignores INFO trades."""
        _dict_config(routing=str(make_routing()), level="WARNING")

        with capture() as sent:
            logging.getLogger("trader").info("trade_executed", extra=TRADE)
            logging.getLogger("trader").warning("disk_low")

        assert ["alerts"] == _channels(sent)


class TestStructlogNative:
    """
    DiscordProcessor in a structlog-only chain.
    """

    @pytest.mark.usefixtures("_structlog_defaults")
    def test_forwards_once_and_renders_unchanged(
        self, make_routing: Callable[..., Path]
    ) -> None:
        """The event is routed once; the renderer sees it unchanged."""
        factory = CapturingLoggerFactory()
        structlog.configure(
            processors=[
                structlog.processors.add_log_level,
                DiscordProcessor(make_routing()),
                structlog.processors.JSONRenderer(sort_keys=True),
            ],
            logger_factory=factory,
            cache_logger_on_first_use=False,
        )

        with capture() as sent:
            structlog.get_logger().info("trade_executed", **TRADE)

        assert ["trades_executed", "trades_paper"] == _channels(sent)
        assert "$20.00" == _fields(sent[0])["Amount"]
        rendered = [json.loads(call.args[0]) for call in factory.logger.calls]
        assert [{"event": "trade_executed", "level": "info", **TRADE}] == (
            rendered
        )

    def test_returns_the_same_dict_unchanged(
        self, make_routing: Callable[..., Path]
    ) -> None:
        """The processor returns its argument, with the same contents."""
        processor = DiscordProcessor(make_routing())
        event_dict: dict[str, Any] = {"event": "trade_executed", **TRADE}
        event_dict["nested"] = {"fills": [1, 2]}
        before = copy.deepcopy(event_dict)

        with capture() as sent:
            returned = processor(None, "info", event_dict)

        assert returned is event_dict
        assert before == event_dict
        assert 2 == len(sent)

    def test_forwards_a_copy(self, make_routing: Callable[..., Path]) -> None:
        """Later processors changing the dict do not change what is sent."""
        processor = DiscordProcessor(make_routing())
        event_dict: dict[str, Any] = {"event": "trade_executed", **TRADE}

        with capture() as sent:
            processor(None, "info", event_dict)
        event_dict["agent"] = "changed later"
        del event_dict["amount"]

        assert "MomentumAlpha" == sent[0].event.fields["agent"]
        assert 20.0 == sent[0].event.fields["amount"]

    def test_level_comes_from_the_method_without_add_log_level(
        self, make_routing: Callable[..., Path]
    ) -> None:
        """Without a level key, the method name sets the level."""
        processor = DiscordProcessor(make_routing())

        with capture() as sent:
            processor(None, "warning", {"event": "disk_low"})
            processor(None, "info", {"event": "disk_ok"})

        assert ["alerts"] == _channels(sent)
        assert logging.WARNING == sent[0].event.level

    def test_each_call_is_judged_by_its_own_level(
        self, make_routing: Callable[..., Path]
    ) -> None:
        """
        The processor remembers its verdict per call site; a call site is
        the event, the level key, the method and the logger together, so
        a call differing in any of them is judged afresh.
        """
        processor = DiscordProcessor(make_routing())

        with capture() as sent:
            processor(None, "info", {"event": "disk", "level": "warning"})
            processor(None, "info", {"event": "disk", "level": "info"})
            processor(None, "info", {"event": "disk"})
            processor(None, "warning", {"event": "disk"})
            processor(None, "info", {"event": "disk", "level": "WARNING"})
            processor(None, "info", {"event": "disk", "level": "warning"})

        assert [logging.WARNING] * 4 == [m.event.level for m in sent]

    def test_each_call_is_judged_by_its_own_logger(
        self, make_routing: Callable[..., Path]
    ) -> None:
        """The logger's name, from the dict or the logger, is part of it."""
        processor = DiscordProcessor(
            make_routing(
                MINIMAL_ROUTING
                + "  - name: boss\n"
                + "    match: {logger: floor_boss}\n"
                + "    to: alerts\n"
            )
        )
        boss, other = logging.getLogger("floor_boss"), logging.getLogger("x")

        with capture() as sent:
            processor(boss, "info", {"event": "tick"})
            processor(other, "info", {"event": "tick"})
            processor(None, "info", {"event": "tick", "logger": "floor_boss"})
            processor(boss, "info", {"event": "tick", "logger": "x"})

        assert ["floor_boss", "floor_boss"] == [m.event.logger for m in sent]

    def test_an_event_that_is_not_a_string_is_read_every_time(
        self, make_routing: Callable[..., Path]
    ) -> None:
        """
        An event object may print differently from call to call, so its
        verdict is not remembered.
        """

        class Changing:
            names = iter(["tick", "trade_executed"])

            def __str__(self) -> str:
                return next(self.names)

        processor = DiscordProcessor(make_routing())
        event = Changing()

        with capture() as sent:
            processor(None, "info", {"event": event, **TRADE})
            processor(None, "info", {"event": event, **TRADE})

        assert ["trades_executed", "trades_paper"] == _channels(sent)

    def test_a_reload_forgets_what_the_old_routing_decided(
        self, make_routing: Callable[..., Path]
    ) -> None:
        """A call site no route wanted is taken once a new route wants it."""
        path = make_routing()
        processor = DiscordProcessor(path)
        with capture() as sent:
            processor(None, "info", {"event": "tick"})
        assert [] == sent

        path.write_text(
            MINIMAL_ROUTING
            + "  - name: ticks\n"
            + "    match: {event: tick}\n"
            + "    to: alerts\n",
            encoding="utf-8",
        )
        processor.reload()
        with capture() as sent:
            processor(None, "info", {"event": "tick"})

        assert ["alerts"] == _channels(sent)

    def test_a_field_name_that_is_not_a_string(
        self, make_routing: Callable[..., Path]
    ) -> None:
        """
        A field whose name is not a string is shown by its text, and a
        secret under it is still hidden.
        """
        processor = DiscordProcessor(make_routing())

        with capture() as sent:
            processor(
                None,
                "warning",
                {"event": "disk_low", 7: "seven", b"api_key": "hunter2"},
            )

        assert ["alerts"] == _channels(sent)
        fields = _fields(sent[0])
        assert "seven" == fields["7"]
        assert "hunter2" not in json.dumps(sent[0].payload)
        assert 0 == processor.stats().get("errors.internal", 0)

    def test_never_raises(self, make_routing: Callable[..., Path]) -> None:
        """A dict that cannot be routed is returned, not raised on."""
        processor = DiscordProcessor(make_routing())
        event_dict: dict[Any, Any] = {
            "event": Unprintable(),
            "level": Unprintable(),
            1: 2,
        }

        with capture():
            returned = processor(None, "info", event_dict)

        assert returned is event_dict

    @pytest.mark.usefixtures("_structlog_defaults")
    @pytest.mark.parametrize(
        "renderer",
        [
            pytest.param(
                structlog.dev.ConsoleRenderer(colors=False), id="console"
            ),
            pytest.param(structlog.processors.JSONRenderer(), id="json"),
            pytest.param(
                structlog.processors.JSONRenderer(
                    serializer=lambda d, **_: json.dumps(d).encode()
                ),
                id="json-bytes",
            ),
        ],
    )
    def test_after_the_renderer_it_says_where_it_belongs(
        self,
        renderer: Any,
        make_routing: Callable[..., Path],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """
        Placed after the renderer, it warns once and passes text on.

        It gets the rendered text, not the event dict, so it can send
        nothing: the warning names the fix.
        """
        factory = CapturingLoggerFactory()
        structlog.configure(
            processors=[
                structlog.processors.add_log_level,
                renderer,
                DiscordProcessor(make_routing()),
            ],
            logger_factory=factory,
            cache_logger_on_first_use=False,
        )

        with capture() as sent:
            structlog.get_logger().info("trade_executed", **TRADE)
            structlog.get_logger().warning("disk_low")

        assert [] == sent
        rendered = [call.args[0] for call in factory.logger.calls]
        assert len(rendered) == 2
        assert all(isinstance(text, (str, bytes)) for text in rendered)
        assert "trade_executed" in str(rendered[0])
        said = [
            line
            for line in capsys.readouterr().err.splitlines()
            if "DiscordProcessor" in line
        ]
        assert len(said) == 1, said
        assert "not an event dict" in said[0]
        assert (
            "put DiscordProcessor before the renderer in "
            "structlog.configure(processors=[...])"
            in said[0].lower()
            or "Put DiscordProcessor before the renderer in "
            "structlog.configure(processors=[...])"
            in said[0]
        )


@pytest.mark.usefixtures("_structlog_defaults")
class TestStructlogThroughLogging:
    """
    structlog feeding logging through ProcessorFormatter.wrap_for_formatter.
    """

    def _configure(self, *processors: Any) -> None:
        """
        Configure structlog to hand its events to logging.
        """
        structlog.configure(
            processors=[
                structlog.stdlib.add_log_level,
                *processors,
                ProcessorFormatter.wrap_for_formatter,
            ],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            cache_logger_on_first_use=False,
        )

    def test_handler_routes_the_event_dict(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
    ) -> None:
        """The handler reads fields from the event dict in record.msg."""
        self._configure()
        logger_with(DiscordHandler(make_routing()), "trader.struct")

        with capture() as sent:
            structlog.stdlib.get_logger("trader.struct").info(
                "trade_executed", **TRADE
            )

        assert ["trades_executed", "trades_paper"] == _channels(sent)
        assert {
            "Agent": "MomentumAlpha",
            "Amount": "$20.00",
            "Price": "0.5423",
        } == _fields(sent[0])
        assert dict(TRADE) == dict(sent[0].event.fields)
        assert "trader.struct" == sent[0].event.logger

    def test_exception_reaches_the_handler(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
    ) -> None:
        """log.exception() carries its traceback text through logging."""
        self._configure()
        logger_with(DiscordHandler(make_routing()), "trader.struct")

        with capture() as sent:
            try:
                int("order rejected")
            except ValueError:
                structlog.stdlib.get_logger("trader.struct").exception(
                    "order_failed"
                )

        assert ["alerts"] == _channels(sent)
        exception = sent[0].event.exception
        assert exception is not None
        assert exception.endswith(
            "ValueError: invalid literal for int() with base 10: "
            "'order rejected'"
        )

    def test_processor_and_handler_send_once(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
    ) -> None:
        """With both present, each channel gets the event exactly once."""
        path = make_routing()
        self._configure(DiscordProcessor(path))
        logger_with(DiscordHandler(path), "trader.struct")
        log = structlog.stdlib.get_logger("trader.struct")

        with capture() as sent:
            log.info("trade_executed", **TRADE)
            log.warning("disk_low")
            log.info("trade_executed", **TRADE)

        expected = [
            "trades_executed",
            "trades_paper",
            "alerts",
            "trades_executed",
            "trades_paper",
        ]
        assert expected == _channels(sent)

    def test_plain_records_still_pass_after_structlog_events(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
    ) -> None:
        """Skipping the processor's event does not skip the next record."""
        path = make_routing()
        self._configure(DiscordProcessor(path))
        stdlib_log = logger_with(DiscordHandler(path), "trader.struct")

        with capture() as sent:
            structlog.stdlib.get_logger("trader.struct").warning("disk_low")
            stdlib_log.warning("disk_low")

        assert ["alerts", "alerts"] == _channels(sent)


class TestIgnoredLoggers:
    """
    Delivery's own loggers never feed delivery.
    """

    @pytest.mark.parametrize(
        "name",
        [
            pytest.param("polybot_loghandler", id="self"),
            pytest.param("polybot_loghandler.worker", id="self-child"),
            pytest.param("httpx", id="httpx"),
            pytest.param("httpx._client", id="httpx-child"),
            pytest.param("httpcore", id="httpcore"),
            pytest.param("httpcore.connection", id="httpcore-child"),
        ],
    )
    def test_ignored(
        self,
        name: str,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
    ) -> None:
        """Records from these loggers are not routed, even by a catch-all."""
        path = make_routing(CATCH_ALL_ROUTING)
        log = logger_with(DiscordHandler(path), name)

        with capture() as sent:
            log.error("request_failed")
            DiscordProcessor(path)(
                None, "error", {"event": "x", "logger": name}
            )

        assert [] == sent

    @pytest.mark.parametrize(
        "name",
        [
            pytest.param("httpx_retry", id="prefix-only"),
            pytest.param("polybot_loghandler_extra", id="self-prefix-only"),
            pytest.param("myapp.httpx", id="nested-name"),
        ],
    )
    def test_similar_names_are_not_ignored(
        self,
        name: str,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
    ) -> None:
        """Only the loggers and their children are ignored, not look-alikes."""
        path = make_routing(CATCH_ALL_ROUTING)
        log = logger_with(DiscordHandler(path), name)

        with capture() as sent:
            log.error("request_failed")

        assert ["everything"] == _channels(sent)

    def test_root_handler_ignores_its_own_warnings(
        self, make_routing: Callable[..., Path]
    ) -> None:
        """On the root logger, the library's own warnings are not routed."""
        _dict_config(routing=str(make_routing(CATCH_ALL_ROUTING)))

        with capture() as sent:
            logging.getLogger("polybot_loghandler").warning("internal")
            logging.getLogger("app").warning("visible")

        assert ["visible"] == [m.event.event for m in sent]


class TestNeverRaises:
    """
    emit() never raises into the application, whatever it is given.
    """

    @pytest.fixture(autouse=True)
    def _strict_logging(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Make logging report handler errors, as during development."""
        monkeypatch.setattr(logging, "raiseExceptions", True)

    def test_mismatched_args(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A record whose %-args do not fit is still routed."""
        log = logger_with(DiscordHandler(make_routing()))

        with capture() as sent:
            # deliberately too few arguments
            log.warning("value %d of %d", "x")  # noqa: PLE1206

        assert ["alerts"] == _channels(sent)
        assert "value %d of %d" == sent[0].event.message
        assert "Logging error" not in capsys.readouterr().err

    def test_unprintable_field_in_a_template(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A field that cannot be shown costs its embed field only."""
        handler = DiscordHandler(make_routing())
        log = logger_with(handler)

        with capture() as sent:
            log.info("trade_executed", extra={**TRADE, "agent": Unprintable()})

        assert ["trades_executed", "trades_paper"] == _channels(sent)
        assert "$20.00" == _fields(sent[0])["Amount"]
        assert "<Unprintable>" == _fields(sent[0])["Agent"]
        assert "Logging error" not in capsys.readouterr().err
        assert handler.stats().get("errors.unprintable", 0) > 0

    def test_unprintable_field_in_the_default_embed(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A field that cannot be shown does not lose the whole event."""
        log = logger_with(DiscordHandler(make_routing()))

        with capture() as sent:
            log.warning("disk_low", extra={"detail": Unprintable()})

        assert ["alerts"] == _channels(sent)
        assert "Logging error" not in capsys.readouterr().err

    def test_route_template_that_raises(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A failing template marks its part; the message is still sent."""
        routing = make_routing(
            """\
version: 1
channels:
  trades: ""
routes:
  - name: broken_target
    match: {event: trade_executed}
    to: "{{ 1 // 0 }}"
    continue: true
  - name: broken_title
    match: {event: trade_executed}
    to: trades
    embed:
      title: "{{ amount / 0 }}"
      fields:
        - {name: Agent, value: "{{ agent }}"}
"""
        )
        handler = DiscordHandler(routing)
        log = logger_with(handler)

        with capture() as sent:
            log.info("trade_executed", extra=TRADE)

        assert ["trades"] == _channels(sent)
        assert "template error" in sent[0].embed["title"]
        assert {"Agent": "MomentumAlpha"} == _fields(sent[0])
        assert "Logging error" not in capsys.readouterr().err
        assert 2 == handler.stats().get("errors.template")

    @pytest.mark.slow
    def test_unprintable_field_in_the_worker_spares_its_batch(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
        gated_stderr: GatedStream,
    ) -> None:
        """Events handled with a bad one in the same batch still arrive."""
        handler = DiscordHandler(make_routing())
        log = logger_with(handler)
        gated_stderr.install()
        gated_stderr.hold()
        log.warning("first")
        assert gated_stderr.entered.wait(WAIT)
        # both wait in the queue, so the worker takes them as one batch
        log.warning("disk_low", extra={"detail": Unprintable()})
        log.warning("disk_ok")
        gated_stderr.release.set()
        handler.flush()

        err = gated_stderr.getvalue()
        assert "· first ·" in err
        assert "· disk_ok ·" in err


class TestSharedPipeline:
    """
    Every handler and processor of one routing file shares one pipeline.
    """

    def test_handlers_of_one_file_share_stats(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Handlers and processors of one file count into one pipeline."""
        path = make_routing(_with_delivery("  console: 'off'\n"))
        monkeypatch.chdir(tmp_path)
        first = DiscordHandler(path)
        second = DiscordHandler(path.name)  # the same file, relative
        processor = DiscordProcessor(str(path))
        logger_with(first, "one").info("trade_executed", extra=TRADE)
        logger_with(second, "two").info("trade_executed", extra=TRADE)
        processor(None, "info", {"event": "trade_executed", **TRADE})
        first.flush()

        assert 3 == first.stats()["handled"]
        assert first.stats() == second.stats() == processor.stats()
        assert 1 == len(_worker_threads())

    def test_different_files_do_not_share(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
    ) -> None:
        """A handler of another file has its own counters."""
        quiet = _with_delivery("  console: 'off'\n")
        first = DiscordHandler(make_routing(quiet))
        second = DiscordHandler(make_routing(quiet))
        logger_with(first).info("trade_executed", extra=TRADE)
        first.flush()
        second.flush()

        assert (1, 0) == (
            first.stats()["handled"],
            second.stats()["handled"],
        )


@pytest.mark.parametrize("front", [DiscordHandler, DiscordProcessor])
def test_both_fronts_tell_their_routing(
    front: type[DiscordHandler | DiscordProcessor],
    make_routing: Callable[..., Path],
) -> None:
    """``config`` and ``stats()`` read the same on a handler and a processor;
    one whose routing failed says so instead of raising AttributeError."""
    path = make_routing()
    made = front(path)
    unmade = front.__new__(front)  # what a failed construction leaves

    assert str(path) == made.config.path
    assert {} == unmade.stats()
    with pytest.raises(PolybotError, match=f"this {front.__name__} has no"):
        unmade.config  # noqa: B018 - the property is the test


class TestDefaultRouting:
    """
    With no routing given: $POLYBOT_ROUTING, ./routing.yaml, the shipped one.
    """

    def _write(self, directory: Path, channel: str) -> Path:
        """
        Write a routing file whose only channel is *channel*.
        """
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "routing.yaml"
        path.write_text(
            f'version: 1\nchannels:\n  {channel}: ""\nroutes: []\n',
            encoding="utf-8",
        )
        return path

    @pytest.mark.parametrize(
        "make",
        [
            pytest.param(DiscordHandler, id="handler"),
            pytest.param(DiscordProcessor, id="processor"),
        ],
    )
    def test_environment_variable_wins(
        self,
        make: Callable[[], DiscordHandler | DiscordProcessor],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """$POLYBOT_ROUTING is used even when ./routing.yaml exists."""
        from_env = self._write(tmp_path / "env", "from_env")
        self._write(tmp_path / "cwd", "from_cwd")
        monkeypatch.chdir(tmp_path / "cwd")
        monkeypatch.setenv("POLYBOT_ROUTING", str(from_env))

        made = make()

        assert ["from_env"] == list(made._pipeline.config.channels)

    def test_working_directory(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without the variable, ./routing.yaml is used."""
        self._write(tmp_path, "from_cwd")
        monkeypatch.chdir(tmp_path)

        assert ["from_cwd"] == list(DiscordHandler().config.channels)

    def test_empty_variable_is_unset(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An empty $POLYBOT_ROUTING falls through to ./routing.yaml."""
        self._write(tmp_path, "from_cwd")
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("POLYBOT_ROUTING", "")

        assert ["from_cwd"] == list(DiscordHandler().config.channels)

    @pytest.mark.slow
    def test_shipped_routing(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With neither, the routing that ships with the library is used."""
        monkeypatch.chdir(tmp_path)

        handler = DiscordHandler()

        shipped = SHIPPED_ROUTING.read_text(encoding="utf-8")
        used = Path(handler.config.path).read_text(encoding="utf-8")
        assert shipped == used
        assert Path(handler.config.path).is_absolute()

    @pytest.mark.slow
    def test_shipped_routing_routes_a_trade(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        logger_with: Callable[..., logging.Logger],
    ) -> None:
        """The default handler routes the Done-when trade."""
        monkeypatch.chdir(tmp_path)
        log = logger_with(DiscordHandler())

        with capture() as sent:
            log.info("trade_executed", extra=TRADE)

        assert ["trades_executed", "trades_paper"] == _channels(sent)

    def test_missing_file_fails_at_construction(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A routing file that is not there is a ConfigError up front."""
        monkeypatch.setenv("POLYBOT_ROUTING", str(tmp_path / "nope.yaml"))

        with pytest.raises(ConfigError) as caught:
            DiscordHandler()

        assert "nope.yaml" in str(caught.value)


class TestLevel:
    """
    The handler's level is respected like any handler's.
    """

    @pytest.mark.parametrize(
        "level",
        [
            pytest.param(logging.ERROR, id="int"),
            pytest.param("ERROR", id="name"),
        ],
    )
    def test_records_below_the_level_are_not_routed(
        self,
        level: int | str,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
    ) -> None:
        """A WARNING record does not reach an ERROR handler."""
        log = logger_with(DiscordHandler(make_routing(), level=level))

        with capture() as sent:
            log.warning("disk_low")
            log.error("disk_full")

        assert ["disk_full"] == [m.event.event for m in sent]

    def test_set_level_later(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
    ) -> None:
        """setLevel after construction applies too."""
        handler = DiscordHandler(make_routing())
        log = logger_with(handler)
        handler.setLevel(logging.ERROR)

        with capture() as sent:
            log.warning("disk_low")

        assert [] == sent

    def test_filters_are_respected(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
    ) -> None:
        """A handler filter that rejects a record keeps it from routing."""
        handler = DiscordHandler(make_routing())
        handler.addFilter(lambda record: record.msg != "disk_low")
        log = logger_with(handler)

        with capture() as sent:
            log.warning("disk_low")
            log.warning("disk_full")

        assert ["disk_full"] == [m.event.event for m in sent]


ROOT_LEVEL_FIX = "logging.getLogger().setLevel(logging.INFO)"
WARNINGS_ONLY = """\
version: 1
channels:
  alerts: ""
routes:
  - name: warnings
    match: {level: warning}
    to: alerts
"""


@pytest.fixture
def plain_loggers() -> Iterator[None]:
    """
    No logger but the root has a level of its own, as in a new program.

    Loggers other tests or libraries set lower let their records reach
    the root's handlers, which silences the root level warning; their
    levels are put back after the test.
    """
    manager = logging.getLogger().manager
    lowered = {
        logger: logger.level
        for logger in list(manager.loggerDict.values())
        if isinstance(logger, logging.Logger) and logger.level
    }
    for logger in lowered:
        logger.setLevel(logging.NOTSET)
    yield
    for logger, level in lowered.items():
        logger.setLevel(level)


def _root_level_said(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> list[str]:
    """
    The root level warnings said: on stderr or on our logger.

    pytest's own handler on the root logger shows our logger's records,
    so what is said from the worker or at close is logged, not printed.
    """
    lines = capsys.readouterr().err.splitlines()
    lines += [r.getMessage() for r in caplog.records]
    return [line for line in lines if "on the root logger" in line]


@pytest.mark.usefixtures("plain_loggers")
class TestRootLevel:
    """
    ``logging.getLogger().addHandler(DiscordHandler())`` alone.

    The root logger's default level, WARNING, drops info events before
    any handler sees them; the handler says so once, naming the fix.
    """

    @pytest.mark.slow  # the worker's check runs every second
    def test_the_worker_says_it_once(
        self,
        make_routing: Callable[..., Path],
        capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """An info route and a WARNING root: said once, with the fix."""
        root = logging.getLogger()
        root.setLevel(logging.WARNING)
        handler = DiscordHandler(make_routing())
        root.addHandler(handler)
        log = logging.getLogger("trader")
        err = ""
        try:
            log.info("trade_executed", extra=TRADE)
            log.warning("disk_low")  # the worker starts
            handler.flush()
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline:
                err += capsys.readouterr().err
                if "on the root logger" in err + caplog.text:
                    break
                time.sleep(0.05)  # bounded poll: the check is once a second
            before_close = "on the root logger" in err + caplog.text
            _registry.reset_pipelines()  # it is not said again at close
        finally:
            root.removeHandler(handler)
        print(err, file=sys.stderr, end="")  # for _root_level_said
        said = _root_level_said(capsys, caplog)

        assert before_close, "the worker's check said nothing"
        assert len(said) == 1, said
        assert ROOT_LEVEL_FIX in said[0]
        assert "level=logging.WARNING" in said[0]

    def test_warns_at_close_when_nothing_got_through(
        self,
        make_routing: Callable[..., Path],
        capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """Only info events, all lost: said when the handler closes."""
        root = logging.getLogger()
        root.setLevel(logging.WARNING)
        root.addHandler(DiscordHandler(make_routing()))

        with capture() as sent:
            logging.getLogger("trader").info("trade_executed", extra=TRADE)
        assert [] == _root_level_said(capsys, caplog)  # not yet
        _registry.reset_pipelines()

        assert [] == sent
        said = _root_level_said(capsys, caplog)
        assert len(said) == 1, said
        assert ROOT_LEVEL_FIX in said[0]

    @pytest.mark.parametrize(
        ("routing", "root_level", "handler_level", "trader_level", "on"),
        [
            pytest.param(
                MINIMAL_ROUTING, logging.INFO, 0, 0, "", id="root-at-info"
            ),
            pytest.param(
                MINIMAL_ROUTING,
                logging.WARNING,
                logging.WARNING,
                0,
                "",
                id="handler-at-warning",
            ),
            pytest.param(
                MINIMAL_ROUTING,
                logging.WARNING,
                0,
                logging.INFO,
                "",
                id="logger-at-info",
            ),
            pytest.param(
                WARNINGS_ONLY, logging.WARNING, 0, 0, "", id="warning-routes"
            ),
            pytest.param(
                MINIMAL_ROUTING,
                logging.WARNING,
                0,
                logging.INFO,
                "trader",
                id="not-on-root",
            ),
        ],
    )
    def test_quiet_when_nothing_is_hidden(
        self,
        make_routing: Callable[..., Path],
        capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture,
        *,
        routing: str,
        root_level: int,
        handler_level: int,
        trader_level: int,
        on: str,
    ) -> None:
        """Levels set where the events are wanted are no mistake."""
        root = logging.getLogger()
        root.setLevel(root_level)
        trader = logging.getLogger("trader")
        trader.setLevel(trader_level)
        handler = DiscordHandler(make_routing(routing), level=handler_level)
        holder = logging.getLogger(on)
        holder.addHandler(handler)
        try:
            with capture():
                trader.info("trade_executed", extra=TRADE)
                trader.warning("disk_low")
            handler.flush()
            _registry.reset_pipelines()
        finally:
            holder.removeHandler(handler)
            trader.setLevel(logging.NOTSET)

        assert [] == _root_level_said(capsys, caplog)


class TestConsole:
    """
    Without capture, the worker renders messages on the console.
    """

    def test_messages_appear_on_stderr_after_flush(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """flush() returns once the worker has printed the messages."""
        handler = DiscordHandler(make_routing())
        log = logger_with(handler)

        log.info("trade_executed", extra=TRADE)
        handler.flush()

        out, err = capsys.readouterr()
        assert "" == out
        assert "#trades-executed · trade_executed · route trades" in err
        assert "#trades-paper · trade_executed · route trades" in err
        assert "Agent: MomentumAlpha" in err
        assert "Amount: $20.00" in err
        stats = handler.stats()
        expected = {"handled": 1, "console": 2, "queued": 0}
        assert expected == {k: stats.get(k) for k in expected}

    def test_worker_thread_is_a_named_daemon(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
    ) -> None:
        """Delivery runs on one daemon thread, polybot_loghandler.worker."""
        quiet = _with_delivery("  console: 'off'\n")
        handler = DiscordHandler(make_routing(quiet))
        log = logger_with(handler)

        log.info("trade_executed", extra=TRADE)
        handler.flush()

        assert [True] == [t.daemon for t in _worker_threads()]

    def test_no_thread_until_something_is_routed(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
    ) -> None:
        """Without reloading, unrouted records start nothing."""
        handler = DiscordHandler(
            make_routing(_with_delivery("  reload: off\n"))
        )
        log = logger_with(handler)

        log.info("nothing_routes_this")

        assert [] == _worker_threads()

    def test_watching_the_routing_file_starts_the_thread(
        self,
        make_routing: Callable[..., Path],
    ) -> None:
        """The worker watches the file for edits from the start."""
        DiscordHandler(make_routing())

        assert [True] == [t.daemon for t in _worker_threads()]

    def test_stdout(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """delivery.console: stdout prints there instead."""
        handler = DiscordHandler(
            make_routing(_with_delivery("  console: stdout\n"))
        )
        logger_with(handler).warning("disk_low")
        handler.flush()

        out, err = capsys.readouterr()
        assert "#alerts · disk_low · route warnings" in out
        assert "" == err

    def test_off_prints_nothing(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """delivery.console: off prints nothing, yet events are handled."""
        handler = DiscordHandler(
            make_routing(_with_delivery("  console: 'off'\n"))
        )
        logger_with(handler).info("trade_executed", extra=TRADE)
        handler.flush()

        assert ("", "") == tuple(capsys.readouterr())
        assert 1 == handler.stats()["handled"]

    def test_channels_interleave_in_the_order_logged(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """The console is one lane: boxes follow the log, not the channel."""
        handler = DiscordHandler(make_routing(TWO_CONSOLE_CHANNELS))
        log = logger_with(handler)
        for n in range(3):
            log.info("alpha_event", extra={"n": n})
            log.info("beta_event", extra={"n": n})
        handler.flush()

        heads = [
            line.split(" · ")[0]
            for line in capsys.readouterr().err.splitlines()
            if line.startswith("┌─ ")
        ]
        assert ["┌─ #alpha", "┌─ #beta"] * 3 == heads

    def test_per_channel_limit(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """
        delivery.console_per_channel shows the first of each channel,
        counts the rest in stats(), and lists them at exit.
        """
        routing = TWO_CONSOLE_CHANNELS + "  console_per_channel: 1\n"
        handler = DiscordHandler(make_routing(routing))
        log = logger_with(handler)
        for n in range(3):
            log.info("alpha_event", extra={"n": n})
        log.info("beta_event")
        handler.flush()
        stats = handler.stats()
        _registry.reset_pipelines()  # what the exit does

        err = capsys.readouterr().err
        assert 2 == err.count("┌─ ")
        assert (2, 2) == (stats["console"], stats["console.not_shown"])
        assert (
            "polybot_loghandler: 2 messages not shown on the console "
            "(delivery.console_per_channel: 1):\n  2 #alpha\n"
        ) in err

    def test_unmatched_is_counted(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """An event no route takes in the end is counted as unmatched."""
        routing = make_routing(
            """\
version: 1
channels:
  big: ""
routes:
  - name: big_trades
    match: {event: trade_executed, when: "amount > 100"}
    to: big
"""
        )
        handler = DiscordHandler(routing)
        logger_with(handler).info("trade_executed", extra=TRADE)
        handler.flush()

        assert 1 == handler.stats().get("unmatched")
        assert "" == capsys.readouterr().err

    def test_close_flushes(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Closing the handler delivers what it accepted first."""
        handler = DiscordHandler(make_routing())
        logger_with(handler).warning("disk_low")

        handler.close()

        assert "#alerts · disk_low" in capsys.readouterr().err


class TestBackpressure:
    """
    A stuck worker never blocks the application.
    """

    ROUTING = _with_delivery("  queue_size: 1\n  flush_timeout: 0.3s\n")

    @pytest.mark.slow
    def test_full_queue_drops_and_counts(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
        gated_stderr: GatedStream,
    ) -> None:
        """
        With the worker stuck, log calls return at once and drop.

        Warnings may use twice *queue_size* in the worker's queue, and
        the delivery queue keeps the newest of the lowest level.
        """
        handler = DiscordHandler(make_routing(self.ROUTING))
        log = logger_with(handler)
        gated_stderr.install()
        gated_stderr.hold()
        log.warning("first")
        assert gated_stderr.entered.wait(WAIT)

        started = time.monotonic()
        for n in range(10):
            log.warning("next", extra={"n": n})
        elapsed = time.monotonic() - started

        assert elapsed < 1.0
        assert 8 == handler.stats().get("dropped.queue_full")
        gated_stderr.release.set()
        handler.flush()
        assert 3 == handler.stats()["handled"]
        assert 9 == handler.stats().get("dropped.queue_full")
        assert "N: 1" in gated_stderr.getvalue()
        assert "N: 0" not in gated_stderr.getvalue()

    @pytest.mark.slow
    def test_flush_returns_within_the_timeout_when_stuck(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
        gated_stderr: GatedStream,
    ) -> None:
        """flush() and close() give up after delivery.flush_timeout."""
        handler = DiscordHandler(make_routing(self.ROUTING))
        log = logger_with(handler)
        gated_stderr.install()
        gated_stderr.hold()
        log.warning("first")
        assert gated_stderr.entered.wait(WAIT)

        started = time.monotonic()
        handler.flush()
        flushed = time.monotonic() - started
        started = time.monotonic()
        handler.close()
        closed = time.monotonic() - started

        assert 0.3 <= flushed < 2.0
        assert 0.3 <= closed < 2.0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
class TestFork:
    """
    A child forked after the worker started gets a fresh worker.
    """

    parent: ClassVar[set[int | None]] = set()  # the parent's worker ids

    @staticmethod
    def _fork(child: Callable[[], int]) -> int:
        """Run *child* in a forked process; return its exit status."""
        return run_forked(child, 4 * WAIT)

    @staticmethod
    def _child_logs(handler: DiscordHandler, log: logging.Logger) -> int:
        """
        In the child: log, flush, and say by exit status what happened.
        """
        # the child may have started its own worker already (to watch
        # the routing file); none of the parent's may be here
        parent_threads = [
            t for t in _worker_threads() if t.native_id in TestFork.parent
        ]
        buffer = io.StringIO()
        sys.stderr = buffer
        log.warning("from_child")
        handler.flush()
        threads = _worker_threads()
        if parent_threads:
            return 2  # the parent's thread should not exist here
        if len(threads) != 1:
            return 3
        if "· from_child ·" not in buffer.getvalue():
            return 4
        return 0

    def test_child_event_is_handled_by_a_fresh_worker(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """The child's event is printed by the child's own worker."""
        handler = DiscordHandler(
            make_routing(_with_delivery("  flush_timeout: 5s\n"))
        )
        log = logger_with(handler)
        log.warning("from_parent")
        handler.flush()
        assert 1 == len(_worker_threads())

        TestFork.parent = {t.native_id for t in _worker_threads()}
        status = self._fork(lambda: self._child_logs(handler, log))

        assert 0 == status
        assert "· from_parent ·" in capsys.readouterr().err
        assert 1 == len(_worker_threads())

    def test_a_subprocess_starts_no_thread_before_its_exec(
        self,
        make_routing: Callable[..., Path],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """
        The child of subprocess's fork runs no worker until its exec.

        With a ``preexec_fn``, the fork handlers run in that child: a
        worker started there would deliver (and write to the parent's
        stderr) until the exec replaced it.
        """
        handler = DiscordHandler(
            make_routing(_with_delivery("  reload: 1s\n"))
        )
        assert 1 == len(_worker_threads())  # it watches the routing file

        def before_exec() -> None:
            if _worker_threads():
                raise RuntimeError("a worker runs in the child")

        subprocess.run(
            [sys.executable, "-c", "pass"],
            preexec_fn=before_exec,  # the point of the test
            check=True,
        )
        handler.close()
        assert "" == capsys.readouterr().err

    @pytest.mark.slow
    def test_fork_while_the_worker_is_printing(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
        gated_stderr: GatedStream,
    ) -> None:
        """A child forked mid-delivery still delivers its own events."""
        handler = DiscordHandler(
            make_routing(_with_delivery("  flush_timeout: 2s\n"))
        )
        log = logger_with(handler)
        gated_stderr.install()
        gated_stderr.hold()
        log.warning("from_parent")
        assert gated_stderr.entered.wait(WAIT)

        TestFork.parent = {t.native_id for t in _worker_threads()}
        status = self._fork(lambda: self._child_logs(handler, log))

        gated_stderr.release.set()
        handler.flush()
        assert 0 == status
        assert "· from_parent ·" in gated_stderr.getvalue()

    def test_child_does_not_repeat_the_parents_queue(
        self,
        make_routing: Callable[..., Path],
        logger_with: Callable[..., logging.Logger],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Events the parent queued are the parent's to deliver, once."""
        handler = DiscordHandler(
            make_routing(_with_delivery("  flush_timeout: 5s\n"))
        )
        log = logger_with(handler)
        gate = BlockingValue()
        log.warning("blocker", extra={"gate": gate})
        assert gate.entered.wait(WAIT)
        log.warning("pending_in_parent")

        def child() -> int:
            buffer = io.StringIO()
            sys.stderr = buffer
            log.warning("from_child")
            handler.flush()
            printed = buffer.getvalue()
            if "· from_child ·" not in printed:
                return 4
            if "· pending_in_parent ·" in printed:
                return 5  # a second copy of the parent's event
            return 0

        try:
            status = self._fork(child)
        finally:
            gate.release.set()
        handler.flush()
        assert 0 == status
        assert "· pending_in_parent ·" in capsys.readouterr().err
