"""
What a stream entry holds, and how it is read back without trusting it.

Producers send *captured events*, not messages: the relay routes and
renders them with its own routing file, so whoever can write to the
stream chooses neither a destination nor a ping. An event travels as
JSON: its secrets hidden by field name and its tokens redacted before it
leaves the process (:func:`~polybot_loghandler._events.redact_value`),
every value made JSON-safe. Values JSON has no type for, and that
templates treat apart, keep their type with a tag (``{"$": "decimal",
"v": "1.10"}``), so an event renders the same through the relay as in
process; other objects travel as their text.

The active relay writes entries too: what its watches and digests have
due (an alert, a recovery, a digest's period), as an *output* entry
(:func:`encode_output`), appended in the same step that saves their
state, so that whichever relay is active next delivers it.

Reading is strict: an entry is data from the network. Anything that is
not exactly what :func:`encode_event`, :func:`encode_counts` or
:func:`encode_output` writes, or is larger than :data:`MAX_ENTRY`, is
:class:`Malformed`, and the relay counts it as lost
(``dropped.relay_malformed``) instead of guessing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from polybot_loghandler._events import LogEvent, RawEvent
from polybot_loghandler._losses import Loss
from polybot_loghandler._text import (
    REDACTED,
    encodable,
    looks_secret,
    redact_text,
)
from polybot_loghandler._values import text_of
from polybot_loghandler._watching.watching import (
    ALERT,
    DIGEST,
    RECOVERY,
    Output,
)

_T = TypeVar("_T")

__all__ = [
    "FORMAT",
    "MAX_ENTRY",
    "Malformed",
    "decode_counts",
    "decode_event",
    "decode_output",
    "encode_counts",
    "encode_event",
    "encode_output",
    "entry_fields",
    "read_entry",
]

#: The entry format this library writes and reads (field ``v``).
FORMAT = "1"
#: Bytes of JSON one entry may hold; a producer cuts long text first.
MAX_ENTRY = 1 << 20
#: Characters of one string value kept: more than any embed shows.
MAX_TEXT = 16_000
#: Nesting kept; deeper values travel as their text.
MAX_DEPTH = 6
#: Whole numbers JSON carries as numbers; larger ones travel as text
#: (reading a number of thousands of digits costs seconds).
MAX_INT = 2**64
#: Characters of a tagged value's text (a decimal, a date); a longer
#: decimal travels as its text.
MAX_TAGGED = 200
#: Characters of a field's name kept.
MAX_KEY = 200
#: Levels outside ±2**31 travel as 0 (logging's are 0 to 50).
MAX_LEVEL = 2**31

_TAG = "$"


class Malformed(ValueError):  # noqa: N818 - reads as what the entry is
    """A stream entry this library did not write, or cannot read."""


# -- writing (the producer's worker thread) ---------------------------------


def encode_event(raw: RawEvent) -> str:
    """
    One captured event as the JSON an entry carries.

    Structlog's own keys are removed and secrets hidden, as the worker
    would before routing. A value that cannot be read travels as its
    text (or ``<TypeName>``); what is left to raise (a fields mapping
    that cannot be copied) is counted by the producer as unrenderable,
    as the in-process worker would.
    """
    event = LogEvent.from_raw(raw)
    fields = {_key(k): _safe(v, 0, k) for k, v in event.fields.items()}
    level = event.level if -MAX_LEVEL <= event.level < MAX_LEVEL else 0
    body = {
        "e": _cut(redact_text(event.event)),
        "l": level,
        "g": _cut(redact_text(event.logger)),
        "t": event.time if math.isfinite(event.time) else 0.0,
        "m": _cut(redact_text(event.message)),
        "x": None
        if event.exception is None
        else _cut(redact_text(event.exception)),
        "f": fields,
    }
    text = _dumps(body)
    if len(text) > MAX_ENTRY:  # many long values: keep their start
        body["f"] = {k: _cut(text_of(v), 500) for k, v in fields.items()}
        text = _dumps(body)
    if len(text) > MAX_ENTRY:  # a great many fields: say so instead
        body["f"] = {"fields": f"({len(fields)} fields: too large to relay)"}
        text = _dumps(body)
    return text


def encode_counts(counts: Mapping[Loss, int]) -> str:
    """A producer's losses since its last report, as an entry's JSON."""
    return _dumps({"c": {r.value: n for r, n in counts.items() if n > 0}})


def encode_output(output: Output) -> str:
    """
    A watch's or digest's output as an entry's JSON (the relay's own).

    Its values are the relay's, made from events already made safe:
    they keep their names (a measure named like a secret is not hidden,
    as in process), and non-finite numbers, decimals and times keep
    their type with a tag, as an event's values do.
    """
    values = _carried(output.values, 0)
    body = {
        "o": {
            "k": output.kind,
            "n": encodable(output.name),
            "t": output.time if math.isfinite(output.time) else 0.0,
            "v": values,
        }
    }
    text = _dumps(body)
    if len(text) > MAX_ENTRY:  # a hundred very long group keys: cut them
        body["o"]["v"] = _shortened(values, 0)
        text = _dumps(body)
    if len(text) > MAX_ENTRY:
        msg = f"an output of {len(text)} bytes, past {MAX_ENTRY}"
        raise ValueError(msg)
    return text


def _carried(value: Any, depth: int) -> Any:
    """An output's value as JSON carries it; names are not secrets."""
    if depth >= MAX_DEPTH:
        return _text(value)
    if value.__class__ is dict:
        out = {_key(k): _carried(v, depth + 1) for k, v in value.items()}
        return {_TAG: "dict", "v": out} if _TAG in out else out
    if value.__class__ is list:
        return [_carried(v, depth + 1) for v in value]
    return _safe(value, depth)


