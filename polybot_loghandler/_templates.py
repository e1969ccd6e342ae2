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
import functools
import math
import threading
from collections import abc
from collections.abc import Callable, Mapping
from numbers import Number
from typing import Any, Protocol

from jinja2 import (
    ChainableUndefined,
    Template,
    TemplateSyntaxError,
    Undefined,
    UndefinedError,
    nodes,
    pass_context,
)
from jinja2.exceptions import TemplateAssertionError
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

from ._format import FILTERS, ago
from ._text import (
    _SAFE_MARKDOWN,
    Markdown,
    encodable,
    neutralize_mentions,
    redact_text,
    safe_markdown,
)
from ._values import text_of

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
            names = self.names = {**_GLOBALS, **self._context}
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


def _value_to_text(value: Any) -> str:
    if value is None or isinstance(value, Undefined):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            return repr(value)
        return f"{value:.1f}"
    return text_of(value)


def _finalize_markdown(value: Any) -> str:
    if value.__class__ is str:  # the common case first
        return _SAFE_MARKDOWN.get(value) or safe_markdown(value)
    if isinstance(value, Markdown):
        return neutralize_mentions(redact_text(encodable(value)))
    return safe_markdown(_value_to_text(value))


def _finalize_plain(value: Any) -> str:
    text = value if value.__class__ is str else _value_to_text(value)
    return neutralize_mentions(redact_text(encodable(text)))


@pass_context
def _ago_in_context(context: Context, value: Any, now: Any = None) -> str:
    return ago(value, now if now is not None else context.get("time"))


def _finalize_raw(value: Any) -> str:
    return _value_to_text(value)


def _tokens_hidden(value: Any) -> Any:
    """*value* with tokens hidden if it is text, else *value* itself."""
    if not isinstance(value, str):
        return value
    hidden = redact_text(encodable(value))
    if hidden == value:
        return value
    return Markdown(hidden) if isinstance(value, Markdown) else hidden


def _hiding_tokens_first(
    function: Callable[..., Any], *, as_text: bool = False
) -> Callable[..., Any]:
    """
    *function* (a filter) given its text arguments with tokens hidden.

    A filter that cuts, re-cases, reverses or re-encodes text
    (``truncate``, ``lower``, ``reverse``, ``urlencode``, ...) would leave
    a token that the finalizer no longer finds; hidden first, there is
    none to leave. With *as_text*, a value that is not text is made text
    first, as the filter would make it (``{{ [url] | upper }}``).
    """
    # a filter that takes the context or environment has it first
    skip = 0 if getattr(function, "jinja_pass_arg", None) is None else 1

    @functools.wraps(function)
    def filtered(*args: Any, **kwargs: Any) -> Any:
        if as_text and len(args) > skip:
            value = args[skip]
            if not isinstance(value, (str, Undefined)) and value is not None:
                args = (*args[:skip], text_of(value), *args[skip + 1 :])
        shown = [
            a if n < skip else _tokens_hidden(a) for n, a in enumerate(args)
        ]
        named = {k: _tokens_hidden(v) for k, v in kwargs.items()}
        return function(*shown, **named)

    return filtered


#: Jinja2's filters that make any value text (``str()``) and change it.
_MAKE_TEXT = frozenset(
    {
        "capitalize",
        "center",
        "indent",
        "lower",
        "replace",
        "striptags",
        "title",
        "truncate",
        "upper",
        "urlize",
        "wordwrap",
    }
)
#: Jinja2's filters that keep the text they are given whole (they copy,
#: join, quote or count it): a token in it stays findable by the
#: finalizer, so they are taken as they are. Every other filter of
#: Jinja2's, known today or added later, is given its text with tokens
#: hidden first (see _hiding_tokens_first); ours hide them themselves.
_KEEP_TEXT_WHOLE = frozenset(
    {
        "abs",
        "attr",
        "count",
        "d",
        "default",
        "dictsort",
        "e",
        "escape",
        "filesizeformat",
        "float",
        "forceescape",
        "groupby",
        "int",
        "items",
        "join",
        "length",
        "map",
        "max",
        "min",
        "pprint",
        "reject",
        "rejectattr",
        "round",
        "safe",
        "select",
        "selectattr",
        "sort",
        "string",
        "sum",
        "tojson",
        "trim",
        "unique",
        "wordcount",
        "xmlattr",
    }
)


#: What an attribute of a plain dict can be; any other name is an item.
_DICT_ATTRIBUTES = frozenset(dir(dict))
#: The dict methods templates call (``signals.items()``): the sandbox
#: allows them (they change nothing), so they are taken directly.
_DICT_READERS = frozenset({"get", "items", "keys", "values"})
#: What a ``{% for %}`` loop's ``loop`` offers (``loop.first``, ...): the
#: sandbox allows every one of them, so they are taken directly.
_LOOP_ATTRIBUTES = frozenset(
    name for name in dir(LoopContext) if not name.startswith("_")
)


class _Sandbox(ImmutableSandboxedEnvironment):
    """
    Jinja2's immutable sandbox, quicker on what templates read most.

    ``getattr`` tries the attribute first and takes the item when there
    is none; for a ``dict`` and a name that is not one of its attributes
    the attribute lookup can only fail, and failing costs an exception,
    so the item is taken directly, which is what the sandbox does next.
    A dict's reading methods and a loop's attributes are ones the
    sandbox's checks always allow, so they skip the checks. Everything
    else goes through the sandbox's own checks.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Get *attribute* of *obj*, else its item of that name."""
        cls = obj.__class__
        if cls is dict:
            if attribute not in _DICT_ATTRIBUTES:
                try:
                    return obj[attribute]
                except (TypeError, LookupError):
                    return self.undefined(obj=obj, name=attribute)
            if attribute in _DICT_READERS:
                return getattr(obj, attribute)
        elif cls is LoopContext and attribute in _LOOP_ATTRIBUTES:
            return getattr(obj, attribute)
        elif isinstance(obj, str):
            # a string's methods (lower, split, replace, ...) take it
            # apart as filters do: they get it with tokens hidden
            obj = _tokens_hidden(obj)
        return super().getattr(obj, attribute)


def _is_mapping(value: Any) -> bool:
    """Jinja2's ``mapping`` test, with a quick answer for a plain dict."""
    return value.__class__ is dict or isinstance(value, abc.Mapping)


def _is_number(value: Any) -> bool:
    """Jinja2's ``number`` test, with a quick answer for int and float."""
    cls = value.__class__
    return cls is int or cls is float or isinstance(value, Number)


def _make_env(finalize: Callable[[Any], str]) -> ImmutableSandboxedEnvironment:
    env = _Sandbox(
        undefined=ChainableUndefined,
        finalize=finalize,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,
        cache_size=0,
    )
    for name, function in env.filters.items():
        if name not in _KEEP_TEXT_WHOLE:
            env.filters[name] = _hiding_tokens_first(
                function, as_text=name in _MAKE_TEXT
            )
    env.filters.update(FILTERS)
    env.filters["ago"] = _ago_in_context
    env.tests["mapping"] = _is_mapping
    env.tests["number"] = _is_number
    return env


MARKDOWN_ENV = _make_env(_finalize_markdown)
PLAIN_ENV = _make_env(_finalize_plain)
RAW_ENV = _make_env(_finalize_raw)
# the three have the same globals: one dict, so a Scope merges it once
_GLOBALS = MARKDOWN_ENV.globals
PLAIN_ENV.globals = RAW_ENV.globals = _GLOBALS
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
    source = encodable(source)  # a lone surrogate can never be sent
    if not _is_template(source):
        return _Constant(source)
    env = _ENVS[mode]
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
