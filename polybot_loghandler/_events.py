"""
LogEvent, the one internal record, and how it is built from each source.

Three sources feed it: a stdlib ``LogRecord`` (``log.info("event",
extra={...})``), a record that structlog's ``ProcessorFormatter
.wrap_for_formatter`` handed to logging (``record.msg`` is the event dict),
and a structlog event dict seen by ``DiscordProcessor``.

Building happens in two steps. In the caller's thread, ``capture_*``
takes only what cannot wait (the message, the traceback text, a shallow
copy of the fields) into a plain tuple, because the application's thread
is the one place where time matters. In the worker, :meth:`LogEvent.
from_raw` turns the tuple into the frozen record.
"""

from __future__ import annotations

import logging
import time as _time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ._memo import Memo
from ._text import REDACTED, looks_secret, redact_text
from ._values import text_of

__all__ = [
    "DICT_META",
    "LEVELS",
    "LEVEL_NAMES",
    "RECORD_ATTRIBUTES",
    "LogEvent",
    "RawEvent",
    "capture_event_dict",
    "capture_record",
    "format_exception",
]

LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
LEVEL_NAMES: dict[int, str] = {v: k for k, v in LEVELS.items()}

# structlog method names that are not level names
_METHOD_LEVELS: dict[str, int] = {
    **LEVELS,
    "warn": logging.WARNING,
    "exception": logging.ERROR,
    "fatal": logging.CRITICAL,
    "msg": logging.INFO,
    "log": logging.INFO,
}

# a structlog ``level`` value as it usually comes (lower or upper case)
_DICT_LEVELS: dict[str, int] = {
    **_METHOD_LEVELS,
    **{k.upper(): v for k, v in _METHOD_LEVELS.items()},
}

RECORD_ATTRIBUTES: frozenset[str] = frozenset(
    {
        *logging.LogRecord("", 0, "", 0, "", (), None).__dict__,
        "message",
        "asctime",
        "taskName",
        # set by structlog.stdlib.ProcessorFormatter.wrap_for_formatter
        "_logger",
        "_name",
        "_from_structlog",
        "_record",
    }
)
_N_RECORD_ATTRIBUTES = len(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__
)

# Keys structlog processors add that describe the event rather than being
# fields of it.
DICT_META: frozenset[str] = frozenset(
    {
        "event",
        "level",
        "logger",
        "logger_name",
        "timestamp",
        "exc_info",
        "exception",
        "stack",
        "stack_info",
        "_record",
        "_from_structlog",
    }
)

#: What crosses from the caller's thread to the worker:
#: (event, levelno, logger, created, fields, message, exception text).
#: A message of ``None`` marks a structlog event dict: its message is its
#: event, and its fields still hold structlog's own keys.
RawEvent = tuple[
    str, int, str, float, dict[str, Any], "str | None", "str | None"
]

_EXCEPTION_CHARS = 8000  # the tail is what matters; keep the caller cheap


def format_exception(exc_info: Any) -> str | None:
    """
    Format *exc_info* (a tuple, an exception or ``True``) as traceback text.

    Returns ``None`` when there is no exception. Never raises.
    """
    try:
        if exc_info is True:
            exc_info = __import__("sys").exc_info()
        if isinstance(exc_info, BaseException):
            exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
        if not isinstance(exc_info, tuple) or exc_info[0] is None:
            return None
        text = "".join(traceback.format_exception(*exc_info)).rstrip()
    except Exception:
        return None
    if len(text) > _EXCEPTION_CHARS:
        # tokens hidden before the cut, which could leave one bare
        text = "…" + redact_text(text)[-_EXCEPTION_CHARS:]
    return text


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """
    The ``extra`` attributes of a stdlib record, as a new dict.
    """
    attrs = record.__dict__
    if len(attrs) == _N_RECORD_ATTRIBUTES:
        return {}
    return {k: v for k, v in attrs.items() if k not in RECORD_ATTRIBUTES}


