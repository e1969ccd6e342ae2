"""
Tests for how routing texts are rendered (``_templates.py``).

Rendering takes short cuts that Jinja2's ``Template.render`` does not: the
texts of one embed share one scope, simple texts (``{{ agent }}``,
``{{ amount | money }}``) are rendered without a template, and the sandbox
and two tests answer common cases without their general machinery. Each
short cut must give exactly what plain Jinja2 gives, so these tests
compare the two: a reference environment, set up as the library's but
with Jinja2's own ``ImmutableSandboxedEnvironment`` and tests, renders
every text on its own with ``Template.render``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from numbers import Number
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2 import ChainableUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from polybot_loghandler._events import LogEvent
from polybot_loghandler._model import EmbedTemplate, FieldTemplate, Route
from polybot_loghandler._render import render_embed
from polybot_loghandler._sandbox import (
    _LOOP_ATTRIBUTES,
    MARKDOWN_ENV,
    PLAIN_ENV,
    RAW_ENV,
    _finalize_markdown,
    _finalize_plain,
    _finalize_raw,
    _is_mapping,
    _is_number,
)
from polybot_loghandler._templates import (
    Scope,
    Text,
    _Simple,
    compile_text,
)
from tests.support.hostile import BOT_TOKEN, WEBHOOK_URL, leaked
from tests.unit.test_render import (
    PROPERTY_SETTINGS,
    SHIPPED,
    SHIPPED_ROUTE_EVENTS,
    SHIPPED_ROUTER,
    _event,
    _values,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
)


def _reference_env(
    finalize: Callable[[Any], str],
) -> ImmutableSandboxedEnvironment:
    """
    An environment set up as the library's, with nothing of its own but
    the filters: Jinja2's sandbox and tests as they come.
    """
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
    # the library's filters: ours, and Jinja2's as it wraps them
    env.filters.update(MARKDOWN_ENV.filters)
    return env


REFERENCE = {
    "markdown": _reference_env(_finalize_markdown),
    "plain": _reference_env(_finalize_plain),
    "raw": _reference_env(_finalize_raw),
}


def _outcome(render: Callable[[], str]) -> tuple[str, Any]:
    """What rendering gives: its text, or its exception's type and text."""
    try:
        return "text", render()
    except Exception as exc:
        return "error", (type(exc), str(exc))


def _reference(source: str, mode: str, context: Mapping[str, Any]) -> Any:
    """Plain Jinja2: a template of its own and a fresh context."""
    template = REFERENCE[mode].from_string(source)
    return _outcome(lambda: template.render(context))


def _embed_texts(tpl: EmbedTemplate) -> list[tuple[Text, str]]:
    """An embed's texts in the order rendering reaches them, with modes."""
    texts: list[tuple[Text | None, str]] = [
        (tpl.title, "markdown"),
        (tpl.description, "markdown"),
        (tpl.url, "raw"),
        (None if isinstance(tpl.color, int) else tpl.color, "raw"),
    ]
    for field in tpl.fields or ():
        texts += [(field.value, "markdown"), (field.name, "markdown")]
    texts += [
        (tpl.footer, "plain"),
        (tpl.author, "plain"),
        (None if isinstance(tpl.timestamp, bool) else tpl.timestamp, "raw"),
    ]
    return [(text, mode) for text, mode in texts if text is not None]


