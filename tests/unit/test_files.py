"""
Tests for the text files sent beside an embed (``_files.py``) and for
naming them in a message body (``attachments_payload`` in
``_payload.py``).

A traceback the embed had to cut goes whole, redacted, in
``traceback.txt``; every embed and body is checked by the independent
oracle in ``fakes/discord_schema.py``.
"""

from __future__ import annotations

import json
import linecache
import logging
import re
import textwrap
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from fakes.discord_schema import payload_errors, schema_errors
from polybot_loghandler._config import parse_config
from polybot_loghandler._events import LogEvent
from polybot_loghandler._files import (
    MAX_FILE_BYTES,
    TRACEBACK_FILE,
    cap_text,
    traceback_files,
)
from polybot_loghandler._message import Attachment
from polybot_loghandler._model import Route
from polybot_loghandler._payload import (
    attachments_payload,
    batch_payload,
    build_payload,
    copy_embed,
    embed_length,
    file_note,
)
from polybot_loghandler._render import (
    exception_shown,
    render_embed,
)
from polybot_loghandler._text import REDACTED, redact_text
from tests.support.hostile import (
    BOT_TOKEN,
    HOSTILE_TEXT,
    PLANTED,
    WEBHOOK_URL,
    leaked,
)

# hypothesis imports libcst to suggest a patch for a failing example, and
# libcst trips a DeprecationWarning that filterwarnings = ["error"] would
# turn into an INTERNALERROR, hiding the real failure
pytestmark = pytest.mark.filterwarnings(
    "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
)

HEADER = """\
version: 1
channels:
  a: ""
routes:
  - name: r
    to: a
"""
NOTE = f"full traceback: {TRACEBACK_FILE}"
CUT_LINE = re.compile(r"^… ([\d,]+) characters cut …$", re.MULTILINE)
DEPTH = 60


def _route(body: str = "") -> Route:
    """The one route of a routing file whose route has *body* added."""
    text = HEADER + textwrap.indent(textwrap.dedent(body), "    ")
    return parse_config(text).routes[0]


def _event(exception: str | None, message: str = "") -> LogEvent:
    return LogEvent(
        event="order_failed",
        level=logging.ERROR,
        logger="floor_boss",
        time=1706624625.678901,
        message=message or "order_failed",
        exception=exception,
    )


def _render(ev: LogEvent, route: Route | None = None) -> dict[str, Any]:
    seen: list[str] = []
    embed = render_embed(
        ev,
        ev.context(),
        route or _route(),
        None,
        lambda part, _: seen.append(part),
    )
    assert [] == seen
    return embed


def _valid(*embeds: dict[str, Any]) -> None:
    """Fail unless a message with *embeds* is one Discord would take."""
    assert [] == payload_errors(build_payload(list(embeds), None))


