"""
The sandboxed Jinja2 environments that routing templates run in.

Three environments share the filters and differ in how they finish each
``{{ value }}``: where Discord renders markdown (titles, descriptions,
fields) values are markdown-escaped; where it does not (footer, author)
they are left as they are but for mentions and tokens; ``raw`` leaves
them as text. Every filter that cuts or re-cases text gets it with
tokens hidden first, so none can leave half a token. The sandbox is
Jinja2's immutable one, quicker on what templates read most.
"""

from __future__ import annotations

import functools
import math
from collections import abc
from collections.abc import Callable
from numbers import Number
from typing import Any

from jinja2 import ChainableUndefined, Undefined, pass_context
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment

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

__all__ = ["ENVS", "GLOBALS", "MARKDOWN_ENV", "PLAIN_ENV", "RAW_ENV"]


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
GLOBALS = MARKDOWN_ENV.globals
PLAIN_ENV.globals = RAW_ENV.globals = GLOBALS
ENVS = {"markdown": MARKDOWN_ENV, "plain": PLAIN_ENV, "raw": RAW_ENV}
