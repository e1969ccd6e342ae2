r"""
Discord markdown as HTML: the text of a message as Discord shows it.

The library emits a small part of Discord's dialect, and this shows that
part: ``**bold**``, ``*italic*``, ``_italic_``, ``__underline__``,
``~~strike~~``, ``||spoiler||``, code spans and fenced code blocks,
masked links to http(s) targets, bare and ``<bracketed>`` http(s) URLs,
backslash escapes (simple-markdown's rule, which Discord keeps: a
backslash hides itself before any character but a letter, a digit or a
space), and, at the start of a line, ``> `` and ``>>> ``
quotes, ``#``/``##``/``###`` headings, ``-#`` subtext and ``-``/``*``/
``+`` bullets; mentions and custom emoji too, where asked for.

It is our own, as no maintained parser on PyPI follows Discord's
dialect into safe, typed HTML (discord-markdown-py, the closest, gives an
untyped AST and rewrites the URLs it links; the others miss Discord's
escapes or spoilers, or pass HTML through).

The parser works as Discord's (simple-markdown) does: it scans the text
from the left, and where it stands tries each construct's pattern, the
closing marker included, so ``**https://x**`` is a bold link; what no
pattern takes is text. The content of a mark is parsed again, with
inline constructs only (and no links inside a link).

What it shows is HTML that can only hold the tags ``strong em u s code
pre blockquote a span h1 h2 h3 ul li small`` (no ``br``, ``div`` or
``p``) and only the attributes written here: every character of the
input is escaped with :func:`html.escape`, and a link's target is always
an ``http(s)`` URL.

Newlines: the preview shows this in a container with ``white-space:
pre-wrap``, as Discord does, so a newline in text stays a newline (no
``<br>``); the newline that ends a heading, subtext line, quote, list or
code block is dropped, as Discord shows none after the block.

Not shown as Discord does: ordered lists, nested lists (an indented
bullet is one more item) and nested quotes, the ``[text](url "title")``
form, timestamps ``<t:…>``, ``:emoji:`` codes, and marks nested more
than 20 deep (shown as text). A bare URL ends
where the library's ``escape_markdown`` ends one (at a space, ``<``,
``>``, a quote, ``)`` or ``]``, or before the backslash of an escaped
``]`` or ``>`` after it), so an escaped value shows as it was.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import re
from collections.abc import Callable
from typing import Literal

__all__ = ["markdown_html"]

_LINK_ATTRS = 'rel="noreferrer noopener" target="_blank"'
#: A bare URL. Trailing ``.,:;`` are left out, as Discord leaves them.
_URL = r"https?://(?:[^\s<>\"')\]\\]|\\(?![\]>]))+(?<![.,:;])"
#: Where a run of plain text stops: a character a construct starts with.
_SPECIAL = re.compile(r"[\\<@h*_~|`\[\n]")
#: The text of a mark: anything, but an escaped character counts as one.
_BODY = r"((?:\\[\s\S]|[^\\])+?)"
#: Marks inside marks deeper than this show as text: ``"**" * 2000`` would
#: nest a thousand deep (Discord too stops somewhere).
_MAX_DEPTH = 20


@dataclasses.dataclass(frozen=True)
class _Mode:
    """Which constructs apply where the parser stands."""

    block: bool  # line-start constructs and code blocks
    quotes: bool  # block quotes (never one inside another)
    links: bool  # URLs and masked links (never one inside another)
    mentions: bool  # mentions and custom emoji
    depth: int = 0  # how many marks hold the text


_Show = Callable[[_Mode, re.Match[str]], str]
_Needs = Literal["", "block", "quotes", "links", "mentions"]


@dataclasses.dataclass(frozen=True)
class _Rule:
    """One construct: its pattern, how it shows, and where it applies."""

    pattern: re.Pattern[str]
    show: _Show
    needs: _Needs = ""  # the _Mode field that must be true
    line_start: bool = False  # only at the start of a line


def markdown_html(
    text: str, *, block: bool = True, mentions: bool = True
) -> str:
    """
    *text* as an HTML fragment that shows it as Discord does.

    Args:
        text: Discord markdown, as it goes into a message.
        block: Whether block constructs apply (quotes, headings, subtext,
            lists, code blocks); an embed's title shows them as text.
        mentions: Whether ``@everyone``, ``@here``, ``<@id>``,
            ``<@!id>``, ``<@&id>``, ``<#id>`` show as mention pills and
            ``<:name:id>`` as ``:name:``. A mention broken by a zero-width
            space (how the library defuses one) is text either way.
    """
    mode = _Mode(block=block, quotes=block, links=True, mentions=mentions)
    return _html(text, mode)


def _html(text: str, mode: _Mode) -> str:
    """Parse *text* from the left: a construct where one starts, else text."""
    rules = _rules_for(mode)
    out: list[str] = []
    pos = 0
    while pos < len(text):
        line_start = pos == 0 or text[pos - 1] == "\n"
        for rule in rules:
            if rule.line_start and not line_start:
                continue
            match = rule.pattern.match(text, pos)
            if match is not None:
                out.append(rule.show(mode, match))
                pos = match.end()
                break
        else:  # text, up to where a construct may start (a newline alone)
            end = pos + 1
            if text[pos] != "\n":
                special = _SPECIAL.search(text, end)
                end = len(text) if special is None else special.start()
            out.append(_text(text[pos:end]))
            pos = end
    return "".join(out)


@functools.cache
def _rules_for(mode: _Mode) -> tuple[_Rule, ...]:
    """The rules that apply in *mode*, in the order they are tried."""
    return tuple(r for r in _RULES if not r.needs or getattr(mode, r.needs))


def _inline(text: str, mode: _Mode) -> str:
    """*text* inside a mark: inline constructs only, to a depth."""
    if mode.depth >= _MAX_DEPTH:
        return _text(text)
    inside = dataclasses.replace(
        mode, block=False, quotes=False, depth=mode.depth + 1
    )
    return _html(text, inside)


def _text(text: str) -> str:
    return html.escape(text, quote=True)


def _mark(tag: str, attrs: str = "") -> _Show:
    """Show a match's group 1, parsed inline, inside *tag*."""

    def show(mode: _Mode, match: re.Match[str]) -> str:
        return f"<{tag}{attrs}>{_inline(match[1], mode)}</{tag}>"

    return show