@pytest.fixture(scope="module")
def deep_traceback() -> str:
    """
    A real traceback through 60 nested calls, each a function of its own.

    Every frame's locals (shown with ``capture_locals``) hold a webhook
    URL, and the exception's message a bot token.
    """
    filename = "<trading/engine.py>"
    source = "".join(
        f"def step_{n}(url):\n    hop = {n}\n    return step_{n + 1}(url)\n"
        for n in range(DEPTH - 1)
    )
    source += (
        f"def step_{DEPTH - 1}(url):\n"
        "    raise ValueError(f'login refused for Bot {TOKEN}')\n"
    )
    lines = source.splitlines(keepends=True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    scope: dict[str, Any] = {"TOKEN": BOT_TOKEN}
    exec(compile(source, filename, "exec"), scope)
    try:
        scope["step_0"](WEBHOOK_URL)
    except ValueError as exc:
        caught = exc
    finally:
        del linecache.cache[filename]
    shown = traceback.TracebackException.from_exception(
        caught, capture_locals=True
    )
    return "".join(shown.format()).rstrip()


def _frames(text: str) -> list[int]:
    return [int(n) for n in re.findall(r", in step_(\d+)\n", text)]


class TestTracebackFiles:
    def test_deep_traceback_goes_whole_and_redacted(
        self, deep_traceback: str
    ) -> None:
        """
        A 60-frame traceback the embed cuts is attached with every frame,
        its tokens hidden in the file as in the embed.
        """
        assert list(range(DEPTH)) == _frames(deep_traceback)
        assert WEBHOOK_URL in deep_traceback
        assert BOT_TOKEN in deep_traceback
        ev = _event(deep_traceback)
        embed = _render(ev)

        files = traceback_files(ev, embed)

        assert [TRACEBACK_FILE] == [f.name for f in files]
        text = files[0].text
        assert list(range(DEPTH)) == _frames(text)
        assert text.endswith(f"ValueError: login refused for Bot {REDACTED}")
        # every frame's locals, and the error (and the frame that raised)
        assert text.count(REDACTED) > DEPTH
        assert None is leaked(text)
        assert None is leaked(json.dumps(embed))
        assert text == redact_text(deep_traceback)
        _valid(embed)

    def test_embed_says_which_file(self, deep_traceback: str) -> None:
        """
        The footer ends with the note, the embed still ends with the
        traceback's last line.
        """
        ev = _event(deep_traceback)
        embed = _render(ev)
        footer = embed["footer"]["text"]

        traceback_files(ev, embed)

        assert f"{footer} · {NOTE}" == embed["footer"]["text"]
        assert embed["description"].endswith(f"Bot {REDACTED}\n```"), embed[
            "description"
        ][-80:]
        _valid(embed)

    @pytest.mark.parametrize("footer", [100, 3000])
    def test_note_fits_every_limit(
        self, deep_traceback: str, footer: int
    ) -> None:
        """
        With the 6,000 total used up (and the footer at its limit), the
        note still shows, the embed stays within every limit, and so
        does it when the file is renamed in a message of several.
        """
        route = _route(
            f"""\
            embed:
              title: "{{{{ 't' * 300 }}}}"
              description: "{{{{ 'd' * 5000 }}}}{{{{ exception | code }}}}"
              footer: "{{{{ 'f' * {footer} }}}}"
              fields:
                - {{name: a, value: "{{{{ 'v' * 2000 }}}}"}}
                - {{name: b, value: "{{{{ 'w' * 2000 }}}}"}}
            """
        )
        ev = _event(deep_traceback)
        embeds = [_render(ev, route) for _ in range(2)]
        assert embed_length(embeds[0]) == 6000

        files = [traceback_files(ev, embed) for embed in embeds]

        assert [1, 1] == [len(f) for f in files]
        end = f"f… · {NOTE}" if footer > 2048 else f"f · {NOTE}"
        assert embeds[0]["footer"]["text"].endswith(end)
        assert embed_length(embeds[0]) <= 6000
        _valid(embeds[0])
        out, _ = attachments_payload(
            {"embeds": embeds, "allowed_mentions": {"parse": []}}, files
        )
        second = out["embeds"][1]["footer"]["text"]
        assert second.endswith(file_note("traceback-2.txt"))
        assert [] == payload_errors({**out, "embeds": [out["embeds"][1]]})

    def test_short_traceback_gets_no_file(self) -> None:
        """A traceback the embed shows whole is not sent again."""
        ev = _event("Traceback:\nValueError: @here ``` boom")
        embed = _render(ev)
        before = copy_embed(embed)

        assert () == traceback_files(ev, embed)
        assert before == embed

    @pytest.mark.parametrize("exception", [None, "", "  \n "])
    def test_no_traceback_gets_no_file(self, exception: str | None) -> None:
        ev = _event(exception)
        embed = _render(ev)

        assert () == traceback_files(ev, embed)
        assert NOTE not in json.dumps(embed)

    def test_traceback_cut_by_the_description_limit(self) -> None:
        """
        A short traceback after a long message is cut by the
        description's own limit, not by its share: it is attached.
        """
        exception = "Traceback:\n" + "  frame\n" * 100 + "KeyError: 'x'"
        ev = _event(exception, message="lost order\n" + "why " * 1000)
        assert not exception_shown(ev)[1]
        embed = _render(ev)
        assert "KeyError" not in embed["description"]

        files = traceback_files(ev, embed)

        assert [exception] == [f.text for f in files]
        _valid(embed)

    def test_template_that_shows_it_whole(self) -> None:
        """``{{ exception | code }}`` uncut: no file."""
        route = _route('embed: {description: "{{ exception | code }}"}\n')
        ev = _event("Traceback:\nValueError: <@123> **x**")
        embed = _render(ev, route)

        assert () == traceback_files(ev, embed)

    def test_template_field_that_shows_it_whole(self) -> None:
        route = _route(
            "embed:\n"
            "  fields: [{name: Error, value: '{{ exception | code }}'}]\n"
        )
        ev = _event("Traceback:\nValueError: x")
        embed = _render(ev, route)

        assert () == traceback_files(ev, embed)

    @pytest.mark.parametrize(
        "description",
        [
            "{{ exception | code(limit=200) }}",  # cut by the template
            "{{ message }}",  # not shown at all
        ],
    )
    def test_template_that_does_not_show_it_whole(
        self, description: str
    ) -> None:
        route = _route(f'embed: {{description: "{description}"}}\n')
        exception = "Traceback:\n" + "  frame\n" * 50 + "KeyError: 'x'"
        ev = _event(exception)
        embed = _render(ev, route)

        files = traceback_files(ev, embed)

        assert [exception] == [f.text for f in files]
        assert NOTE == embed["footer"]["text"]
        _valid(embed)

    def test_lone_surrogates_are_made_safe(self) -> None:
        """Text UTF-8 cannot encode is sent with U+FFFD in its place."""
        exception = (
            "Traceback:\n" + "  frame \udcff\n" * 300 + "OSError: \ud800"
        )
        ev = _event(exception)
        embed = _render(ev)

        (file,) = traceback_files(ev, embed)

        file.text.encode("utf-8")  # would raise on a surrogate
        assert file.text.endswith("OSError: \ufffd")
        assert 300 == file.text.count("frame \ufffd")
        json.dumps(embed).encode("utf-8")

    def test_every_planted_spelling_is_hidden(self) -> None:
        exception = "\n".join(["Traceback:", *PLANTED * 20, "Error: x"])
        ev = _event(exception)
        embed = _render(ev)

        (file,) = traceback_files(ev, embed)

        assert None is leaked(file.text)
        assert None is leaked(json.dumps(embed))


class TestCap:
    def test_deep_text_keeps_its_head_and_tail(self) -> None:
        """
        Over the cap, the file keeps the first lines and the last, and
        says how many characters are cut between them.
        """
        lines = [
            f'  File "engine.py", line {n}, in step_{n}' for n in range(9000)
        ]
        text = "\n".join(
            ["Traceback (most recent call last):", *lines, "E: x"]
        )
        assert len(text.encode()) > MAX_FILE_BYTES

        capped = cap_text(text)

        assert len(capped.encode()) <= MAX_FILE_BYTES
        assert len(capped.encode()) > MAX_FILE_BYTES - 200
        found = CUT_LINE.search(capped)
        assert found is not None
        head = capped[: found.start()]
        tail = capped[found.end() + 1 :]
        assert text.startswith(head)
        assert text.endswith(tail)
        assert head.startswith("Traceback (most recent call last):\n")
        assert tail.endswith("in step_8999\nE: x")
        assert head.endswith("\n")  # whole lines on both sides
        assert tail.startswith('  File "engine.py"')
        assert len(tail) > 2 * len(head)  # the end matters most
        hidden = int(found.group(1).replace(",", ""))
        assert len(text) == len(head) + hidden + len(tail)

    def test_counts_bytes_not_characters(self) -> None:
        """Characters of several bytes count as such, none cut in two."""
        text = "€😀" * 100_000
        capped = cap_text(text, 1000)

        assert len(capped.encode("utf-8")) <= 1000
        found = CUT_LINE.search(capped)
        assert found is not None
        head, tail = capped[: found.start() - 1], capped[found.end() + 1 :]
        assert text.startswith(head)
        assert text.endswith(tail)
        hidden = int(found.group(1).replace(",", ""))
        assert len(text) == len(head) + hidden + len(tail)

    def test_under_the_cap_is_kept(self) -> None:
        assert "a\nb" == cap_text("a\nb", 100)
        assert "x" * 100 == cap_text("x" * 100, 100)

    def test_surrogates(self) -> None:
        assert "a\ufffd" == cap_text("a\udcff")
        cap_text("\udcff" * 1000, 100).encode("utf-8")

    def test_too_small_a_cap(self) -> None:
        with pytest.raises(ValueError, match="no room"):
            cap_text("x", 64)


def _message_with_files(count: int) -> tuple[dict[str, Any], list[Any]]:
    """A body of *count* embeds, each noting its own traceback.txt."""
    embeds = []
    files = []
    for n in range(count):
        ev = _event("Traceback:\n" + f"  frame {n}\n" * 400 + f"E: {n}")
        embed = _render(ev)
        files.append(traceback_files(ev, embed))
        embeds.append(embed)
    return build_payload(embeds, None), files


class TestAttachmentsPayload:
    def test_names_are_unique_and_notes_follow(self) -> None:
        payload, files = _message_with_files(3)
        before = json.dumps(payload)

        out, named = attachments_payload(payload, files)

        names = ["traceback.txt", "traceback-2.txt", "traceback-3.txt"]
        assert names == [f.name for f in named]
        assert [f[0].text for f in files] == [f.text for f in named]
        assert [
            {"id": str(n), "filename": name} for n, name in enumerate(names)
        ] == out["attachments"]
        for embed, name in zip(out["embeds"], names, strict=True):
            assert embed["footer"]["text"].endswith(file_note(name))
        assert before == json.dumps(payload)  # the input is not changed
        assert [] == schema_errors(out)
        assert [] == payload_errors(out)

    def test_a_full_batch_stays_within_the_total(self) -> None:
        """Ten embeds that fill 6,000 characters, renamed: still fit."""
        payload, files = _message_with_files(10)
        payload = batch_payload(payload, payload["embeds"])
        total = sum(embed_length(e) for e in payload["embeds"])
        assert total == 6000

        out, named = attachments_payload(payload, files)

        assert 10 == len(named)
        assert len({f.name for f in named}) == 10
        assert out["embeds"][9]["footer"]["text"].endswith(
            file_note("traceback-10.txt")
        )
        assert [] == payload_errors(out)

    def test_the_schema_checks_the_array(self) -> None:
        """The oracle refuses a wrong array: the check above means it."""
        payload, files = _message_with_files(1)
        out, _ = attachments_payload(payload, files)
        assert [] == schema_errors(out)

        assert schema_errors({**out, "attachments": [{"id": "one"}]})
        assert schema_errors({**out, "attachments": [{"filename": "a"}]})

    def test_names_ignore_case_and_keep_their_extension(self) -> None:
        payload = build_payload([{"title": "a"}, {"title": "b"}], None)
        files = [
            (Attachment("Trace.txt", "1"), Attachment("log", "2")),
            (Attachment("trace.TXT", "3"), Attachment("log", "4")),
        ]

        _, named = attachments_payload(payload, files)

        assert ["Trace.txt", "log", "trace-2.TXT", "log-2"] == [
            f.name for f in named
        ]
        assert ["1", "2", "3", "4"] == [f.text for f in named]

    def test_no_files_no_array(self) -> None:
        payload = build_payload([{"title": "a"}], None)

        out, named = attachments_payload(payload, [()])

        assert out is payload
        assert () == named
        assert "attachments" not in out

    def test_an_eleventh_file_is_refused(self) -> None:
        payload = build_payload([{"title": "a"}, {"title": "b"}], None)
        files = [
            tuple(Attachment("a.txt", "") for _ in range(5)),
            tuple(Attachment("a.txt", "") for _ in range(6)),
        ]

        with pytest.raises(ValueError, match="11 files"):
            attachments_payload(payload, files)

    def test_files_must_match_the_embeds(self) -> None:
        payload = build_payload([{"title": "a"}], None)

        with pytest.raises(ValueError, match="2 lists of files for 1"):
            attachments_payload(payload, [(), ()])


# -- properties -------------------------------------------------------------

PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PIECES = st.one_of(
    HOSTILE_TEXT,
    st.sampled_from(PLANTED),
    st.text(max_size=40),
    st.integers(0, 3000).map(lambda n: "x" * n),
    st.sampled_from(["\n", "```", "@everyone", "<@&1>", "\udcff", "é😀"]),
)
EXCEPTIONS = st.lists(PIECES, max_size=12).map("".join)


def _texts(embed: dict[str, Any]) -> Iterator[str]:
    for part in ("title", "description"):
        if part in embed:
            yield embed[part]
    for item in embed.get("fields", ()):
        yield item["name"]
        yield item["value"]
    yield embed.get("footer", {}).get("text", "")


@PROPERTY_SETTINGS
@given(exception=EXCEPTIONS, message=st.one_of(st.just(""), EXCEPTIONS))
def test_any_traceback_is_redacted_and_fits(
    exception: str, message: str
) -> None:
    """
    Whatever the traceback, the file holds nothing redaction would
    change, and the embed with its note stays within every limit.
    """
    ev = _event(exception, message=message)
    embed = _render(ev)

    files = traceback_files(ev, embed)

    for item in files:
        assert redact_text(item.text) == item.text
        assert None is leaked(item.text)
        assert len(item.text.encode("utf-8")) <= MAX_FILE_BYTES
    assert None is leaked(json.dumps(embed))
    _valid(embed)
    if files:
        assert embed["footer"]["text"].endswith(NOTE)
    elif exception.strip():  # shown whole
        whole = exception_shown(ev)[0]
        assert any(whole in text for text in _texts(embed))


@PROPERTY_SETTINGS
@given(
    text=st.lists(PIECES, max_size=30).map("".join),
    limit=st.integers(65, 4000),
)
def test_cap_keeps_redacted_text_redacted(text: str, limit: int) -> None:
    """
    Cutting redacted text never makes a token appear, and the cut text
    fits its limit in UTF-8.
    """
    capped = cap_text(redact_text(text), limit)

    assert len(capped.encode("utf-8")) <= limit
    assert redact_text(capped) == capped
    assert None is leaked(capped)
