"""
Tests for Discord markdown as HTML (``_html/markdown.py``).

The preview must show a message as Discord does: each construct the
library emits, text shown literally where Discord shows it so, and never
HTML that the text itself opened. A value the library escaped must show
exactly as it was.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from polybot_loghandler._html.markdown import markdown_html
from polybot_loghandler._text import (
    encodable,
    escape_markdown,
    neutralize_mentions,
    redact_text,
    safe_markdown,
)

# hypothesis imports libcst to suggest a patch for a failing example, and
# libcst's DeprecationWarning would hide the real failure
pytestmark = pytest.mark.filterwarnings(
    "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
)

ZWSP = "\u200b"
ALLOWED_TAGS = frozenset(
    {
        *("strong", "em", "u", "s", "code", "pre", "blockquote", "a", "span"),
        *("h1", "h2", "h3", "ul", "li", "br", "small"),
    }
)
#: the attributes we write, each with the values it may have (None: any
#: http(s) URL that the input holds)
OUR_ATTRS: dict[tuple[str, str], frozenset[str] | None] = {
    ("a", "href"): None,
    ("a", "rel"): frozenset({"noreferrer noopener"}),
    ("a", "target"): frozenset({"_blank"}),
    ("span", "class"): frozenset({"mention", "spoiler"}),
}


def link(url: str, inner: str | None = None) -> str:
    attrs = 'rel="noreferrer noopener" target="_blank"'
    return f'<a href="{url}" {attrs}>{url if inner is None else inner}</a>'


def pill(text: str) -> str:
    return f'<span class="mention">{text}</span>'


class Reader(HTMLParser):
    """Reads a fragment back: its text, and anything not written by us."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.text: list[str] = []
        self.tags: set[str] = set()
        self.open: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(
        self, tag: str, attrs: list[tuple[str, str | None]]
    ) -> None:
        self.tags.add(tag)
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag <{tag}>")
        if tag != "br":
            self.open.append(tag)
        for name, value in attrs:
            if not self._ours(tag, name, value or ""):
                self.problems.append(f"<{tag} {name}={value!r}>")

    def _ours(self, tag: str, name: str, value: str) -> bool:
        if (tag, name) not in OUR_ATTRS:
            return False
        allowed = OUR_ATTRS[tag, name]
        if allowed is not None:
            return value in allowed
        return re.match(r"https?://", value) is not None and (
            value in self.source
        )

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.problems.append(f"</{tag}> closes nothing open")

    def handle_startendtag(
        self, tag: str, attrs: list[tuple[str, str | None]]
    ) -> None:
        self.problems.append(f"self-closed <{tag}/>")

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.problems.append(f"comment {data!r}")

    def handle_decl(self, decl: str) -> None:
        self.problems.append(f"declaration {decl!r}")

    def handle_pi(self, data: str) -> None:
        self.problems.append(f"processing instruction {data!r}")

    def unknown_decl(self, data: str) -> None:
        self.problems.append(f"declaration {data!r}")


def read(fragment: str, source: str = "") -> Reader:
    """
    *fragment* read back, after checking it holds only our tags and
    attributes (a link only to an http(s) URL in *source*), each tag
    closed in order.
    """
    reader = Reader(source)
    reader.feed(fragment)
    reader.close()
    assert reader.problems == []
    assert reader.open == []
    return reader


def visible(fragment: str, source: str = "") -> str:
    """The text a reader sees in *fragment* (checked by read)."""
    return "".join(read(fragment, source).text)


def case(
    text: str, expected: str, *, block: bool = True, mentions: bool = True
) -> object:
    name = text if len(text) < 40 else text[:37] + "..."
    flags = ("" if block else " block=False") + (
        "" if mentions else " mentions=False"
    )
    return pytest.param(text, block, mentions, expected, id=name + flags)


