"""
The values of the floor's state: constants and templates, and how kept.

A value in a ``state:`` rule is a constant (a number, ``true``, a text
with no template syntax) or a template. A template that is one lone
``{{ expression }}`` gives the expression's own Python value, so
``{{ capital }}`` stays a float and ``{{ markets }}`` a list; any other
template gives text. What is kept is made JSON-safe by :func:`stored`,
so any store (memory, Redis) can hold it.

Templates run in the routing sandbox (``PLAIN_ENV``). An error makes
the value fail (:class:`ValueFailed`): a state built on half an event
would be wrong in ways nobody sees, so the change that needed the value
is not made, and the reducer counts it. A value that is an undefined
name (a field the event does not carry, ``{{ mode }}``, or a key its
mapping lacks, ``{{ config.risk }}``) fails as :class:`ValueMissing`,
which a ``set:`` keeps as ``None``: any field of an event may be
missing, and ``agent_started`` without its ``mode`` still starts the
agent. A row's key and an ``add:`` need their value, so it fails them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import islice
from typing import Any

from jinja2 import TemplateSyntaxError, Undefined
from jinja2.exceptions import TemplateAssertionError

from polybot_loghandler._sandbox import ENVS, PLAIN_ENV
from polybot_loghandler._templates import (
    TemplateProblem,
    Text,
    compile_text,
    is_template,
)
from polybot_loghandler._values import text_of

__all__ = [
    "MAX_DEPTH",
    "MAX_ITEMS",
    "MAX_TEXT",
    "Value",
    "ValueFailed",
    "ValueMissing",
    "compile_value",
    "number",
    "stored",
]

#: Characters of one kept text; longer text is cut and ends with "…".
MAX_TEXT = 1000
#: Items of one kept list or mapping; the rest are left out.
MAX_ITEMS = 50
#: Lists and mappings kept inside one another; deeper ones become text.
MAX_DEPTH = 3
#: The largest int kept as it is (exact in a float, and in JavaScript).
_MAX_EXACT = 2**53

_Evaluate = Callable[[Mapping[str, Any]], Any]
_to_text: Callable[[Any], str] = ENVS["raw"].finalize  # type: ignore[assignment]


class ValueFailed(Exception):  # noqa: N818 - a result, not a fault
    """A value could not be worked out from this event."""


class ValueMissing(ValueFailed):
    """
    The value, or a piece of its text, is an undefined name.

    Not an error in the template: the event lacks the field (or a
    mapping of it the key). Operating on an undefined name
    (``{{ pnl > 0 }}``) is an error, and fails as :class:`ValueFailed`.
    """


@dataclass(frozen=True, slots=True, eq=False)
class Value:
    """
    One compiled value of a ``set:`` or ``add:`` (or a table's ``key:``).

    Exactly one way of working it out is set: *native* for a lone
    expression, *pieces* (literal text and expressions) or *template*
    (a template with statements) for text, else it is the *constant*.

    Attributes:
        source: The value as the routing file gives it, for messages.
        constant: The value itself, when it has no template.
        native: The lone expression's evaluator.
        pieces: Literal texts and expression evaluators, in order.
        template: A template with ``{% %}`` or ``{# #}`` in it; undefined
            names in it render as nothing, as in routing texts.
    """

    source: object
    constant: Any = None
    native: _Evaluate | None = None
    pieces: tuple[str | _Evaluate, ...] = ()
    template: Text | None = None

    def value(self, context: Mapping[str, Any]) -> Any:
        """
        The value for *context* (as it comes: call :func:`stored` on it).

        Raises:
            ValueMissing: The value is an undefined name (or, for text,
                one of its ``{{ }}`` is).
            ValueFailed: An error in the template.
        """
        if self.native is not None:
            return _evaluate(self.native, context)
        if self.pieces or self.template is not None:
            return self.text(context)
        return self.constant

    def text(self, context: Mapping[str, Any]) -> str:
        """
        The value as text (``None`` is empty), as a row key needs it.

        Raises:
            ValueFailed: As :meth:`value`.
        """
        if self.template is not None:
            try:
                return self.template.render(context)
            except Exception as exc:
                raise ValueFailed(str(exc)) from None
        if self.native is None and not self.pieces:
            return _to_text(self.constant)
        pieces = self.pieces or (self.native,)
        return "".join(
            p if isinstance(p, str) else _to_text(_evaluate(p, context))
            for p in pieces
            if p is not None
        )


def _evaluate(evaluate: _Evaluate, context: Mapping[str, Any]) -> Any:
    try:
        result = evaluate(context)
    except Exception as exc:
        raise ValueFailed(str(exc)) from None
    if isinstance(result, Undefined):
        raise ValueMissing("undefined")
    return result


def compile_value(source: object) -> Value:
    """
    Compile a value of the routing file's ``state:`` section.

    Raises:
        TemplateProblem: A template that does not compile, or a list or
            mapping (a value is a scalar or a template).
    """
    if source is None or isinstance(source, (bool, int, float)):
        return Value(source, constant=source)
    if not isinstance(source, str):
        raise TemplateProblem("a value is a number, true/false, or text")
    if not is_template(source):
        return Value(source, constant=source)
    template = compile_text(source, mode="raw")  # the whole, checked
    tokens = list(PLAIN_ENV.lex(source))
    if any(kind not in _EXPRESSIONS for _, kind, _ in tokens):
        return Value(source, template=template)
    pieces = _pieces(tokens)
    if len(pieces) == 1 and not isinstance(pieces[0], str):
        return Value(source, native=pieces[0])
    return Value(source, pieces=tuple(pieces))


#: The tokens of a template of text and ``{{ expressions }}`` only.
_EXPRESSIONS = frozenset(
    {
        "data",
        "variable_begin",
        "variable_end",
        "whitespace",
        "name",
        "operator",
        "string",
        "integer",
        "float",
    }
)


def _pieces(tokens: list[tuple[int, str, str]]) -> list[str | _Evaluate]:
    """Literal texts and compiled expressions; blank text by a lone one."""
    pieces: list[str | _Evaluate] = []
    inside: list[str] = []
    line = 1
    for lineno, kind, text in tokens:
        if kind == "variable_begin":
            inside, line = [], lineno
        elif kind == "variable_end":
            pieces.append(_expression("".join(inside), line))
        elif kind == "data":
            pieces.append(text)
        else:
            inside.append(text)
    expressions: list[str | _Evaluate] = [
        p for p in pieces if not isinstance(p, str)
    ]
    if len(expressions) == 1 and all(
        not p.strip() for p in pieces if isinstance(p, str)
    ):
        return expressions
    return pieces


def _expression(source: str, line: int) -> _Evaluate:
    try:
        found: _Evaluate = PLAIN_ENV.compile_expression(
            source, undefined_to_none=False
        )
    except (TemplateSyntaxError, TemplateAssertionError) as exc:
        lineno = line + (exc.lineno or 1) - 1
        raise TemplateProblem(
            f"template error: {exc.message}", lineno
        ) from None
    return found


def number(value: Any) -> int | float | None:
    """
    *value* as a number to add, or ``None`` if it is not one.

    An int or a finite float; not a bool, not NaN or infinity, and not
    text, even ``"2.5"``: a field that should be a number and is text
    is a fault of the logging code to see, not to paper over (a rule can
    still say ``{{ x | float }}``). An int too large for a float to hold
    exactly becomes a float.
    """
    cls = value.__class__
    if cls is float or (isinstance(value, float) and cls is not bool):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, int) and not isinstance(value, bool):
        if -_MAX_EXACT <= value <= _MAX_EXACT:
            return int(value)
        try:
            return float(value)
        except OverflowError:
            return None
    return None


def stored(value: Any, depth: int = 0) -> Any:
    """
    *value* made JSON-safe, as the state keeps it. Never raises.

    str, int, float, bool and None stay (text cut to :data:`MAX_TEXT`;
    NaN and infinity become text, an int past 2**53 a float); a
    datetime becomes epoch seconds (a naive one is taken as UTC, so no
    local clock counts); lists, tuples and mappings become lists and
    dicts of at most :data:`MAX_ITEMS` items, :data:`MAX_DEPTH` deep,
    with text keys; anything else becomes its ``str()``.
    """
    if value is None or isinstance(value, (bool, Undefined)):
        return None if isinstance(value, Undefined) else value
    if isinstance(value, (int, float)):
        found = number(value)
        return _cut(text_of(value)) if found is None else found
    if isinstance(value, datetime):
        return _epoch(value)
    if depth < MAX_DEPTH and isinstance(value, (Mapping, list, tuple)):
        return _container(value, depth)
    return _cut(text_of(value))


def _container(value: Any, depth: int) -> Any:
    try:
        if isinstance(value, Mapping):
            items = islice(value.items(), MAX_ITEMS)
            return {_cut(text_of(k)): stored(v, depth + 1) for k, v in items}
        return [stored(v, depth + 1) for v in value[:MAX_ITEMS]]
    except Exception:  # a mapping whose items() raises
        return None


def _epoch(moment: datetime) -> float | str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        return moment.timestamp()
    except (ValueError, OverflowError, OSError):
        return _cut(text_of(moment))


def _cut(text: str) -> str:
    text = str(text)  # a str subclass (Markdown) is kept as plain text
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
