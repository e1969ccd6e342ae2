"""
Tests for LogEvent and how it is captured from each of its three sources.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polybot_loghandler._events import (
    LogEvent,
    capture_event_dict,
    capture_record,
    dict_fields,
    dict_level,
    format_exception,
    record_fields,
    redact_value,
)
from polybot_loghandler._text import REDACTED, looks_secret


def _record(
    msg: Any = "trade_executed",
    args: Any = (),
    *,
    level: int = logging.INFO,
    name: str = "trader",
    extra: dict[str, Any] | None = None,
    exc_info: Any = None,
    stack_info: str | None = None,
) -> logging.LogRecord:
    """
    Return a record made the way ``Logger._log`` makes one.
    """
    logger = logging.getLogger(name)
    record = logger.makeRecord(
        name, level, __file__, 1, msg, args, exc_info, extra=extra
    )
    record.stack_info = stack_info
    return record


def _fail(exc: BaseException) -> None:
    """
    Raise *exc*.
    """
    raise exc


def _raised(exc: BaseException) -> BaseException:
    """
    Return *exc* after raising and catching it, so it has a traceback.
    """
    try:
        _fail(exc)
    except BaseException as caught:
        return caught
    raise AssertionError  # unreachable: _fail always raises


def _long_chain() -> None:
    """
    Raise an exception whose traceback is far longer than the trim limit.
    """
    try:
        _fail(KeyError("\n".join(f"context line {n}" for n in range(2000))))
    except KeyError as exc:
        raise ValueError("the last line") from exc


class TestRecordFields:
    """
    record_fields returns exactly the ``extra`` attributes of a record.
    """

    def test_plain_record_has_no_fields(self) -> None:
        """A record logged without extra has no fields."""
        assert {} == record_fields(_record())

    def test_extra_attributes_are_the_fields(self) -> None:
        """Every extra attribute, and nothing else, is a field."""
        extra = {"agent": "A", "is_paper": True, "amount": 20.0}

        assert extra == record_fields(_record(extra=extra))

    def test_attributes_set_by_formatting_are_not_fields(self) -> None:
        """``message`` and ``asctime``, added by a Formatter, are ignored."""
        record = _record("hello %s", ("world",), extra={"agent": "A"})
        logging.Formatter("%(asctime)s %(message)s").format(record)

        assert {"agent": "A"} == record_fields(record)

    def test_structlog_wrapper_attributes_are_not_fields(self) -> None:
        """What wrap_for_formatter adds as extra is not a field."""
        extra = {"_logger": object(), "_name": "info", "agent": "A"}

        assert {"agent": "A"} == record_fields(_record(extra=extra))

    def test_returns_a_new_dict(self) -> None:
        """Changing the returned fields leaves the record alone."""
        record = _record(extra={"agent": "A"})

        record_fields(record)["agent"] = "B"

        assert "A" == record.agent


class TestCaptureRecord:
    """
    capture_record takes what the worker needs from a stdlib record.
    """

    def test_plain_record(self) -> None:
        """A structured record keeps its event, level, logger and time."""
        record = _record(extra={"agent": "A"})
        fields = {"agent": "A"}

        raw = capture_record(record, "trade_executed", fields)

        expected = (
            "trade_executed",
            logging.INFO,
            "trader",
            record.created,
            fields,
            "trade_executed",
            None,
        )
        assert expected == raw

    def test_message_is_formatted_with_args(self) -> None:
        """The message is getMessage(); the event stays the template."""
        record = _record("order %s filled at %.2f", ("abc", 0.5423))

        raw = capture_record(record, "order %s filled at %.2f", {})

        assert "order %s filled at %.2f" == raw[0]
        assert "order abc filled at 0.54" == raw[5]

    def test_mismatched_args_do_not_raise(self) -> None:
        """A record whose %-args do not fit falls back to the raw message."""
        record = _record("value %d and %d", ("x",))

        raw = capture_record(record, "value %d and %d", {})

        assert "value %d and %d" == raw[5]

    def test_exception_becomes_text(self) -> None:
        """An exc_info record carries its traceback as text, not objects."""
        exc = _raised(ValueError("bad price"))
        record = _record(exc_info=(type(exc), exc, exc.__traceback__))

        raw = capture_record(record, "trade_failed", {})

        assert isinstance(raw[6], str)
        assert raw[6].startswith("Traceback (most recent call last):")
        assert raw[6].endswith("ValueError: bad price")

    def test_exc_text_from_an_earlier_formatter_is_reused(self) -> None:
        """A traceback another handler already formatted is used as is."""
        exc = _raised(ValueError("bad price"))
        record = _record(exc_info=(type(exc), exc, exc.__traceback__))
        record.exc_text = "already formatted"

        raw = capture_record(record, "trade_failed", {})

        assert "already formatted" == raw[6]

    def test_stack_info_is_appended(self) -> None:
        """stack_info follows the traceback text."""
        record = _record(stack_info="Stack (most recent call last):\n  x")

        raw = capture_record(record, "trade_executed", {})

        assert "Stack (most recent call last):\n  x" == raw[6]

    def test_keeps_no_reference_to_the_record(self) -> None:
        """Nothing captured is the record, its traceback or its frames."""
        exc = _raised(ValueError("bad price"))
        record = _record(exc_info=(type(exc), exc, exc.__traceback__))

        raw = capture_record(record, "trade_failed", {})

        kinds = {type(part) for part in raw}
        assert kinds <= {str, int, float, dict, type(None)}

    def test_event_dict_message(self) -> None:
        """A wrap_for_formatter record uses the dict's event as message."""
        event_dict = {"event": "trade_executed", "agent": "A"}
        record = _record(event_dict, extra={"_logger": None, "_name": "info"})

        raw = capture_record(record, "trade_executed", {"agent": "A"})

        expected = (
            "trade_executed",
            logging.INFO,
            "trader",
            record.created,
            {"agent": "A"},
            None,  # a structlog dict: its message is its event
            None,
        )
        assert expected == raw
        assert "trade_executed" == LogEvent.from_raw(raw).message

    def test_event_dict_exc_info_is_formatted_in_the_caller(self) -> None:
        """``exc_info=True`` in the dict is resolved while handling."""
        event_dict: dict[str, Any] = {
            "event": "trade_failed",
            "exc_info": True,
        }
        record = _record(event_dict)
        try:
            _fail(ValueError("bad price"))
        except ValueError:
            raw = capture_record(record, "trade_failed", {})

        assert isinstance(raw[6], str)
        assert raw[6].endswith("ValueError: bad price")

    def test_event_dict_exception_text_is_used(self) -> None:
        """An ``exception`` key (from format_exc_info) is the traceback."""
        event_dict = {"event": "trade_failed", "exception": "Traceback: x"}

        raw = capture_record(_record(event_dict), "trade_failed", {})

        assert "Traceback: x" == raw[6]


