"""
``${VAR}`` and ``${VAR:-fallback}`` interpolation for routing files.

Only channel destinations and mentions are interpolated: templates never
see the environment, so a routing file cannot leak a token into a
message.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["interpolate"]


class InterpolationError(ValueError):
    """A ``${...}`` reference that is not closed or has no name."""


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


def _expand(
    text: str, pos: int, environ: Mapping[str, str], *, stop_at_brace: bool
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
            value, pos = _reference(text, pos + 2, environ)
            parts.append(value)
        else:
            parts.append(ch)
            pos += 1
    if stop_at_brace:
        raise InterpolationError("'${' is not closed with '}'")
    return "".join(parts), pos


def _reference(
    text: str, pos: int, environ: Mapping[str, str]
) -> tuple[str, int]:
    start = pos
    while pos < len(text) and (text[pos].isalnum() or text[pos] == "_"):
        pos += 1
    name = text[start:pos]
    if not name:
        raise InterpolationError("'${' must be followed by a variable name")
    if text.startswith(":-", pos):
        fallback, pos = _expand(text, pos + 2, environ, stop_at_brace=True)
        return environ.get(name) or fallback, pos + 1
    if pos < len(text) and text[pos] == "}":
        return environ.get(name, ""), pos + 1
    raise InterpolationError(
        f"'${{{name}' must end with '}}' or continue with ':-fallback}}'"
    )