class TestSameAsJinja:
    """
    Each text renders as plain Jinja2 renders it, in a shared scope too.
    """

    @pytest.mark.parametrize(
        "source",
        [
            pytest.param("{{ agent }}", id="name"),
            pytest.param("Agent: {{ agent }}!", id="name-in-text"),
            pytest.param("{{ amount | money }}", id="filter"),
            pytest.param("{{ amount | money(sign=true) }}", id="kwargs"),
            pytest.param("{{ amount | money(true, 'auto') }}", id="args"),
            pytest.param("{{ agent | humanize | upper }}", id="chain"),
            pytest.param(
                "{{ missing }}|{{ missing | money }}|{{ missing | upper }}",
                id="missing",
            ),
            pytest.param("{{ nested }}", id="mapping"),
            pytest.param("{{ nested.a }} {{ nested.items }}", id="attrs"),
            pytest.param("{{ nested.missing }}{{ nested.pop }}", id="unsafe"),
            pytest.param("{{ nested.__class__ }}", id="dunder"),
            pytest.param("{{ nested['a'] }}{{ nested.get('a') }}", id="item"),
            pytest.param("{{ odict.a }} {{ odict.move_to_end }}", id="odict"),
            pytest.param("{{ amount is number }}{{ flag is number }}", id="n"),
            pytest.param(
                "{{ nested is mapping }}{{ odict is mapping }}", id="m"
            ),
            pytest.param("{{ agent is mapping }}", id="not-mapping"),
            pytest.param("{{ self }}", id="self"),
            pytest.param("{{ range(3) | list }}{{ dict(a=1) }}", id="globals"),
            pytest.param("{{ time | datetime }} {{ time | time }}", id="time"),
            pytest.param("{{ then | ago }}", id="ago-in-context"),
            pytest.param("{{ fields.agent }}", id="fields"),
            pytest.param("{{ hostile }}", id="hostile"),
            pytest.param("<{{ at }}everyone>", id="mention-around"),
            pytest.param(
                "{% autoescape true %}{{ html }}{% endautoescape %}",
                id="autoescape",
            ),
            pytest.param("{% set x = 1 %}{{ x }}", id="set"),
            pytest.param("{{ amount | money(decimals=x) }}", id="dynamic"),
            pytest.param("{{ 1 / 0 }}", id="error"),
        ],
    )
    @pytest.mark.parametrize("mode", ["markdown", "plain", "raw"])
    def test_text(self, source: str, mode: str) -> None:
        """
        A text gives what plain Jinja2 gives, alone and in a scope.
        """
        context = {
            "agent": "Momentum_BTC_v1",
            "amount": 20.5,
            "flag": True,
            "nested": {"a": "x_y", "ok": True},
            "odict": OrderedDict(a=1),
            "time": datetime(2026, 1, 30, 14, 23, 45, tzinfo=timezone.utc),
            "then": 1769783000,
            "fields": {"agent": "A"},
            "hostile": "@everyone **bold** discord.com/api/webhooks/1/tok",
            "at": "@",
            "html": "<b>",
        }
        text = compile_text(source, mode=mode)
        expected = _reference(source, mode, context)

        assert expected == _outcome(lambda: text.render(context))
        assert expected == _outcome(lambda: text.render_in(Scope(context)))

    @pytest.mark.parametrize(
        ("source", "simple"),
        [
            ("{{ agent }}", True),
            ("A {{ agent }} B {{ amount | money(sign=true) }}", True),
            ("{{ agent | humanize | upper }}", True),
            ("{{ a.b }}", False),
            ("{{ then | ago }}", False),  # takes the context
            ("{{ xs | join(', ') }}", False),  # takes the eval context
            ("{{ amount | money(decimals=x) }}", False),
            ("{{ amount | money(**kw) }}", False),
            ("{{ self }}", False),
            ("{{ 'a' }}", False),
            ("{% if a %}{{ a }}{% endif %}", False),
        ],
    )
    def test_which_texts_are_simple(self, source: str, simple: bool) -> None:
        """
        Only names with plain filters and constant arguments skip Jinja2.
        """
        assert simple == isinstance(compile_text(source), _Simple)

    def test_names_set_in_one_text_do_not_reach_the_next(self) -> None:
        """
        A top-level ``{% set %}`` or macro stays in the text that made it.
        """
        scope = Scope({"x": "from the event"})
        setter = compile_text(
            "{% set x = 'set' %}{% macro m() %}M{% endmacro %}{{ x }}{{ m() }}"
        )
        reader = compile_text("{% if true %}{{ x }}|{{ m }}{% endif %}")
        simple_reader = compile_text("{{ x }}|{{ m }}")

        assert "setM" == setter.render_in(scope)
        assert "from the event|" == reader.render_in(scope)
        assert "from the event|" == simple_reader.render_in(scope)

    def test_a_failed_text_leaves_nothing_behind(self) -> None:
        """
        A text that sets a name and then fails does not leak the name.
        """
        scope = Scope({"y": 0})
        failing = compile_text("{% set x = 'set' %}{{ 1 / y }}")
        reader = compile_text("{% if true %}[{{ x }}]{% endif %}")

        with pytest.raises(ZeroDivisionError):
            failing.render_in(scope)
        assert "[]" == reader.render_in(scope)

    def test_autoescape_left_open_by_a_failure_stays_in_its_text(self) -> None:
        """
        A text that fails inside ``{% autoescape %}`` cannot turn escaping
        on for the next text (it never shares its runtime context).
        """
        scope = Scope({"html": "<b>", "y": 0})
        failing = compile_text(
            "{% autoescape true %}{{ 1 / y }}{% endautoescape %}",
            mode="raw",
        )
        # replace reads the eval context's autoescape as it runs (and
        # with it on, would escape the text before replacing in it)
        reader = compile_text(
            "{{ html | replace(html | safe, 'b') }}", mode="raw"
        )

        with pytest.raises(ZeroDivisionError):
            failing.render_in(scope)
        assert "b" == reader.render_in(scope)

    @pytest.mark.parametrize(
        "source", ["{{ agent }}", "{% if true %}{{ agent }}{% endif %}"]
    )
    def test_a_name_that_is_not_a_string_is_passed_over(
        self, source: str
    ) -> None:
        """
        A context with a name that is not a string (an event field can
        have one) renders as Jinja2 renders it without that name; Jinja2's
        own ``Template.render`` would refuse the whole context.
        """
        context: dict[Any, Any] = {"agent": "A", 1: 2}
        text = compile_text(source)
        expected = _reference(source, "markdown", {"agent": "A"})

        assert ("text", "A") == expected
        assert expected == _outcome(lambda: text.render(context))

    @PROPERTY_SETTINGS
    @given(ev=SHIPPED_ROUTE_EVENTS)
    @pytest.mark.slow
    def test_shipped_texts(self, ev: LogEvent) -> None:
        """
        Every text of every shipped route that takes the event, rendered
        in one scope in the order rendering reaches them, gives what
        plain Jinja2 gives for it alone.
        """
        context = ev.context()
        for hit in SHIPPED_ROUTER.route(ev, context, lambda *_: None):
            if hit.route.embed is None:
                continue
            scope = Scope(context)
            for text, mode in _embed_texts(hit.route.embed):
                expected = _reference(text.source, mode, context)

                assert expected == _outcome(
                    lambda t=text, s=scope: t.render_in(s)
                )