def _code_span(_mode: _Mode, match: re.Match[str]) -> str:
    return f"<code>{_text(match[2])}</code>"


def _code_block(_mode: _Mode, match: re.Match[str]) -> str:
    return f"<pre><code>{_text(match[1])}</code></pre>"


def _escaped(_mode: _Mode, match: re.Match[str]) -> str:
    return _text(match[1])


def _anchor(url: str, inner: str) -> str:
    return f'<a href="{_text(url)}" {_LINK_ATTRS}>{inner}</a>'


def _url(_mode: _Mode, match: re.Match[str]) -> str:
    """A bare or ``<bracketed>`` URL: a link showing the URL."""
    url = match[1] if match.lastindex else match[0]
    return _anchor(url, _text(url))


def _masked_link(mode: _Mode, match: re.Match[str]) -> str:
    inside = dataclasses.replace(mode, links=False)
    return _anchor(match[2], _inline(match[1], inside))


def _heading(mode: _Mode, match: re.Match[str]) -> str:
    tag = f"h{len(match[1])}"
    return f"<{tag}>{_inline(match[2], mode)}</{tag}>"


def _lines(block: str, prefix: re.Pattern[str]) -> list[str]:
    """The lines of *block*, each without the marker *prefix* matches."""
    lines = block.removesuffix("\n").split("\n")
    return [prefix.sub("", line, count=1) for line in lines]


_QUOTE_MARK = re.compile(r"[ \t]*> ")
_BULLET = re.compile(r"[ \t]*[-*+][ \t]+")


