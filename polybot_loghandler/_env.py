"""
``${VAR}`` and ``${VAR:-fallback}`` interpolation for routing files.

Only channel destinations and mentions are interpolated: templates never
see the environment, so a routing file cannot leak a token into a
message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Expansion", "Reference", "expand_traced", "interpolate"]


class InterpolationError(ValueError):
    """A ``${...}`` reference that is not closed or has no name."""


@dataclass(frozen=True, slots=True)
class Reference:
    """
    One ``${VAR}`` met while expanding a value.

    Attributes:
        name: The variable's name.
        is_set: The variable is set and not empty.
        consulted: Its value was looked at: ``False`` for a fallback
            that was not needed (``${SET:-${UNSEEN}}``).
        used: Its value is part of the result.
    """

    name: str
    is_set: bool
    consulted: bool
    used: bool


@dataclass(frozen=True, slots=True)
class Expansion:
    """
    A value after interpolation, and the variables that made it.

    The value may be a secret (a webhook URL), so ``repr`` leaves it out.
    """

    value: str = field(repr=False)
    references: tuple[Reference, ...] = ()

    @property
    def supplied_by(self) -> tuple[str, ...]:
        """The variables whose values the result holds, in text order."""
        return tuple(dict.fromkeys(r.name for r in self.references if r.used))

    @property
    def unset(self) -> tuple[str, ...]:
        """The variables looked at that were unset or empty."""
        return tuple(
            dict.fromkeys(
                r.name for r in self.references if r.consulted and not r.is_set
            )
        )


def interpolate(text: str, environ: Mapping[str, str]) -> str:
    """
    Replace ``${VAR}`` and ``${VAR:-fallback}`` in *text* from *environ*.

    An unset variable becomes the empty string; ``:-`` also uses the
    fallback when the variable is set but empty, as in the shell. The
    fallback may itself contain ``${OTHER}``. ``$$`` is a literal ``$``.

    Raises:
        InterpolationError: A ``${`` without its ``}`` or without a name.
    """
    out, _ = _expand(text, 0, environ, stop_at_brace=False)
    return out


def expand_traced(text: str, environ: Mapping[str, str]) -> Expansion:
    """
    Interpolate *text* as :func:`interpolate` does, recording references.

    Every ``${VAR}`` in *text* is recorded, in text order (an outer
    variable before those of its fallback), with whether it was set,
    looked at, and supplied part of the result.

    Raises:
        InterpolationError: A ``${`` without its ``}`` or without a name.
    """
    trace: list[Reference] = []
    out, _ = _expand(text, 0, environ, stop_at_brace=False, trace=trace)
    return Expansion(out, tuple(trace))


def _expand(  # noqa: PLR0913 - the trace rides along the recursion
    text: str,
    pos: int,
    environ: Mapping[str, str],
    *,
    stop_at_brace: bool,
    trace: list[Reference] | None = None,
    live: bool = True,
) -> tuple[str, int]:
    parts: list[str] = []
    n = len(text)
    while pos < n:
        ch = text[pos]
        if stop_at_brace and ch == "}":
            return "".join(parts), pos
        if ch == "$" and text.startswith("$$", pos):
            parts.append("$")
            pos += 2
        elif ch == "$" and text.startswith("${", pos):
            value, pos = _reference(text, pos + 2, environ, trace, live=live)
            parts.append(value)
        else:
            parts.append(ch)
            pos += 1
    if stop_at_brace:
        raise InterpolationError("'${' is not closed with '}'")
    return "".join(parts), pos


def _reference(
    text: str,
    pos: int,
    environ: Mapping[str, str],
    trace: list[Reference] | None,
    *,
    live: bool,
) -> tuple[str, int]:
    start = pos
    while pos < len(text) and (text[pos].isalnum() or text[pos] == "_"):
        pos += 1
    name = text[start:pos]
    if not name:
        raise InterpolationError("'${' must be followed by a variable name")
    value = environ.get(name, "")
    if trace is not None:
        trace.append(Reference(name, bool(value), live, live and bool(value)))
    if text.startswith(":-", pos):
        fallback, pos = _expand(
            text,
            pos + 2,
            environ,
            stop_at_brace=True,
            trace=trace,
            live=live and not value,
        )
        return value or fallback, pos + 1
    if pos < len(text) and text[pos] == "}":
        return value, pos + 1
    raise InterpolationError(
        f"'${{{name}' must end with '}}' or continue with ':-fallback}}'"
    )