class TestCaptureEventDict:
    """
    capture_event_dict takes what the worker needs from an event dict.
    """

    def test_structured_event(self) -> None:
        """The event name is both event and message; time is now."""
        before = time.time()

        raw = capture_event_dict(
            {"event": "trade_executed", "agent": "A"},
            "trade_executed",
            logging.INFO,
            "trader",
            {"agent": "A"},
        )

        after = time.time()
        event, level, logger, created, fields, message, exc = raw
        assert ("trade_executed", logging.INFO, "trader") == (
            event,
            level,
            logger,
        )
        assert before <= created <= after
        assert ({"agent": "A"}, None, None) == (fields, message, exc)
        assert "trade_executed" == LogEvent.from_raw(raw).message

    def test_exc_info_exception_is_formatted(self) -> None:
        """An exception instance as exc_info becomes traceback text."""
        exc = _raised(KeyError("market"))

        raw = capture_event_dict(
            {"event": "trade_failed", "exc_info": exc},
            "trade_failed",
            logging.ERROR,
            "",
            {},
        )

        assert isinstance(raw[6], str)
        assert raw[6].endswith("KeyError: 'market'")

    def test_exception_text_is_used(self) -> None:
        """An ``exception`` key (from format_exc_info) is the traceback."""
        raw = capture_event_dict(
            {"event": "trade_failed", "exception": "Traceback: x"},
            "trade_failed",
            logging.ERROR,
            "",
            {},
        )

        assert "Traceback: x" == raw[6]

    def test_non_text_exception_is_dropped(self) -> None:
        """An ``exception`` key that is not text is not a traceback."""
        raw = capture_event_dict(
            {"event": "trade_failed", "exception": 42},
            "trade_failed",
            logging.ERROR,
            "",
            {},
        )

        assert raw[6] is None