def _quote(mode: _Mode, match: re.Match[str]) -> str:
    """``>>> `` (its group 1) or a run of ``> `` lines (no group)."""
    if match.lastindex:
        inner = match[1]
    else:
        inner = "\n".join(_lines(match[0], _QUOTE_MARK))
    inside = _html(inner, dataclasses.replace(mode, quotes=False))
    return f"<blockquote>{inside}</blockquote>"


def _bullets(mode: _Mode, match: re.Match[str]) -> str:
    items = (_inline(item, mode) for item in _lines(match[0], _BULLET))
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def _pill(label: str) -> _Show:
    """A mention: *label* with the match's group 1 for ``{}``."""

    def show(_mode: _Mode, match: re.Match[str]) -> str:
        text = _text(label.format(match[1]))
        return f'<span class="mention">{text}</span>'

    return show


def _emoji(_mode: _Mode, match: re.Match[str]) -> str:
    """A custom emoji, ``<:name:id>``, shown by its name."""
    return _text(f":{match[1]}:")


def _rule(
    pattern: str,
    show: _Show,
    needs: _Needs = "",
    *,
    line_start: bool = False,
    flags: int = 0,
) -> _Rule:
    return _Rule(re.compile(pattern, flags), show, needs, line_start)


_LINE_END = r"(?:\n|\Z)"
_MASKED = (
    r"\[((?:\\[\s\S]|[^\\\[\]])+)\]"
    r"\((https?://(?:\([^\s()<>\"']*\)|[^\s()<>\"'])+)\)"
)

#: Every construct, in the order tried where the parser stands (only
#: those starting with the same character compete).
_RULES: tuple[_Rule, ...] = (
    _rule(
        r"```(?:[a-z0-9_+\-.#]+?\n)?\n*([^\n][\s\S]*?)\n*```\n?",
        _code_block,
        "block",
        flags=re.IGNORECASE,
    ),
    _rule(r"[ \t]*>>> ([\s\S]+)", _quote, "quotes", line_start=True),
    _rule(
        rf"(?:[ \t]*> [^\n]*{_LINE_END})+", _quote, "quotes", line_start=True
    ),
    _rule(
        rf"[ \t]*(#{{1,3}})[ \t]+(\S[^\n]*){_LINE_END}",
        _heading,
        "block",
        line_start=True,
    ),
    _rule(
        rf"[ \t]*-#[ \t]+(\S[^\n]*){_LINE_END}",
        _mark("small"),
        "block",
        line_start=True,
    ),
    _rule(
        rf"(?:[ \t]*[-*+][ \t]+\S[^\n]*{_LINE_END})+",
        _bullets,
        "block",
        line_start=True,
    ),
    _rule(r"\\([^0-9A-Za-z\s])", _escaped),
    _rule(r"<(https?://[^\s<>]+)>", _url, "links"),
    _rule(_URL, _url, "links"),
    _rule(_MASKED, _masked_link, "links"),
    _rule(rf"\*\*{_BODY}\*\*(?!\*)", _mark("strong")),
    _rule(
        r"\*(?![\s*])((?:\*\*|\\[\s\S]|[^\\*])+?)(?<!\s)\*(?!\*)", _mark("em")
    ),
    _rule(rf"__{_BODY}__(?!_)", _mark("u")),
    _rule(r"\b_((?:__|\\[\s\S]|[^\\_])+?)_\b", _mark("em")),
    _rule(rf"~~{_BODY}~~", _mark("s")),
    _rule(rf"\|\|{_BODY}\|\|", _mark("span", attrs=' class="spoiler"')),
    _rule(r"(`+)([\s\S]*?[^`])\1(?!`)", _code_span),
    _rule(r"@(everyone|here)", _pill("@{}"), "mentions"),
    _rule(r"<@!?([0-9]+)>", _pill("@user {}"), "mentions"),
    _rule(r"<@&([0-9]+)>", _pill("@role {}"), "mentions"),
    _rule(r"<#([0-9]+)>", _pill("#channel {}"), "mentions"),
    _rule(r"<a?:([A-Za-z0-9_]+):[0-9]+>", _emoji, "mentions"),
)