def capture_record(
    record: logging.LogRecord, event: str, fields: dict[str, Any]
) -> RawEvent:
    """
    Take what the worker needs from a stdlib record, in the caller's thread.

    *event* and *fields* are what the handler already worked out; here the
    message is formatted and the traceback turned into text, so no
    reference to the record (and its frames) outlives the call.
    """
    msg = record.msg
    message: str | None
    if isinstance(msg, dict):
        message = None  # the event: see RawEvent
        exc = msg.get("exc_info") or record.exc_info
        exc_text = format_exception(exc) if exc else msg.get("exception")
    else:
        try:
            message = record.getMessage()
        except Exception:
            message = text_of(msg)
        exc_text = record.exc_text or (
            format_exception(record.exc_info) if record.exc_info else None
        )
    if record.stack_info:
        exc_text = (exc_text + "\n" if exc_text else "") + record.stack_info
    return (
        event,
        record.levelno,
        record.name,
        record.created,
        fields,
        message,
        exc_text,
    )


def dict_fields(event_dict: Mapping[str, Any]) -> dict[str, Any]:
    """
    The fields of a structlog event dict, copied for the worker.

    Later processors may change the dict: the copy keeps what it held
    now. Copying is all the caller's thread does (it runs in C, several
    times faster than filtering); structlog's own keys (``event``,
    ``level``, ...) are removed in the worker (:meth:`LogEvent.from_raw`).
    """
    if event_dict.__class__ is dict:
        return event_dict.copy()
    return dict(event_dict)


def dict_level(event_dict: Mapping[str, Any], method_name: str) -> int:
    """
    The level of a structlog event: its ``level`` key, else the method.
    """
    level = event_dict.get("level")
    if isinstance(level, str):
        # the usual spellings are found without lower()
        found = _DICT_LEVELS.get(level) or _METHOD_LEVELS.get(level.lower())
        if found is not None:
            return found
    return _METHOD_LEVELS.get(method_name, logging.INFO)


def capture_event_dict(
    event_dict: Mapping[str, Any],
    event: str,
    levelno: int,
    logger: str,
    fields: dict[str, Any],
) -> RawEvent:
    """
    Take what the worker needs from a structlog event dict.
    """
    exc = event_dict.get("exc_info")
    exc_text = format_exception(exc) if exc else event_dict.get("exception")
    return (
        event,
        levelno,
        logger,
        _time.time(),
        fields,
        None,  # the event: see RawEvent
        exc_text if isinstance(exc_text, str) else None,
    )


_REDACT_DEPTH = 6  # nested structures deeper than this are left as they are


def redact_value(name: str, value: Any, depth: int = 0) -> Any:
    """
    Hide the secrets in a field's value.

    The whole value if *name* looks secret; else tokens in its text and,
    inside mappings and lists, every value whose key looks secret.
    Returns *value* itself when nothing needed hiding.
    """
    if value is None:
        return None
    if looks_secret(name):
        return REDACTED
    cls = value.__class__
    if cls is str:
        return redact_text(value)
    if _plain(value) or depth >= _REDACT_DEPTH:
        return value
    if cls is dict or isinstance(value, Mapping):
        return _redact_mapping(value, depth + 1)
    return _redact_items(value, depth)


def _redact_items(value: Any, depth: int) -> Any:
    """A list's or tuple's items redacted (a list if any changed)."""
    if not isinstance(value, (list, tuple)):
        return value  # any other object is shown as its str()
    items = [redact_value("", v, depth + 1) for v in value]
    changed = any(a is not b for a, b in zip(items, value, strict=True))
    return items if changed else value


def _plain(value: Any) -> bool:
    """Whether *value* holds nothing inside (a str, number or None)."""
    cls = value.__class__
    return (
        cls is str
        or cls is int
        or cls is float
        or cls is bool
        or value is None
    )


