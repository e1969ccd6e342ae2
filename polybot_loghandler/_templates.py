"""
Routing templates, compiled once: texts, expressions and their scope.

A text with no template syntax is a constant; a lone ``{{ value }}`` or
a value through plain filters takes a quick path; everything else runs
as a Jinja2 template in one of the sandboxed environments of
``_sandbox``. Literal template text is the routing author's and is
never changed; values are made safe as their environment says.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from jinja2 import (
    Template,
    TemplateSyntaxError,
    Undefined,
    UndefinedError,
    nodes,
)
from jinja2.exceptions import TemplateAssertionError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

from ._sandbox import ENVS, GLOBALS, PLAIN_ENV
from ._text import (
    encodable,
    neutralize_mentions,
)

__all__ = [
    "Expression",
    "Scope",
    "TemplateProblem",
    "Text",
    "compile_expression",
    "compile_text",
    "is_template",
    "literal_text",
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
    #: The text as :meth:`shown_in` shows it when that is the same for
    #: every event (plain text), else None.
    constant: str | None

    def render(self, context: Mapping[str, Any]) -> str:
        """Render *context*; raises whatever the template raises."""

    def render_in(self, scope: Scope) -> str:
        """Render in *scope*, shared with other texts of the same event."""

    def shown_in(self, scope: Scope) -> str:
        """
        Render in *scope* as an embed shows it: stripped, pings broken.

        Values had their mentions broken as they were put in; this also
        catches one completed by template text around a value
        (``<{{ x }}``).
        """


class Scope:
    """
    One event's context, made once and shared by the texts rendered in it.

    Jinja2's ``Template.render`` copies the context twice (once into a
    dict, once merged with the environment's globals) and builds a new
    runtime context for every text; for an embed of ten short texts
    that was most of the cost. A scope merges the globals once, and texts
    that cannot leave anything behind are rendered in a runtime context
    kept for the thread, pointed at the scope's names for each text (see
    :func:`_shared_context`). What a text does set (a top-level ``{% set
    %}`` or macro) is cleared before the next text runs, so no text sees
    another's names; texts that use blocks, imports, includes or ``{%
    autoescape %}`` always get a runtime context of their own.

    Args:
        context: What templates see (``LogEvent.context()``); it must
            not change while the scope is in use.
    """

    __slots__ = ("_context", "names")

    def __init__(self, context: Mapping[str, Any]) -> None:
        self._context = context
        #: What :meth:`parent` returns, once it has been asked.
        self.names: dict[str, Any] | None = None

    def parent(self) -> dict[str, Any]:
        """
        The names every text sees: the globals, the context over them.

        A name that is not a string (an event field can have one) is
        there too, and no template can read it.
        """
        names = self.names
        if names is None:
            names = self.names = {**GLOBALS, **self._context}
        return names


class _SharedContexts(threading.local):
    """Each thread's runtime contexts for shareable texts, by environment."""

    def __init__(self) -> None:
        self.by_env: dict[int, Context] = {}


_SHARED = _SharedContexts()
_NO_NAMES: dict[str, Any] = {}


def _shared_context(env: ImmutableSandboxedEnvironment) -> Context:
    """
    This thread's runtime context of *env* for texts that can share one.

    Building a runtime context costs more than rendering a short text,
    and one that a text leaves as it found it (see ``_NOT_SHAREABLE``)
    can serve the next; its names are set for each text. A text renders
    to the end before the next starts, so one per thread is enough.
    """
    by_env = _SHARED.by_env
    found = by_env.get(id(env))
    if found is None:
        found = by_env[id(env)] = env.context_class(env, _NO_NAMES, None, {})
    return found