INLINE = [
    case("**bold**", "<strong>bold</strong>"),
    case("*it* and _it_", "<em>it</em> and <em>it</em>"),
    case("__under__", "<u>under</u>"),
    case("~~strike~~", "<s>strike</s>"),
    case("||spoiler||", '<span class="spoiler">spoiler</span>'),
    case("`code`", "<code>code</code>"),
    case("``a`b``", "<code>a`b</code>"),
    case("***both***", "<strong><em>both</em></strong>"),
    case("**b _i_**", "<strong>b <em>i</em></strong>"),
    case("__*ui*__", "<u><em>ui</em></u>"),
    case("*a **b** c*", "<em>a <strong>b</strong> c</em>"),
    case("||**x**||", '<span class="spoiler"><strong>x</strong></span>'),
    case("~~`c`~~", "<s><code>c</code></s>"),
    case("**two\nlines**", "<strong>two\nlines</strong>"),
]
LITERAL = [
    case("**not closed", "**not closed"),
    case("*a", "*a"),
    case("x * a*", "x * a*"),
    case("~~x", "~~x"),
    case("||x", "||x"),
    case("`x", "`x"),
    case("snake_case_name", "snake_case_name"),
    case("****", "****"),
    case('<b onclick="x">&\'', "&lt;b onclick=&quot;x&quot;&gt;&amp;&#x27;"),
    case("javascript:alert(1)", "javascript:alert(1)"),
]
ESCAPES = [
    case(r"\*x\*", "*x*"),
    case(r"\_x\_ \~\~ \|\| \`", "_x_ ~~ || `"),
    case(r"\\", "\\"),
    case(r"\\*it*", "\\<em>it</em>"),
    case(r"\a \1 \ x", r"\a \1 \ x"),
    case(r"\[t\](https://a.b)", "[t](" + link("https://a.b") + ")"),
    case(r"\@everyone", "@everyone"),
    case(r"\> q", "&gt; q"),
    case(r"\# h", "# h"),
    case("\\", "\\"),
]
CODE = [
    case("`**x** _y_ <b>`", "<code>**x** _y_ &lt;b&gt;</code>"),
    case(r"`\*`", r"<code>\*</code>"),
    case("`https://a.b`", "<code>https://a.b</code>"),
    case(
        "```py\n**a** <script>x</script>\n```",
        "<pre><code>**a** &lt;script&gt;x&lt;/script&gt;</code></pre>",
    ),
    case("```\n\nx\n\n```\nnext", "<pre><code>x</code></pre>next"),
    case("a ```b``` c", "a <pre><code>b</code></pre> c"),
    case("```@everyone```", "<pre><code>@everyone</code></pre>"),
    case("``````", "``````"),
    case("```py\nx```", "<code>py\nx</code>", block=False),
]
LINKS = [
    case("[t](https://a.b/c)", link("https://a.b/c", "t")),
    case(
        "[**b** _i_](https://a.b)",
        link("https://a.b", "<strong>b</strong> <em>i</em>"),
    ),
    case("[https://a.b](https://c.d)", link("https://c.d", "https://a.b")),
    case("[w](https://w.org/A_(b))", link("https://w.org/A_(b)", "w")),
    case("[x](javascript:alert(1))", "[x](javascript:alert(1))"),
    case("[x](ftp://a.b)", "[x](ftp://a.b)"),
    case(
        '[x](https://a.b"onclick=")',
        "[x](" + link("https://a.b") + "&quot;onclick=&quot;)",
    ),
    case("see https://a.b/c.", "see " + link("https://a.b/c") + "."),
    case("https://a.b/x_y*z~w", link("https://a.b/x_y*z~w")),
    case("(https://a.b)", "(" + link("https://a.b") + ")"),
    case("<https://a.b/c>", link("https://a.b/c")),
    case("**https://a.b**", "<strong>" + link("https://a.b") + "</strong>"),
    case("https://a.b?q=1&r=2", link("https://a.b?q=1&amp;r=2")),
    case("HTTPS://a.b", "HTTPS://a.b"),
    # escape_markdown's backslash before a "]" or ">" after a URL
    case(
        r"https://a.b\] https://c.d\>",
        link("https://a.b") + "] " + link("https://c.d") + "&gt;",
    ),
    case(r"https://a.b\x\\]", link("https://a.b\\x\\") + "]"),
]
BLOCKS = [
    case("> q", "<blockquote>q</blockquote>"),
    case("> a\n> b\nc", "<blockquote>a\nb</blockquote>c"),
    case(">>> a\n# b", "<blockquote>a\n<h1>b</h1></blockquote>"),
    case("> # h", "<blockquote><h1>h</h1></blockquote>"),
    case("> > no nesting", "<blockquote>&gt; no nesting</blockquote>"),
    case(">no space", "&gt;no space"),
    case("x > y", "x &gt; y"),
    case("# one\n## two\n### three", "<h1>one</h1><h2>two</h2><h3>three</h3>"),
    case("#### four", "#### four"),
    case("#tag", "#tag"),
    case("a\n# **h**\nb", "a\n<h1><strong>h</strong></h1>b"),
    case("-# small", "<small>small</small>"),
    case("- a\n* b\n+ c\nd", "<ul><li>a</li><li>b</li><li>c</li></ul>d"),
    case("  - indented", "<ul><li>indented</li></ul>"),
    case("- **b**", "<ul><li><strong>b</strong></li></ul>"),
    case("-a", "-a"),
    case("a - b", "a - b"),
    case("# h\n> q\n- l", "# h\n&gt; q\n- l", block=False),
    case("a\nb", "a\nb", block=False),
]
MENTIONS = [
    case("@everyone @here", pill("@everyone") + " " + pill("@here")),
    case("<@1> <@!2>", pill("@user 1") + " " + pill("@user 2")),
    case("<@&3> <#4>", pill("@role 3") + " " + pill("#channel 4")),
    case("<:ok:5> <a:go:6>", ":ok: :go:"),
    case(f"@{ZWSP}everyone @{ZWSP}here", f"@{ZWSP}everyone @{ZWSP}here"),
    case(f"<@{ZWSP}1> <@{ZWSP}&3>", f"&lt;@{ZWSP}1&gt; &lt;@{ZWSP}&amp;3&gt;"),
    case("`@everyone`", "<code>@everyone</code>"),
    case("**<@1>**", "<strong>" + pill("@user 1") + "</strong>"),
    case("<@x>", "&lt;@x&gt;"),
    case("@everyone <@1>", "@everyone &lt;@1&gt;", mentions=False),
    case("<:ok:5>", "&lt;:ok:5&gt;", mentions=False),
]