def _reference_route(route: Route) -> Route:
    """*route* with every text rendered by plain Jinja2 (see _reference)."""

    @dataclasses.dataclass
    class Reference:
        source: str
        mode: str
        constant: str | None = None

        def render(self, context: Mapping[str, Any]) -> str:
            template = REFERENCE[self.mode].from_string(self.source)
            return template.render(context)

        def render_in(self, scope: Scope) -> str:
            return self.render(scope._context)

        def shown_in(self, scope: Scope) -> str:
            from polybot_loghandler._text import neutralize_mentions

            return neutralize_mentions(self.render_in(scope).strip())

    def ref(text: Any, mode: str) -> Any:
        if text is None or isinstance(text, (bool, int)):
            return text
        return Reference(text.source, mode)

    tpl = route.embed
    assert tpl is not None
    fields = (
        None
        if tpl.fields is None
        else tuple(
            FieldTemplate(
                name=ref(f.name, "markdown"),
                value=ref(f.value, "markdown"),
                inline=f.inline,
            )
            for f in tpl.fields
        )
    )
    embed = dataclasses.replace(
        tpl,
        title=ref(tpl.title, "markdown"),
        description=ref(tpl.description, "markdown"),
        url=ref(tpl.url, "raw"),
        color=ref(tpl.color, "raw"),
        fields=fields,
        footer=ref(tpl.footer, "plain"),
        author=ref(tpl.author, "plain"),
        timestamp=ref(tpl.timestamp, "raw"),
    )
    return dataclasses.replace(route, embed=embed)


class Errors:
    def __init__(self) -> None:
        self.seen: list[tuple[str, type[Exception], str]] = []

    def __call__(self, part: str, exc: Exception) -> None:
        self.seen.append((part, type(exc), str(exc)))


