"""
Hostile values through every shipped route and every template filter.

Whatever an event holds (text with lone surrogates or control
characters, tokens in any spelling, mentions, huge numbers, objects whose
``str()`` or ``repr()`` raises), every message built from it:

- encodes to UTF-8 JSON, as the sender encodes it;
- is within Discord's limits and its OpenAPI schema;
- holds no webhook or bot token, in any spelling or case;
- pings no one its route did not name;

A value or a field name that cannot be shown (its ``str()`` and
``repr()`` raise) costs only its own place in the embed, shown as
``<TypeName>``, never the event: no event is dropped as unrenderable or
counted as an internal error. The console sink shows the same messages
with no control character a terminal would act on.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from fakes.discord_schema import payload_errors
from polybot_loghandler import Config, load_config
from polybot_loghandler._batching import coalesce_key
from polybot_loghandler._console import ConsoleSink, format_message
from polybot_loghandler._events import LogEvent, RawEvent, format_exception
from polybot_loghandler._message import RoutedMessage
from polybot_loghandler._payload import build_payload
from polybot_loghandler._pipeline import Pipeline
from polybot_loghandler._render import render_embed
from polybot_loghandler._sandbox import MARKDOWN_ENV
from tests.conftest import SHIPPED_ROUTING
from tests.integration.test_polybot_routing import VOCABULARY, Ev
from tests.support.hostile import (
    HOSTILE_KEYS,
    HOSTILE_TEXT,
    HOSTILE_VALUES,
    PLANTED,
    WEBHOOK_URL,
    leaked,
)
from tests.unit.test_render import Errors, _route

pytestmark = pytest.mark.filterwarnings(
    "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
)

# -- the secrets and values: tests/support/hostile.py -----------------------

SETTINGS = settings(
    max_examples=12,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- what a message must be -------------------------------------------------

#: A ping Discord would parse (a broken one has U+200B after the "@").
LIVE_MENTION = re.compile(r"@(?:everyone|here)|<@(?!\u200b)")


def _texts(value: Any) -> Iterator[str]:
    """Every string in a payload."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def assert_safe(
    payload: dict[str, Any],
    content: str | None,
    allowed: dict[str, Any],
    where: str,
) -> None:
    """*payload* encodes, is valid, holds no token, pings only as named."""
    # as httpx encodes a json= body
    body = json.dumps(
        payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")
    assert [] == payload_errors(payload), where
    found = leaked(body.decode("utf-8"))
    assert found is None, f"{where}: {found!r} in {body[:2000]!r}"
    assert content == payload.get("content"), where
    assert allowed == payload["allowed_mentions"], where
    for text in _texts(payload.get("embeds", [])):
        assert LIVE_MENTION.search(text) is None, f"{where}: {text!r}"


#: What a terminal acts on: C0 controls but newline and tab, DEL, C1.
TERMINAL_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def assert_harmless_on_a_terminal(text: str) -> None:
    """The console sink's text: encodable, no control character in it."""
    text.encode("utf-8")
    assert TERMINAL_CONTROL.search(text) is None, repr(text)


# -- every shipped route ----------------------------------------------------


@functools.cache
def shipped() -> Config:
    """The shipped routing with an admin role, no spool, no console."""
    config = load_config(
        SHIPPED_ROUTING,
        environ={"DISCORD_ADMIN_ROLE_ID": "123456789012345678"},
    )
    delivery = dataclasses.replace(config.delivery, spool=None, console="off")
    return dataclasses.replace(config, delivery=delivery)


@pytest.fixture(scope="module")
def pipeline() -> Iterator[Pipeline]:
    """A pipeline for the shipped routing; its worker never starts."""
    made = Pipeline(shipped())
    yield made
    made.close(1.0)


def _losses(pipeline: Pipeline) -> tuple[int, int]:
    """Events the pipeline lost to an error: unrenderable, internal."""
    stats = pipeline.stats()
    return (
        stats.get("dropped.unrenderable", 0),
        stats.get("errors.internal", 0),
    )


def _paths(
    value: Any, path: tuple[Any, ...] = ()
) -> Iterator[tuple[Any, ...]]:
    """Every place in a field's value a hostile value can go."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*path, index))


def _put(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, *rest = path
    if isinstance(value, dict):
        return {**value, head: _put(value[head], tuple(rest), new)}
    copy = list(value)
    copy[head] = _put(copy[head], tuple(rest), new)
    return copy


def _expected_ping(
    pipeline: Pipeline, message: RoutedMessage
) -> tuple[str | None, dict[str, Any]]:
    route = next(r for r in pipeline.config.routes if r.name == message.route)
    if route.mention is None:
        return None, {"parse": []}
    return route.mention.content, route.mention.allowed_mentions


@pytest.mark.slow
def test_the_vocabulary_takes_every_shipped_route(pipeline: Pipeline) -> None:
    """Every shipped route is taken by some event of the vocabulary."""
    taken = set()
    for ev in VOCABULARY.values():
        event = LogEvent(
            event=ev.event,
            level=ev.level,
            logger=ev.logger,
            fields=ev.fields,
            message=ev.event,
        )
        for hit in pipeline.router.route(event, event.context(), print):
            taken.add(hit.route.name)
    assert {r.name for r in pipeline.config.routes} == taken


@st.composite
def _hostile_event(draw: st.DrawFn, ev: Ev) -> tuple[RawEvent, str]:
    """*ev* with hostile values put in its fields, message and traceback."""
    fields = dict(ev.fields)
    paths = [p for p in _paths(fields) if p]
    chosen = (
        draw(st.lists(st.sampled_from(paths), max_size=4)) if paths else []
    )
    for path in sorted(chosen, key=len, reverse=True):  # inner first
        fields = _put(fields, path, draw(HOSTILE_VALUES))
    fields.update(
        draw(st.dictionaries(HOSTILE_KEYS, HOSTILE_VALUES, max_size=3))
    )
    structured = draw(st.booleans())
    message = (
        None
        if structured
        else draw(st.one_of(st.just(ev.event), HOSTILE_TEXT))
    )
    exception = draw(st.one_of(st.none(), HOSTILE_TEXT))
    logger = draw(st.one_of(st.just(ev.logger), HOSTILE_TEXT))
    raw = (
        ev.event,
        ev.level,
        logger,
        1706624625.5,
        fields,
        message,
        exception,
    )
    return raw, ",".join(".".join(map(str, p)) for p in chosen)


@pytest.mark.parametrize("name", sorted(VOCABULARY))
@pytest.mark.slow
def test_every_shipped_route(name: str, pipeline: Pipeline) -> None:
    """
    Hostile values in any field of any shipped event give safe messages.
    """
    ev = VOCABULARY[name]

    @SETTINGS
    @given(drawn=_hostile_event(ev))
    def check(drawn: tuple[RawEvent, str]) -> None:
        raw, where = drawn
        before = _losses(pipeline)
        messages = pipeline.process(raw)
        # a value or name that cannot be shown costs only its place in
        # the embed, never the event; and a lane can coalesce it
        assert before == _losses(pipeline), where
        for message in messages:
            key = coalesce_key(message)  # never raises
            assert key is None or isinstance(key, str), where
        for message in messages:
            content, allowed = _expected_ping(pipeline, message)
            assert_safe(message.payload, content, allowed, f"{name} {where}")
            assert_harmless_on_a_terminal(format_message(message))

    check()


# -- every template filter, in every embed part -----------------------------

#: Every filter templates can use: ours and Jinja2's, as registered.
FILTER_NAMES = sorted(MARKDOWN_ENV.filters)


@functools.cache
def _filter_route(name: str) -> Any:
    """A route that shows ``v`` through filter *name* in every embed part."""
    text = f"'{{{{ v | {name} }}}}'"
    return _route(
        "embed:\n"
        f"  title: {text}\n"
        f"  description: {text}\n"
        f"  url: {text}\n"
        f"  footer: {text}\n"
        f"  author: {text}\n"
        "  fields:\n"
        f"    - {{name: {text}, value: {text}}}\n"
        f"    - {{name: n, value: {text}, inline: true}}\n"
    )


def test_every_filter_is_covered() -> None:
    """The registry holds our filters and Jinja2's; each gets a route."""
    assert {"tree", "checklist", "code", "humanize", "discord_time"} <= set(
        FILTER_NAMES
    )
    assert {"lower", "reverse", "truncate", "urlencode"} <= set(FILTER_NAMES)


@pytest.mark.parametrize("name", FILTER_NAMES)
@pytest.mark.slow
def test_every_filter_in_every_part(name: str) -> None:
    """
    Any value through any filter, in any embed part, gives a safe message.
    """
    route = _filter_route(name)

    @SETTINGS
    @given(value=HOSTILE_VALUES)
    def check(value: Any) -> None:
        # the value as a template sees it, whatever its keys
        ev = LogEvent(event="x", level=logging.INFO)
        context = {**ev.context(), "v": value}
        embed = render_embed(ev, context, route, None, Errors())
        assert_safe(build_payload([embed], None), None, {"parse": []}, name)

    check()


@pytest.mark.parametrize("planted", PLANTED)
@pytest.mark.parametrize("name", FILTER_NAMES)
def test_every_filter_hides_every_spelling(name: str, planted: str) -> None:
    """Each planted token, through each filter, is hidden everywhere."""
    ev = LogEvent(event="x", level=logging.INFO, fields={"v": planted})
    embed = render_embed(ev, ev.context(), _filter_route(name), None, Errors())
    assert_safe(build_payload([embed], None), None, {"parse": []}, name)


# -- tracebacks cut where a token is ----------------------------------------


def _raise(text: str) -> None:
    raise RuntimeError(text)


def _error_with(text: str) -> BaseException:
    """An exception raised (so it has a traceback) with *text*."""
    try:
        _raise(text)
    except RuntimeError as exc:
        return exc
    raise AssertionError  # pragma: no cover - _raise always raises


def _cut_at(start: int) -> str:
    """A message whose traceback's last 8,000 characters begin at
    *start* in the webhook URL (the message ends the traceback)."""
    after = " " + "y" * (8000 - (len(WEBHOOK_URL) - start) - 1)
    return "x" * 9000 + " " + WEBHOOK_URL + after


@pytest.mark.parametrize("cut", range(0, 60, 3))
def test_a_long_traceback_is_cut_after_redaction(cut: int) -> None:
    """
    A traceback cut to its last 8,000 characters hides a token even when
    the cut lands inside ``/webhooks/<id>/`` or the token.
    """
    start = WEBHOOK_URL.index("/webhooks/") + cut
    text = format_exception(_error_with(_cut_at(start)))
    assert text is not None
    assert 8001 == len(text)  # "…" and the last 8,000
    assert leaked(text) is None, text[:120]


def test_the_cut_is_where_the_test_means() -> None:
    """Cut without redaction, the traceback would show the token bare."""
    start = WEBHOOK_URL.index("/webhooks/") + 3
    message = _cut_at(start)
    assert WEBHOOK_URL[start:] == message[-8000:][: len(WEBHOOK_URL) - start]
    assert leaked(message[-8000:]) is not None


# -- the console sink -------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [
        pytest.param("utf-8", "report-\ufffd.csv ␛]52;c;aGk=␇", id="utf-8"),
        pytest.param("ascii", "report-?.csv ?]52;c;aGk=?", id="ascii"),
    ],
)
def test_the_console_shows_what_a_pipe_can_take(
    encoding: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    A surrogate and an escape sequence reach a strict pipe as visible
    text, in the stream's own encoding; the batch is shown, not lost.
    """
    buffer = io.BytesIO()
    stream = io.TextIOWrapper(buffer, encoding=encoding, errors="strict")
    monkeypatch.setattr("sys.stdout", stream)
    raw: RawEvent = (
        "could not process report-\udcff.csv \x1b]52;c;aGk=\x07",
        logging.WARNING,
        "app",
        1706624625.5,
        {},
        "could not process report-\udcff.csv \x1b]52;c;aGk=\x07",
        None,
    )
    made = Pipeline(shipped())
    try:
        messages = made.process(raw)
    finally:
        made.close(1.0)
    assert messages

    shown = ConsoleSink("stdout").deliver(messages)

    stream.flush()
    written = buffer.getvalue().decode(encoding)
    assert len(messages) == shown
    assert expected in written
    assert_harmless_on_a_terminal(written)