class _Constant:
    """A text with no template syntax: rendering it costs nothing."""

    __slots__ = ("constant", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.constant: str | None = neutralize_mentions(source.strip())

    def render(self, context: Mapping[str, Any]) -> str:  # noqa: ARG002
        return self.source

    def render_in(self, scope: Scope) -> str:  # noqa: ARG002
        return self.source

    def shown_in(self, scope: Scope) -> str:  # noqa: ARG002
        return self.source if self.constant is None else self.constant


#: Template nodes that use the runtime context beyond reading names and
#: setting top-level ones (blocks, other templates, the eval context).
_NOT_SHAREABLE = (
    nodes.Block,
    nodes.Extends,
    nodes.Include,
    nodes.Import,
    nodes.FromImport,
    nodes.EvalContextModifier,
    nodes.ScopedEvalContextModifier,
)


class _Template:
    """A text that Jinja2 renders."""

    __slots__ = ("_env", "_root", "_shareable", "source")
    constant: str | None = None

    def __init__(
        self,
        source: str,
        env: ImmutableSandboxedEnvironment,
        template: Template,
        *,
        shareable: bool,
    ) -> None:
        self.source = source
        self._env = env
        self._root = template.root_render_func
        self._shareable = shareable

    def render(self, context: Mapping[str, Any]) -> str:
        return self.render_in(Scope(context))

    def shown_in(self, scope: Scope) -> str:
        text = self.render_in(scope).strip()
        return neutralize_mentions(text) if "@" in text else text

    def render_in(self, scope: Scope) -> str:
        env = self._env
        try:
            names = scope.names or scope.parent()
            if not self._shareable:
                context = env.context_class(env, names, None, {})
                return "".join(self._root(context))
            context = _shared_context(env)
            context.parent = names
            try:
                return "".join(self._root(context))
            finally:
                context.parent = _NO_NAMES  # keep no event alive
                if context.vars or context.exported_vars:
                    context.vars = {}
                    context.exported_vars = set()
        except Exception:
            # as Template.render: the traceback shows the template's lines
            env.handle_exception()


#: One filter applied by a simple text: the function and its arguments.
_Filter = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class _Value:
    """A simple text's ``{{ name | filter ... }}``."""

    __slots__ = ("filters", "name")

    def __init__(self, name: str, filters: tuple[_Filter, ...]) -> None:
        self.name = name
        self.filters = filters


#: A simple text's pieces: literal text, or a value.
_Piece = str | _Value


class _Simple:
    """
    A text of literal text and ``{{ name }}`` or ``{{ name | f(...) }}``.

    Most routing texts look like this (``{{ agent }}``, ``{{ amount |
    money }}``, ``Agent: {{ agent }}``); they are rendered here as the
    code Jinja2 generates for them does it, without the per-render cost
    of a template: the name is looked up (an undefined one becomes the
    environment's ``Undefined``), the filters are called in order with
    their constant arguments, and the result is finalized. Anything else
    (attributes, tests, operators, statements, filters that take the
    context or the environment) is left to Jinja2.
    """

    __slots__ = ("_finalize", "_one", "_pieces", "_undefined", "source")
    constant: str | None = None

    def __init__(
        self,
        source: str,
        env: ImmutableSandboxedEnvironment,
        pieces: tuple[_Piece, ...],
    ) -> None:
        self.source = source
        self._pieces = pieces
        # the most common text of all: one value, no literal text
        one = pieces[0] if len(pieces) == 1 else None
        self._one = one if isinstance(one, _Value) else None
        self._undefined = env.undefined
        self._finalize: Callable[[Any], str] = env.finalize  # type: ignore[assignment]

    def render(self, context: Mapping[str, Any]) -> str:
        return self.render_in(Scope(context))

    def shown_in(self, scope: Scope) -> str:
        one = self._one
        if one is None:
            text = self.render_in(scope).strip()
        else:  # _show, inline: this is the text rendered most
            value = (scope.names or scope.parent()).get(one.name, missing)
            if value is missing:
                value = self._undefined(name=one.name)
            for function, args, kwargs in one.filters:
                value = function(value, *args, **kwargs)
            text = str(self._finalize(value)).strip()
        return neutralize_mentions(text) if "@" in text else text

    def render_in(self, scope: Scope) -> str:
        names = scope.names or scope.parent()
        one = self._one
        if one is not None:
            return self._show(one, names)
        return "".join(
            [
                piece if isinstance(piece, str) else self._show(piece, names)
                for piece in self._pieces
            ]
        )

    def _show(self, piece: _Value, names: dict[str, Any]) -> str:
        value = names.get(piece.name, missing)
        if value is missing:
            value = self._undefined(name=piece.name)
        for function, args, kwargs in piece.filters:
            value = function(value, *args, **kwargs)
        return str(self._finalize(value))


def _simple_pieces(
    ast: nodes.Template, env: ImmutableSandboxedEnvironment
) -> tuple[_Piece, ...] | None:
    """A template's pieces if :class:`_Simple` can render it, else None."""
    if len(ast.body) != 1 or not isinstance(ast.body[0], nodes.Output):
        return None
    pieces: list[_Piece] = []
    for child in ast.body[0].nodes:
        if isinstance(child, nodes.TemplateData):
            pieces.append(child.data)
            continue
        node: nodes.Node | None = child
        filters: list[_Filter] = []
        while isinstance(node, nodes.Filter):
            found = _simple_filter(node, env)
            if found is None:
                return None
            filters.append(found)
            node = node.node
        if (
            not isinstance(node, nodes.Name)
            or node.ctx != "load"
            or node.name == "self"  # Jinja2's reference to the template
        ):
            return None
        pieces.append(_Value(node.name, tuple(reversed(filters))))
    return tuple(pieces)


def _simple_filter(
    node: nodes.Filter, env: ImmutableSandboxedEnvironment
) -> _Filter | None:
    function = env.filters.get(node.name)
    if (
        function is None
        or getattr(function, "jinja_pass_arg", None) is not None
        or node.dyn_args is not None
        or node.dyn_kwargs is not None
        or not all(isinstance(a, nodes.Const) for a in node.args)
        or not all(isinstance(k.value, nodes.Const) for k in node.kwargs)
    ):
        return None
    args = tuple(a.value for a in node.args)  # type: ignore[attr-defined]
    kwargs = {str(k.key): k.value.value for k in node.kwargs}  # type: ignore[attr-defined]
    return function, args, kwargs


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
    source = encodable(source)  # a lone surrogate can never be sent
    if not _is_template(source):
        return _Constant(source)
    env = ENVS[mode]
    try:
        template = env.from_string(source)
    except (TemplateSyntaxError, TemplateAssertionError) as exc:
        raise _problem(exc, env) from None
    ast = env.parse(source)
    pieces = _simple_pieces(ast, env)
    if pieces is not None:
        return _Simple(source, env, pieces)
    shareable = next(ast.find_all(_NOT_SHAREABLE), None) is None
    return _Template(source, env, template, shareable=shareable)


def literal_text(source: str) -> Text:
    """
    *source* as a text shown as it is written, even with ``{{`` in it.

    For text the library builds from names in the routing file (a
    channel's name or category): a name is not a template.
    """
    return _Constant(encodable(source))


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