class TestEmbedsSameAsJinja:
    """
    Whole embeds come out as when every text is rendered by plain Jinja2.
    """

    @PROPERTY_SETTINGS
    @given(ev=SHIPPED_ROUTE_EVENTS, label_channel=st.booleans())
    @pytest.mark.slow
    def test_shipped_embeds(self, ev: LogEvent, label_channel: bool) -> None:
        """
        The shipped routes render every event exactly as the reference
        does, errors included, for every channel (twice for the routes
        that send one event to two channels).
        """
        context = ev.context()
        for hit in SHIPPED_ROUTER.route(ev, context, lambda *_: None):
            if hit.route.embed is None:
                continue
            reference = _reference_route(hit.route)
            for key in hit.channels:
                channel = SHIPPED.channels.get(key)
                got, want = Errors(), Errors()
                embed = render_embed(
                    ev, context, hit.route, channel, got, label_channel=True
                )
                expected = render_embed(
                    ev, context, reference, channel, want, label_channel=True
                )

                assert expected == embed
                assert want.seen == got.seen

    def test_a_second_render_is_a_copy(self) -> None:
        """
        Rendering the same event's embed again (for a second channel)
        gives an equal embed that shares nothing that can change.
        """
        route = next(r for r in SHIPPED.routes if r.name == "trade_executed")
        ev = _event(agent="A", amount=20.0, is_paper=True)
        context = ev.context()

        first = render_embed(ev, context, route, None, Errors())
        second = render_embed(ev, context, route, None, Errors())

        assert first == second
        assert first is not second
        assert first["fields"] is not second["fields"]
        assert all(
            a is not b
            for a, b in zip(first["fields"], second["fields"], strict=True)
        )

    def test_each_render_reports_its_errors(self) -> None:
        """
        A template that fails is reported on every render, not once.
        """
        route = next(r for r in SHIPPED.routes if r.name == "trade_executed")
        broken = dataclasses.replace(
            route.embed, title=compile_text("{{ 1 / amount }}")
        )
        route = dataclasses.replace(route, embed=broken)
        ev = _event(agent="A", amount=0)
        context = ev.context()
        errors = Errors()

        render_embed(ev, context, route, None, errors)
        render_embed(ev, context, route, None, errors)

        assert 2 == len(errors.seen)


class TestQuickAnswers:
    """
    The sandbox's dict attributes and the ``number`` and ``mapping`` tests
    answer as Jinja2's own do.
    """

    @given(value=_values(st.text(max_size=5)))
    @pytest.mark.slow
    def test_number_and_mapping(self, value: Any) -> None:
        """
        The quick tests agree with the ABC checks they stand for.
        """
        assert isinstance(value, Number) == _is_number(value)
        assert isinstance(value, Mapping) == _is_mapping(value)

    @pytest.mark.parametrize(
        "expression",
        [
            *(f"loop.{name}" for name in sorted(_LOOP_ATTRIBUTES)),
            "loop.cycle('a', 'b')",
            "loop.changed(x % 2)",
            "loop._after",
            "loop.nope",
        ],
    )
    def test_loop_attributes(self, expression: str) -> None:
        """
        ``loop.name`` in a loop gives what Jinja2's sandbox gives.
        """
        source = (
            "{% for x in [1, 2, 3] %}{{ " + expression + " }};{% endfor %}"
        )
        for env, reference in (
            (MARKDOWN_ENV, REFERENCE["markdown"]),
            (RAW_ENV, REFERENCE["raw"]),
        ):
            got = _outcome(env.from_string(source).render)
            want = _outcome(reference.from_string(source).render)

            # a bound method shows its address: compare what precedes it
            assert str(want).split(" at 0x")[0] == str(got).split(" at 0x")[0]

    @given(
        name=st.one_of(
            st.sampled_from(sorted(dir(dict))), st.text(max_size=8)
        ),
        value=st.dictionaries(st.text(max_size=8), st.integers(), max_size=4),
    )
    def test_dict_attributes(self, name: str, value: dict[str, int]) -> None:
        """
        ``d.name`` gives what Jinja2's sandbox gives, for any name.
        """
        for env, reference in (
            (MARKDOWN_ENV, REFERENCE["markdown"]),
            (PLAIN_ENV, REFERENCE["plain"]),
            (RAW_ENV, REFERENCE["raw"]),
        ):
            got = env.getattr(value, name)
            want = reference.getattr(value, name)

            assert type(want) is type(got)
            assert str(want) == str(got)
            if not callable(want):
                assert want == got or (
                    isinstance(want, float) and math.isnan(want)
                )