def _redact_mapping(value: Mapping[Any, Any], depth: int) -> Any:
    """
    *value* with the secrets in it hidden: a copy if any were, else itself.

    Most values are plain and under a name that is not secret: they are
    passed over, and the mapping is copied only at the first change.
    """
    secret = _secret_names(value)
    out: dict[Any, Any] | None = None
    for key, item in value.items():
        cls = item.__class__
        if key.__class__ is not str:
            new = redact_value(text_of(key), item, depth)
        elif item is None:
            continue
        elif key in secret:
            new = REDACTED
        elif cls is str:
            # tokens are hidden here, once, before a template can slice,
            # loop over or re-case the text
            new = redact_text(item)
        elif cls is float or cls is int or cls is bool:
            continue
        else:
            new = redact_value(key, item, depth)
        if new is not item:
            if out is None:
                out = dict(value)
            out[key] = new
    return value if out is None else out


#: The string keys that look secret, by a fields mapping's keys in order:
#: events of one kind have the same fields, so this is asked once a kind.
#: Only keys that are all strings, up to 1,024 characters together, 1,024
#: of them: fields made from data are asked afresh each time.
_SECRETS: Memo[tuple[Any, ...], frozenset[str]] = Memo(
    limit=1024, key_chars=1024
)


def _secret_names(fields: Mapping[Any, Any]) -> frozenset[str]:
    keys = tuple(fields)
    found = _SECRETS.get(keys)
    if found is None:
        found = frozenset(
            k for k in keys if k.__class__ is str and looks_secret(k)
        )
        chars = _key_chars(keys)
        if chars is not None:
            _SECRETS.keep(keys, found, chars)
    return found


def _key_chars(keys: tuple[Any, ...]) -> int | None:
    """The characters of *keys*, or ``None`` if one is not a string."""
    chars = 0
    for key in keys:
        if key.__class__ is not str:
            return None
        chars += len(key)
    return chars


@dataclass(frozen=True, slots=True, kw_only=True)
class LogEvent:
    """
    One log event, whatever produced it.

    Attributes:
        event: The event name (``trade_executed``).
        level: The numeric logging level.
        logger: The logger's name (may be empty).
        time: When it was logged, in epoch seconds.
        fields: The event's own fields.
        message: The formatted message (equals *event* for structured
            events).
        exception: Traceback text, if an exception was logged.
    """

    event: str
    level: int
    logger: str = ""
    time: float = field(default_factory=_time.time)
    fields: Mapping[str, Any] = field(default_factory=dict)
    message: str = ""
    exception: str | None = None

    @classmethod
    def from_raw(cls, raw: RawEvent) -> LogEvent:
        """Build the record from what the caller's thread captured."""
        event, level, logger, created, fields, message, exc = raw
        if message is None:  # a structlog event dict, copied whole
            message = event
            fields = fields.copy()
            for key in DICT_META.intersection(fields):  # a search in C
                del fields[key]
        return cls(
            event=event,
            level=level,
            logger=logger,
            time=created,
            fields=fields,
            message=message,
            exception=exc,
        )

    def to_raw(self) -> RawEvent:
        """What :meth:`from_raw` makes this record from (for previews)."""
        return (
            self.event,
            self.level,
            self.logger,
            self.time,
            dict(self.fields),
            self.message,
            self.exception,
        )

    @property
    def level_name(self) -> str:
        """``debug`` … ``critical``; other levels as ``level 25``."""
        return (
            LEVEL_NAMES.get(self.level)
            or logging.getLevelName(self.level).lower()
        )

    @property
    def datetime(self) -> datetime:
        """The event's time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.time, tz=timezone.utc)

    def context(self) -> dict[str, Any]:
        """
        What templates see: the fields, secrets redacted, plus the basics.

        ``event``, ``level``, ``logger``, ``message``, ``exception``,
        ``time`` (a UTC datetime) and ``fields`` (the mapping) win over
        fields of the same name, which stay reachable as
        ``fields["name"]``.
        """
        fields = _redact_mapping(self.fields, 0)
        exception = self.exception
        return {
            **fields,
            "event": redact_text(self.event),
            "level": self.level_name,
            "logger": redact_text(self.logger),
            "message": redact_text(self.message),
            "exception": None if exception is None else redact_text(exception),
            "time": datetime.fromtimestamp(self.time, timezone.utc),
            "fields": fields,
        }