class TestDictLevel:
    """
    dict_level reads the level of a structlog event.
    """

    @pytest.mark.parametrize(
        ("event_dict", "method_name", "expected"),
        [
            pytest.param({"level": "warning"}, "info", 30, id="level-key"),
            pytest.param({"level": "WARNING"}, "info", 30, id="upper-case"),
            pytest.param({"level": "warn"}, "info", 30, id="warn-alias"),
            pytest.param({"level": "exception"}, "info", 40, id="exception"),
            pytest.param({"level": "critical"}, "debug", 50, id="critical"),
            pytest.param({}, "error", 40, id="method-name"),
            pytest.param({}, "exception", 40, id="method-exception"),
            pytest.param({}, "fatal", 50, id="method-fatal"),
            pytest.param({}, "msg", 20, id="method-msg"),
            pytest.param({}, "trace", 20, id="unknown-method-is-info"),
            pytest.param({"level": "loud"}, "error", 40, id="unknown-level"),
            pytest.param({"level": 30}, "debug", 10, id="non-text-level"),
        ],
    )
    def test_level(
        self, event_dict: dict[str, Any], method_name: str, expected: int
    ) -> None:
        """The ``level`` key wins when it names a level, else the method."""
        assert expected == dict_level(event_dict, method_name)


class TestFormatException:
    """
    format_exception turns any form of exc_info into traceback text.
    """

    def test_tuple(self) -> None:
        """An exc_info tuple is formatted."""
        exc = _raised(ValueError("boom"))

        text = format_exception((type(exc), exc, exc.__traceback__))

        assert text is not None
        assert text.startswith("Traceback (most recent call last):")
        assert text.endswith("ValueError: boom")

    def test_exception_instance(self) -> None:
        """An exception instance is formatted with its own traceback."""
        text = format_exception(_raised(ValueError("boom")))

        assert text is not None
        assert "_raised" in text
        assert text.endswith("ValueError: boom")

    def test_true_inside_except(self) -> None:
        """``True`` means the exception being handled."""
        try:
            _fail(ValueError("boom"))
        except ValueError:
            text = format_exception(True)

        assert text is not None
        assert text.endswith("ValueError: boom")

    def test_chained_exceptions_are_kept(self) -> None:
        """The cause of a chained exception is part of the text."""
        try:
            try:
                _fail(KeyError("market"))
            except KeyError as exc:
                raise ValueError("boom") from exc
        except ValueError as exc:
            text = format_exception(exc)

        assert text is not None
        assert "KeyError: 'market'" in text
        assert "direct cause" in text

    @pytest.mark.parametrize(
        "exc_info",
        [
            pytest.param(None, id="none"),
            pytest.param(False, id="false"),
            pytest.param((None, None, None), id="empty-tuple"),
            pytest.param("not an exception", id="text"),
            pytest.param(("a", "b"), id="malformed-tuple"),
        ],
    )
    def test_no_exception(self, exc_info: Any) -> None:
        """Anything that is not an exception gives None, never an error."""
        assert format_exception(exc_info) is None

    def test_true_outside_except(self) -> None:
        """``True`` with no exception being handled gives None."""
        assert sys.exc_info() == (None, None, None)

        assert format_exception(True) is None

    def test_exception_whose_str_raises(self) -> None:
        """An exception that cannot be shown still gives text."""

        class UnprintableError(Exception):
            def __str__(self) -> str:
                raise RuntimeError("no")

        text = format_exception(_raised(UnprintableError()))

        assert text is not None
        assert "UnprintableError" in text

    def test_long_traceback_keeps_its_last_lines(self) -> None:
        """Trimming drops the start, so the exception line survives."""
        try:
            _long_chain()
        except ValueError as exc:
            full = "".join(traceback.format_exception(exc)).rstrip()
            text = format_exception(exc)

        assert text is not None
        assert len(full) > len(text)
        assert text.startswith("…")
        assert text.endswith("ValueError: the last line")
        assert full.endswith(text[1:])