@pytest.mark.parametrize(
    ("text", "block", "mentions", "expected"),
    INLINE + LITERAL + ESCAPES + CODE + LINKS + BLOCKS + MENTIONS,
)
def test_shows_as_discord_does(
    text: str, block: bool, mentions: bool, expected: str
) -> None:
    got = markdown_html(text, block=block, mentions=mentions)
    assert got == expected
    visible(got, text)  # and is well formed, from our tags only


# Discord's angle-bracket forms in a value: safe_markdown breaks a
# channel link and an emoji as it breaks a mention (a zero-width space
# after "<"); a URL in brackets stays a link, with no backslash glued on.
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<https://a.b>", link("https://a.b")),
        ("<#4>", "&lt;\u200b#4&gt;"),
        ("<:ok:5>", "&lt;\u200b:ok:5&gt;"),
        ("<a:ok:5>", "&lt;\u200ba:ok:5&gt;"),
    ],
)
def test_angle_bracket_forms_in_a_safe_value(
    value: str, expected: str
) -> None:
    assert markdown_html(safe_markdown(value)) == expected


@pytest.mark.parametrize(
    "text",
    ["**" * 2000, "*" * 4001, "||a" * 1300, "[" * 900 + "](https://a)" * 900],
    ids=["bold", "stars", "spoilers", "links"],
)
def test_deep_or_unclosed_marks_still_show(text: str) -> None:
    """Pathological text shows (as text past a depth), well formed."""
    visible(markdown_html(text), text)


MARKUP_CHARS = "*_~|`[]()<>#-+\\ \n\t@&!:/.;,\"'=ah1"
PIECES = (
    "https://",
    "http://a.b/",
    "https://x.y/p_q*r~s|t`u[v]w",
    "javascript:",
    "@everyone",
    "@here",
    "<@",
    "<@!",
    "<@&",
    "<#",
    "<:ok:",
    "```",
    ">>> ",
    "-# ",
    "onclick=",
    "<script>",
    ZWSP,
)
#: text made of markdown, mention and HTML syntax, URLs and any character
TEXT = st.lists(
    st.text(st.sampled_from(MARKUP_CHARS) | st.characters(), max_size=8)
    | st.sampled_from(PIECES),
    max_size=12,
).map("".join)
#: what Discord shows in its own way though the library's escaping
#: leaves it: a URL in brackets shows without them
ANGLE_URL = re.compile(r"<https?://[^\s<>]+>")
ZWSP = "\u200b"


@given(TEXT, st.booleans(), st.booleans())
def test_html_is_ours_whatever_the_text(
    text: str, block: bool, mentions: bool
) -> None:
    """
    Whatever the text, the fragment holds only our tags, each closed in
    order, only our attributes, and links only to http(s) URLs written
    in the text: nothing in it opens a tag or sets an attribute.
    """
    visible(markdown_html(text, block=block, mentions=mentions), text)


@given(TEXT)
def test_an_escaped_value_shows_as_it_was(value: str) -> None:
    """
    A value escaped by escape_markdown shows exactly as it was: the text
    content of the HTML is the value, with no backslash of the escaping
    shown, and its only tag is the link of a bare URL (nothing bold,
    quoted, a heading, a list or code), for any value but one holding
    ``<https://...>``, which escape_markdown leaves and Discord shows
    without the brackets. (The zero-width space that breaks a channel
    link or an emoji is invisible.) Mentions off here (the next test has
    them).
    """
    assume(ANGLE_URL.search(value) is None)
    shown = read(markdown_html(escape_markdown(value), mentions=False), value)
    assert "".join(shown.text).replace(ZWSP, "") == value.replace(ZWSP, "")
    assert shown.tags <= {"a"}


@given(TEXT)
def test_a_safe_value_shows_as_it_was_but_defused(value: str) -> None:
    """
    What safe_markdown makes of a value shows, mentions on, as the value
    with lone surrogates replaced, its tokens hidden and its mentions
    broken by the zero-width space (invisible, so left out of the
    comparison): no pill, no channel link, no emoji. A value holding
    ``<https://...>`` is left out: Discord shows it without the brackets.
    """
    assume(ANGLE_URL.search(value) is None)
    safe = safe_markdown(value)
    shown = read(markdown_html(safe), safe)
    assert "".join(shown.text).replace(ZWSP, "") == neutralize_mentions(
        redact_text(encodable(value))
    ).replace(ZWSP, "")
    assert shown.tags <= {"a"}
