"""
The sandboxed Jinja2 environments that routing templates run in.

Two environments share the filters and differ in how they finish each
``{{ value }}``: where Discord renders markdown (titles, descriptions,
fields) values are markdown-escaped; where it does not (footer, author)
they are left as they are. Both break mentions and hide tokens in values.
Literal template text is the routing author's and is never changed.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from jinja2 import (
    ChainableUndefined,
    TemplateSyntaxError,
    Undefined,
    UndefinedError,
    nodes,
    pass_context,
)
from jinja2.exceptions import TemplateAssertionError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ._format import FILTERS, ago
from ._text import (
    Markdown,
    escape_markdown,
    neutralize_mentions,
    redact_text,
)

__all__ = [
    "Expression",
    "TemplateProblem",
    "Text",
    "compile_expression",
    "compile_text",
    "is_template",
]


class TemplateProblem(ValueError):  # noqa: N818 - never reaches users: config wraps it
    """
    A template that does not compile, with its line inside the template.
    """

    def __init__(self, message: str, lineno: int = 1) -> None:
        super().__init__(message)
        self.lineno = lineno


class Text(Protocol):
    """Something that renders an event context to a string."""

    source: str

    def render(self, context: Mapping[str, Any]) -> str:
        """Render *context*; raises whatever the template raises."""


class _Constant:
    """A text with no template syntax: rendering it costs nothing."""

    __slots__ = ("source",)

    def __init__(self, source: str) -> None:
        self.source = source

    def render(self, context: Mapping[str, Any]) -> str:  # noqa: ARG002
        return self.source


class _Template:
    __slots__ = ("_render", "source")

    def __init__(self, source: str, render: Callable[..., str]) -> None:
        self.source = source
        self._render = render

    def render(self, context: Mapping[str, Any]) -> str:
        return self._render(context)


def _value_to_text(value: Any) -> str:
    if value is None or isinstance(value, Undefined):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            return repr(value)
        return f"{value:.1f}"
    try:
        return str(value)
    except ValueError:  # an int with more digits than str() allows
        return f"<{type(value).__name__} too large to show>"


def _finalize_markdown(value: Any) -> str:
    if isinstance(value, Markdown):
        return neutralize_mentions(redact_text(value))
    text = _value_to_text(value)
    return neutralize_mentions(escape_markdown(redact_text(text)))


def _finalize_plain(value: Any) -> str:
    text = _value_to_text(value)
    return neutralize_mentions(redact_text(text))


@pass_context
def _ago_in_context(context: Context, value: Any, now: Any = None) -> str:
    return ago(value, now if now is not None else context.get("time"))


def _finalize_raw(value: Any) -> str:
    return _value_to_text(value)


def _make_env(finalize: Callable[[Any], str]) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=ChainableUndefined,
        finalize=finalize,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,
        cache_size=0,
    )
    env.filters.update(FILTERS)
    env.filters["ago"] = _ago_in_context
    return env


MARKDOWN_ENV = _make_env(_finalize_markdown)
PLAIN_ENV = _make_env(_finalize_plain)
RAW_ENV = _make_env(_finalize_raw)
_ENVS = {"markdown": MARKDOWN_ENV, "plain": PLAIN_ENV, "raw": RAW_ENV}


def is_template(source: str) -> bool:
    """Whether *source* has template syntax (else it is plain text)."""
    return _is_template(source)


def _is_template(source: str) -> bool:
    return "{{" in source or "{%" in source or "{#" in source


def _problem(
    exc: Exception, env: ImmutableSandboxedEnvironment
) -> TemplateProblem:
    lineno = getattr(exc, "lineno", None) or 1
    message = getattr(exc, "message", None) or str(exc)
    if (
        isinstance(exc, TemplateAssertionError)
        and "No filter named" in message
    ):
        name = message.split("'")[1] if "'" in message else ""
        close = difflib.get_close_matches(name, sorted(env.filters), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        message = f"unknown filter '{name}'{hint}"
    return TemplateProblem(f"template error: {message}", lineno)


def compile_text(source: str, *, mode: str = "markdown") -> Text:
    """
    Compile one routing text; plain text stays a constant.

    Args:
        source: The text from the routing file.
        mode: ``markdown`` where Discord renders markdown (values are
            escaped), ``plain`` where it does not, ``raw`` for channel
            keys (values used as they are).

    Raises:
        TemplateProblem: The template does not compile.
    """
    if not _is_template(source):
        return _Constant(source)
    env = _ENVS[mode]
    try:
        template = env.from_string(source)
    except (TemplateSyntaxError, TemplateAssertionError) as exc:
        raise _problem(exc, env) from None
    return _Template(source, template.render)


class Expression:
    """A compiled ``when:`` expression; truthy means the route matches."""

    __slots__ = ("_evaluate", "source")

    def __init__(self, source: str, evaluate: Callable[..., Any]) -> None:
        self.source = source
        self._evaluate = evaluate

    def __call__(self, context: Mapping[str, Any]) -> bool:
        """Evaluate against *context*; raises what the expression raises."""
        try:
            result = self._evaluate(context)
        except UndefinedError:
            return False  # a field the expression needs is missing
        if isinstance(result, Undefined):
            return False
        return bool(result)


def compile_expression(source: str) -> Expression:
    """
    Compile a ``when:`` expression in the sandbox.

    Raises:
        TemplateProblem: The expression does not compile.
    """
    try:
        evaluate = PLAIN_ENV.compile_expression(
            source, undefined_to_none=False
        )
    except (TemplateSyntaxError, TemplateAssertionError) as exc:
        raise _problem(exc, PLAIN_ENV) from None
    return Expression(source, evaluate)


def template_variables(source: str) -> set[str]:
    """
    Names a template reads from its context (for documentation and checks).
    """
    if not _is_template(source):
        return set()
    ast = PLAIN_ENV.parse(source)
    return {n.name for n in ast.find_all(nodes.Name) if n.ctx == "load"}