class TestLogEvent:
    """
    LogEvent.context is what templates see.
    """

    def _event(self, **fields: Any) -> LogEvent:
        """
        Return an event with *fields* at a fixed time.
        """
        return LogEvent(
            event="trade_executed",
            level=logging.WARNING,
            logger="trader",
            time=0.0,
            fields=fields,
            message="trade_executed",
            exception="Traceback: x",
        )

    def test_basics(self) -> None:
        """The context has the fields plus the event's basics."""
        ctx = self._event(agent="A", amount=20.0).context()

        expected = {
            "agent": "A",
            "amount": 20.0,
            "event": "trade_executed",
            "level": "warning",
            "logger": "trader",
            "message": "trade_executed",
            "exception": "Traceback: x",
            "time": datetime(1970, 1, 1, tzinfo=timezone.utc),
            "fields": {"agent": "A", "amount": 20.0},
        }
        assert expected == ctx

    @pytest.mark.parametrize(
        "name",
        [
            pytest.param("api_key", id="api-key"),
            pytest.param("apikey", id="apikey"),
            pytest.param("bot_token", id="token"),
            pytest.param("DB_PASSWORD", id="password-upper"),
            pytest.param("passwd", id="passwd"),
            pytest.param("client_secret", id="secret"),
            pytest.param("private_key", id="private-key"),
            pytest.param("webhook_url", id="webhook"),
            pytest.param("mnemonic", id="mnemonic"),
            pytest.param("Authorization", id="authorization"),
        ],
    )
    def test_secrets_are_redacted(self, name: str) -> None:
        """A field named like a secret is redacted, also under fields."""
        ctx = self._event(**{name: "s3cr3t", "agent": "A"}).context()

        assert (REDACTED, REDACTED) == (ctx[name], ctx["fields"][name])
        assert "A" == ctx["agent"]

    def test_secret_none_stays_none(self) -> None:
        """A missing secret is shown as missing, not as redacted."""
        ctx = self._event(api_key=None).context()

        assert ctx["api_key"] is None

    def test_redaction_leaves_the_event_alone(self) -> None:
        """The event's own fields keep their values."""
        ev = self._event(api_key="s3cr3t")

        ev.context()

        assert {"api_key": "s3cr3t"} == dict(ev.fields)

    @pytest.mark.parametrize(
        ("name", "basic"),
        [
            pytest.param("event", "trade_executed", id="event"),
            pytest.param("level", "warning", id="level"),
            pytest.param("logger", "trader", id="logger"),
            pytest.param("message", "trade_executed", id="message"),
            pytest.param("exception", "Traceback: x", id="exception"),
            pytest.param(
                "time",
                datetime(1970, 1, 1, tzinfo=timezone.utc),
                id="time",
            ),
        ],
    )
    def test_shadowed_fields_stay_reachable(
        self, name: str, basic: Any
    ) -> None:
        """A field named like a basic loses the name but stays in fields."""
        ctx = self._event(**{name: "from the field"}).context()

        assert basic == ctx[name]
        assert "from the field" == ctx["fields"][name]

    def test_field_named_fields(self) -> None:
        """A field called ``fields`` is reachable as ``fields['fields']``."""
        ctx = self._event(fields="from the field").context()

        assert {"fields": "from the field"} == ctx["fields"]

    @pytest.mark.parametrize(
        ("level", "expected"),
        [
            pytest.param(logging.DEBUG, "debug", id="debug"),
            pytest.param(logging.CRITICAL, "critical", id="critical"),
            pytest.param(25, "level 25", id="custom"),
        ],
    )
    def test_level_name(self, level: int, expected: str) -> None:
        """Levels are named in lower case; others by number."""
        assert expected == LogEvent(event="x", level=level).level_name

    def test_to_raw_gives_back_what_makes_the_same_event(self) -> None:
        """A preview hands an event on as its capture: nothing is lost."""
        ev = LogEvent(
            event="trade_executed",
            level=logging.WARNING,
            logger="trader",
            time=1.5,
            fields={"agent": "A", "amount": 20.0},
            message="traded",
            exception="Traceback ...",
        )

        assert LogEvent.from_raw(ev.to_raw()) == ev

    def test_from_raw_round_trip(self) -> None:
        """from_raw builds the event a capture describes."""
        raw = capture_event_dict(
            {"event": "trade_executed"},
            "trade_executed",
            logging.INFO,
            "trader",
            {"agent": "A"},
        )

        ev = LogEvent.from_raw(raw)

        expected = LogEvent(
            event="trade_executed",
            level=logging.INFO,
            logger="trader",
            time=raw[3],
            fields={"agent": "A"},
            message="trade_executed",
            exception=None,
        )
        assert expected == ev