def _shortened(value: Any, depth: int) -> Any:
    """*value* (as carried) with every text cut to 500 characters."""
    if isinstance(value, str):
        return _cut(value, 500)
    if isinstance(value, dict):
        return {k: _shortened(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_shortened(v, depth + 1) for v in value]
    return value


def _dumps(body: Any) -> str:
    # ASCII: the length in characters is the length in bytes
    return json.dumps(body, ensure_ascii=True, separators=(",", ":"))


def _key(key: Any) -> str:
    text = key if key.__class__ is str else text_of(key)
    return _cut(redact_text(text), MAX_KEY)


def _cut(text: str, limit: int = MAX_TEXT) -> str:
    """*text* kept to *limit*, its lone surrogates as U+FFFD (as shown)."""
    text = encodable(text)
    return text if len(text) <= limit else text[:limit] + "…"


def _text(value: Any) -> str:
    """*value* as text, tokens hidden, cut; never raises."""
    return _cut(redact_text(text_of(value)))


def _safe(value: Any, depth: int, name: Any = "") -> Any:
    """
    *value* as JSON can carry it, its secrets hidden; never raises.

    A value under a secret *name* is hidden whole, as in process.
    """
    if value is None:
        return None
    if name.__class__ is str and name and looks_secret(name):
        return REDACTED
    try:
        return _convert(value, depth)
    except Exception:  # iterating it failed: its text, as in process
        return _text(value)


def _convert(value: Any, depth: int) -> Any:  # noqa: C901, PLR0911, PLR0912 - a case a type
    cls = value.__class__
    if cls is str:
        return _cut(redact_text(value))
    if cls is bool:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        whole = int(value)
        if cls is not int and text_of(value) != str(whole):
            return _text(value)  # an enum that shows its name
        return whole if -MAX_INT < whole < MAX_INT else _text(value)
    if isinstance(value, float):
        number = float(value)  # numpy's float64 shows as a float does
        if math.isfinite(number):
            return number
        return {_TAG: "float", "v": repr(number)}
    if isinstance(value, Decimal):
        text = str(value)
        return (
            {_TAG: "decimal", "v": text} if len(text) <= MAX_TAGGED else text
        )
    if isinstance(value, datetime):
        return {_TAG: "datetime", "v": value.isoformat()}
    if isinstance(value, date):
        return {_TAG: "date", "v": value.isoformat()}
    if isinstance(value, (bytes, bytearray)):  # shown decoded, as in process
        return _cut(redact_text(bytes(value).decode("utf-8", "replace")))
    if isinstance(value, str):
        return _cut(redact_text(str.__str__(value)))
    if depth >= MAX_DEPTH:
        return _text(value)
    if cls is list:
        return [_safe(v, depth + 1) for v in value]
    if cls is tuple:
        return {_TAG: "tuple", "v": [_safe(v, depth + 1) for v in value]}
    if isinstance(value, Mapping):
        out = {_key(k): _safe(v, depth + 1, k) for k, v in value.items()}
        return {_TAG: "dict", "v": out} if _TAG in out else out
    return _text(value)


def entry_fields(
    kind: str, producer: str, routing: str, data: str
) -> list[str]:
    """
    The fields of one stream entry, flat, as ``XADD`` takes them.

    *kind* is ``e`` (an event), ``c`` (a report of losses) or ``w`` (a
    watch's or digest's output, the relay's own); *producer* is who
    wrote it, and *routing* the hash of its routing file, for ``relay
    status``.
    """
    return ["v", FORMAT, "k", kind, "p", producer, "h", routing, "d", data]


#: Values in :func:`entry_fields`' list.
FIELDS_PER_ENTRY = 10


# -- reading (the relay) ------------------------------------------------------


def read_entry(fields: Any) -> RawEvent | dict[Loss, int] | Output:
    """
    One entry's fields (a mapping, or a flat list) back to what it holds.

    An event, a report of losses, or a watch's or digest's output.

    Raises:
        Malformed: Not an entry this version of the library writes.
    """
    if isinstance(fields, list):
        if len(fields) % 2:
            raise Malformed("fields that are not pairs")
        fields = dict(zip(fields[::2], fields[1::2], strict=True))
    if not isinstance(fields, dict) or fields.get(b"v") != FORMAT.encode():
        raise Malformed("an unknown format")
    kind, data = fields.get(b"k"), fields.get(b"d", b"")
    if kind == b"c":
        return decode_counts(data)
    if kind == b"e":
        return decode_event(data)
    if kind == b"w":
        return decode_output(data)
    raise Malformed("an unknown kind")


def _strictly(read: Callable[[dict[str, Any]], _T], data: bytes | str) -> _T:
    """*read* of *data*'s JSON; whatever fails is :class:`Malformed`."""
    try:
        return read(_loads(data))
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        if isinstance(exc, Malformed):
            raise
        raise Malformed(
            f"a value that cannot be read ({type(exc).__name__})"
        ) from None


def decode_event(data: bytes | str) -> RawEvent:
    """
    An entry's JSON back to a captured event, as the routing takes it.

    Raises:
        Malformed: It is not what :func:`encode_event` writes.
    """
    return _strictly(_event, data)


def _event(body: dict[str, Any]) -> RawEvent:
    if set(body) != {"e", "l", "g", "t", "m", "x", "f"}:
        raise Malformed("not an event")
    event, level, logger, when = body["e"], body["l"], body["g"], body["t"]
    message, exc, fields = body["m"], body["x"], body["f"]
    if not (
        isinstance(event, str)
        and level.__class__ is int
        and -MAX_LEVEL <= level < MAX_LEVEL
        and isinstance(logger, str)
        and when.__class__ in (int, float)
        and math.isfinite(when)
        and isinstance(message, str)
        and (exc is None or isinstance(exc, str))
        and isinstance(fields, dict)
    ):
        raise Malformed("an event with a field of the wrong kind")
    values = {k: _value(v, 0) for k, v in fields.items()}
    return (event, level, logger, float(when), values, message, exc)


def decode_counts(data: bytes | str) -> dict[Loss, int]:
    """
    A producer's losses back from an entry's JSON.

    Raises:
        Malformed: It is not what :func:`encode_counts` writes, names a
            reason this library does not have, or a count that is not a
            whole number from 1 to 10^12.
    """
    body = _loads(data)
    counts = body.get("c") if set(body) == {"c"} else None
    if not isinstance(counts, dict):
        raise Malformed("not a report of losses")
    out: dict[Loss, int] = {}
    for name, n in counts.items():
        try:
            reason = Loss(name)
        except ValueError:
            raise Malformed("an unknown reason") from None
        if n.__class__ is not int or not 0 < n <= 10**12:
            raise Malformed("a count that is not a whole number")
        out[reason] = n
    return out


#: An output's values, by kind: each name, and the check of its value.
_NUMBER = "number"
_OUTPUT_VALUES: dict[str, dict[str, Any]] = {
    ALERT: {
        "watch": str,
        "key": str,
        "silent_for": _NUMBER,
        "alert_after": _NUMBER,
        "last_seen": (_NUMBER, None),
        "last": dict,
    },
    RECOVERY: {
        "watch": str,
        "key": str,
        "silent_for": _NUMBER,
        "alert_after": _NUMBER,
    },
    DIGEST: {
        "digest": str,
        "period": dict,
        "timezone": str,
        "groups": list,
        "total": dict,
        "events": int,
        "crowded": int,
        "partial": bool,
    },
}


def decode_output(data: bytes | str) -> Output:
    """
    A watch's or digest's output back from an entry's JSON.

    Raises:
        Malformed: It is not what :func:`encode_output` writes: another
            kind, a value missing, of another type, or one more.
    """
    return _strictly(_output, data)


def _output(body: dict[str, Any]) -> Output:
    inner = body.get("o") if set(body) == {"o"} else None
    if not isinstance(inner, dict) or set(inner) != {"k", "n", "t", "v"}:
        raise Malformed("not an output")
    kind, name, when, values = inner["k"], inner["n"], inner["t"], inner["v"]
    shape = _OUTPUT_VALUES.get(kind) if isinstance(kind, str) else None
    if not (
        shape is not None
        and isinstance(name, str)
        and 0 < len(name) <= MAX_TEXT
        and _is_number(when)
        and isinstance(values, dict)
        and set(values) == set(shape)
    ):
        raise Malformed("an output with a field of the wrong kind")
    out = {k: _value(v, 0) for k, v in values.items()}
    for key, wanted in shape.items():
        if not _fits(out[key], wanted):
            raise Malformed(f"an output whose {key!r} is of the wrong kind")
    if kind == DIGEST:
        _digest_values(out)
    return Output(kind, name, float(when), out)


def _digest_values(values: dict[str, Any]) -> None:
    """A digest's period and groups, as :func:`encode_output` writes."""
    period = values["period"]
    if set(period) != {"start", "end"} or not all(
        _is_number(period[k]) for k in ("start", "end")
    ):
        raise Malformed("an output whose period is not one")
    for group in values["groups"]:
        if not isinstance(group, dict) or not isinstance(
            group.get("key"), str
        ):
            raise Malformed("an output whose group has no key")


def _fits(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, tuple):
        return any(_fits(value, w) for w in wanted)
    if wanted is None:
        return value is None
    if wanted == _NUMBER:
        return _is_number(value)
    return value.__class__ is wanted


def _is_number(value: Any) -> bool:
    """An int or float, not a bool, and finite."""
    return value.__class__ in (int, float) and math.isfinite(value)


def _loads(data: bytes | str) -> dict[str, Any]:
    if len(data) > MAX_ENTRY:
        raise Malformed(f"larger than {MAX_ENTRY} bytes")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        body = json.loads(
            text, parse_constant=_no_constant, parse_float=_finite
        )
    except (ValueError, RecursionError):  # not UTF-8, not JSON
        raise Malformed("not JSON") from None
    if not isinstance(body, dict):
        raise Malformed("not a JSON object")
    return body


def _no_constant(name: str) -> Any:
    """``NaN`` and ``Infinity``: a producer writes them tagged, never so."""
    raise Malformed(f"a bare {name}")


def _finite(text: str) -> float:
    """A JSON number: ``1e999`` is no number a producer writes bare."""
    number = float(text)
    if not math.isfinite(number):
        raise Malformed("a bare non-finite number")
    return number


def _value(value: Any, depth: int) -> Any:
    """One decoded value, its tags read back; :class:`Malformed` if bad."""
    if depth > MAX_DEPTH + 1:
        raise Malformed("nested deeper than a producer writes")
    if isinstance(value, list):
        return [_value(v, depth + 1) for v in value]
    if not isinstance(value, dict):
        return value  # str, int, float, bool, None: what JSON has
    if _TAG not in value:
        return {k: _value(v, depth + 1) for k, v in value.items()}
    if set(value) != {_TAG, "v"}:
        raise Malformed("a tagged value with other keys")
    return _untag(value[_TAG], value["v"], depth)


def _untag(tag: Any, inner: Any, depth: int) -> Any:  # noqa: C901 - a case a tag
    if tag == "dict" and isinstance(inner, dict):
        return {k: _value(v, depth + 1) for k, v in inner.items()}
    if tag == "tuple" and isinstance(inner, list):
        return tuple(_value(v, depth + 1) for v in inner)
    if not isinstance(inner, str) or len(inner) > MAX_TAGGED:
        raise Malformed(f"a bad {text_of(tag)[:20]!r} value")
    try:
        if tag == "decimal":
            return Decimal(inner)
        if tag == "float":
            number = float(inner)
            if math.isfinite(number):
                raise Malformed("a tagged float that is finite")
            return number
        if tag == "datetime":
            return datetime.fromisoformat(inner)
        if tag == "date":
            return date.fromisoformat(inner)
    except (InvalidOperation, ValueError) as exc:
        if isinstance(exc, Malformed):
            raise
        raise Malformed(f"a bad {tag} value") from None
    raise Malformed("an unknown tag")