class TestHostileText:
    """
    Text from events always encodes, and tokens in it are hidden before
    any filter or string method can cut, re-case or re-encode them.
    """

    @pytest.mark.parametrize("mode", ["markdown", "plain"])
    @pytest.mark.parametrize(
        "source",
        [
            "{{ v }}",
            "a {{ v }} b",
            "{% if true %}{{ v }}{% endif %}",
            "{{ v | tree }}",
            "{{ [v, v] | tree }}",
            "{{ v | code }}",
            "{{ v | humanize }}",
            "{{ v | upper }}",
            "{{ {v: v} | checklist | tree }}",
            "{{ v | discord_time }}",
            "{{ [v] }}",
        ],
    )
    def test_surrogates_are_replaced(self, source: str, mode: str) -> None:
        """A lone surrogate from ``os.fsdecode`` shows as U+FFFD."""
        text = compile_text(source, mode=mode)

        shown = text.shown_in(Scope({"v": "report-\udcff.csv"}))

        shown.encode("utf-8")
        assert "\ufffd" in shown or "\\udcff" in shown

    @pytest.mark.parametrize(
        "source",
        ["plain\ud800", "a\ud800 {{ v }}", "{% if v %}\udcff{% endif %}"],
    )
    def test_a_template_with_a_surrogate_encodes(self, source: str) -> None:
        """A surrogate in the routing text itself is replaced too."""
        text = compile_text(source)

        shown = text.shown_in(Scope({"v": 1}))

        shown.encode("utf-8")

    @pytest.mark.parametrize("planted", [BOT_TOKEN, WEBHOOK_URL])
    @pytest.mark.parametrize(
        "source",
        [
            "{{ v | lower }}",
            "{{ v | upper }}",
            "{{ v | title }}",
            "{{ v | capitalize }}",
            "{{ v | reverse }}",
            "{{ v | truncate(50) }}",
            "{{ v | wordwrap(12) }}",
            "{{ v | center(200) }}",
            "{{ v | replace('_', ' ') }}",
            "{{ v | list }}",
            "{{ v | batch(5) | list }}",
            "{{ v | slice(3) | list }}",
            "{{ v | urlencode }}",
            "{{ [v] | upper }}",
            "{{ [v] | map('lower') | join }}",
            "{{ v.lower() }}",
            "{{ v.upper() }}",
            "{{ v.title() }}",
            "{{ v.split('_') | join(' ') }}",
            "{{ v.replace('-', ' ') }}",
            "{{ v[-30:] }}",
            "{{ v[20:] }}",
            "{{ v[::-1] }}",
            "{{ {'a': [v]}.a[0][-40:] }}",
            "{{ fields.v[10:] }}",
            "{{ message[-30:] }}",
            "{% for p in [v] %}{{ p[-30:] }}{% endfor %}",
            "{% for c in v %}{{ c }}{% endfor %}",
            "{% for i in range(0, 80) %}{{ v[i] }}{% endfor %}",
            "{% for c in nested.deep[0] %}{{ c }}{% endfor %}",
            "{% for c in exception %}{{ c }}{% endfor %}",
            "{{ logger[-30:] }}{{ event[-30:] }}",
        ],
    )
    def test_tokens_hidden_first(self, source: str, planted: str) -> None:
        """No filter, string method, slice or loop can leave a token bare."""
        event = LogEvent(
            event=planted,
            level=logging.INFO,
            logger=planted,
            fields={"v": planted, "nested": {"deep": [planted]}},
            message=planted,
            exception=f"Traceback: {planted}",
        )
        for mode in ("markdown", "plain"):
            shown = compile_text(source, mode=mode).shown_in(
                Scope(event.context())
            )
            assert leaked(shown) is None, (mode, shown)