def _reference_redact(name: str, value: Any, depth: int = 0) -> Any:
    """redact_value as it was first written: recurse into everything."""
    if value is None:
        return None
    if looks_secret(name):
        return REDACTED
    if depth >= 6:
        return value
    if isinstance(value, Mapping):
        out = {
            k: _reference_redact(str(k), v, depth + 1)
            for k, v in value.items()
        }
        changed = any(out[k] is not v for k, v in value.items())
        return out if changed else value
    if isinstance(value, (list, tuple)):
        items = [_reference_redact("", v, depth + 1) for v in value]
        changed = any(a is not b for a, b in zip(items, value, strict=True))
        return items if changed else value
    return value


_KEYS = st.one_of(
    st.sampled_from(["agent", "api_key", "token", "password", "x", "seed"]),
    st.text(max_size=6),
)
_NESTED = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False),
        st.text(max_size=6),
        st.binary(max_size=4),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(_KEYS, inner, max_size=3),
        st.dictionaries(st.integers(), inner, max_size=2),
    ),
    max_leaves=12,
)


class TestRedactQuickly:
    """
    Redacting with its short cuts gives what recursing everywhere gives.
    """

    @settings(max_examples=800, deadline=None, database=None)
    @given(name=_KEYS, value=_NESTED)
    @pytest.mark.slow
    def test_redact_value(self, name: str, value: Any) -> None:
        """
        The same result, and the value itself back when nothing changed.
        """
        expected = _reference_redact(name, value)
        got = redact_value(name, value)

        assert expected == got
        assert (expected is value) == (got is value)

    @settings(max_examples=300, deadline=None, database=None)
    @given(
        fields=st.dictionaries(
            st.one_of(_KEYS, st.integers()), _NESTED, max_size=6
        )
    )
    @pytest.mark.slow
    def test_context_fields(self, fields: dict[Any, Any]) -> None:
        """
        The context's fields are the fields, each redacted; a name that
        is not a string is judged by its text (``str(name)``).
        """
        ev = LogEvent(event="e", level=logging.INFO, fields=fields)

        expected = {k: _reference_redact(str(k), v) for k, v in fields.items()}

        assert expected == ev.context()["fields"]


class TestDictFields:
    def test_a_copy_later_processors_cannot_change(self) -> None:
        event_dict: dict[str, Any] = {"event": "trade_executed", "n": 1}

        fields = dict_fields(event_dict)
        event_dict["n"] = 2
        event_dict["added_later"] = True

        assert {"event": "trade_executed", "n": 1} == dict(fields)

    def test_structlog_keys_leave_in_the_worker(self) -> None:
        """The caller only copies; the event the worker builds is clean."""
        event_dict = {
            "event": "trade_executed",
            "level": "info",
            "timestamp": "2026-11-28T05:00:00Z",
            "logger": "trader",
            "amount": 20,
        }
        raw = capture_event_dict(
            event_dict, "trade_executed", 20, "trader", dict_fields(event_dict)
        )

        assert {"amount": 20} == dict(LogEvent.from_raw(raw).fields)

    def test_record_extras_of_those_names_stay(self) -> None:
        """Only a structlog dict loses them: a record's extras are its own."""
        record = _record(extra={"timestamp": "t0", "amount": 1})

        ev = LogEvent.from_raw(
            capture_record(record, "trade_executed", record_fields(record))
        )

        assert "t0" == ev.fields["timestamp"]
