"""
Tests for making event text safe to show in Discord (``_text.py``).

Values from events must not render as markdown, ping anyone, or show a
webhook or bot token; field names that look secret are recognised.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from polybot_loghandler import _text
from polybot_loghandler._limits import clamp
from polybot_loghandler._memo import Memo
from polybot_loghandler._text import (
    REDACTED,
    encodable,
    escape_markdown,
    is_http_url,
    looks_secret,
    neutralize_mentions,
    redact_text,
    safe_markdown,
    unescape_markdown,
    visible_controls,
)

# hypothesis imports libcst to suggest a patch for a failing example, and
# libcst trips a DeprecationWarning that filterwarnings = ["error"] would
# turn into an INTERNALERROR, hiding the real failure
pytestmark = pytest.mark.filterwarnings(
    "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
)

ZWSP = "\u200b"
# a ping Discord would still parse: not broken by a zero-width space
UNSAFE = re.compile(r"@(?:everyone|here)|<@(?!\u200b)")
# shaped like a bot token (id.timestamp.hmac); not a real one
BOT_TOKEN = (
    "MTA1NjQ2NjY2NjY2NjY2NjY2Ng.GaBcDe.abcdefghijklmnopqrstuvwxyz012345678"
)
WEBHOOK_TOKEN = "AbC-dEf_123ghiJKL"

# text made mostly of the characters markdown and mentions care about
MARKUP_TEXT = st.text(
    alphabet=st.sampled_from(list("\\*_~|`[]>#-+@<&!:/ \n.ahe0123")),
    max_size=60,
)


class TestEscapeMarkdown:
    """
    ``escape_markdown`` stops event text from rendering as markdown.
    """

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param("plain text 123", "plain text 123", id="plain"),
            pytest.param("", "", id="empty"),
            pytest.param("*bold*", "\\*bold\\*", id="asterisks"),
            pytest.param("__under__", "\\_\\_under\\_\\_", id="underscores"),
            pytest.param("~~gone~~", "\\~\\~gone\\~\\~", id="strikethrough"),
            pytest.param("||spoiler||", "\\|\\|spoiler\\|\\|", id="spoiler"),
            pytest.param("`code`", "\\`code\\`", id="backticks"),
            pytest.param("a\\b", "a\\\\b", id="backslash"),
            pytest.param(
                "[click](https://evil.example)",
                "\\[click\\](https://evil.example)",
                id="masked-link",
            ),
            pytest.param(
                "see https://example.com/a_b*c?x=~1 now_",
                "see https://example.com/a_b*c?x=~1 now\\_",
                id="url-intact",
            ),
            pytest.param(
                "(http://example.com/__init__) *",
                "(http://example.com/__init__) \\*",
                id="url-in-parentheses",
            ),
            pytest.param("@everyone", "@everyone", id="mentions-untouched"),
            pytest.param("a - b > c # d", "a - b > c # d", id="mid-line"),
            pytest.param(
                "[https://a.io] <https://b.io> https://c.io>",
                "\\[https://a.io] <https://b.io> https://c.io>",
                id="no-backslash-glued-to-a-url",
            ),
            pytest.param(
                "https://a.io ] > x]",
                "https://a.io \\] > x\\]",
                id="only-right-after-a-url",
            ),
        ],
    )
    def test_inline(self, text: str, expected: str) -> None:
        """
        Inline markdown characters are escaped; URLs are left intact.
        """
        assert expected == escape_markdown(text)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param("> quote", "\\> quote", id="quote"),
            pytest.param(">>> block", "\\>>> block", id="block-quote"),
            pytest.param("# h1", "\\# h1", id="heading-1"),
            pytest.param("### h3", "\\### h3", id="heading-3"),
            pytest.param("#tag", "#tag", id="hash-without-space"),
            pytest.param("-# small", "\\-# small", id="subtext"),
            pytest.param("- item", "\\- item", id="dash-bullet"),
            pytest.param("+ item", "\\+ item", id="plus-bullet"),
            pytest.param("* item", "\\* item", id="star-bullet"),
            pytest.param("  - nested", "  \\- nested", id="indented"),
            pytest.param(
                "first\n> second\n# third",
                "first\n\\> second\n\\# third",
                id="every-line",
            ),
            pytest.param(
                "https://example.com\n> quote",
                "https://example.com\n\\> quote",
                id="line-after-url",
            ),
        ],
    )
    def test_line_start(self, text: str, expected: str) -> None:
        """
        Block syntax at the start of any line is escaped.
        """
        assert expected == escape_markdown(text)

    @pytest.mark.parametrize(
        "form",
        [
            pytest.param("<#123456789012345678>", id="channel"),
            pytest.param("<:pog:123456789012345678>", id="emoji"),
            pytest.param("<a:pog:123456789012345678>", id="animated-emoji"),
            pytest.param("<t:1769956425:R>", id="timestamp"),
            pytest.param("</deploy:123456789012345678>", id="slash-command"),
            pytest.param("<id:customize>", id="server-page"),
        ],
    )
    def test_discord_s_angle_forms_are_broken(self, form: str) -> None:
        """
        A channel link, an emoji, a timestamp, a command or a server
        page in a value shows as typed: a zero-width space after ``<``.
        """
        assert escape_markdown(f"see {form}") == f"see <\u200b{form[1:]}"
        assert safe_markdown(form) == f"<\u200b{form[1:]}"

    @pytest.mark.parametrize("text", ["a < b", "<b>", "<3", "<https://a.io>"])
    def test_other_angles_are_left_alone(self, text: str) -> None:
        assert escape_markdown(text) == text

    @pytest.mark.parametrize(
        "text",
        [
            pytest.param("*a* _b_ ~~c~~ ||d|| `e` \\f [g]", id="inline"),
            pytest.param("> q\n# h\n-# s\n- l\n+ p\n>>> b", id="line-start"),
            pytest.param("\\> not a quote\n\\\\# x", id="backslashes"),
            pytest.param("see https://example.com/a_b now_", id="url"),
            pytest.param("https://example.com/a\\_b", id="url-with-backslash"),
            pytest.param("*a* see https://x.io/a_b", id="markup-before-url"),
            pytest.param(
                "_a_ https://x.io/_b_ *c* http://y.io/*d* ~e~", id="two-urls"
            ),
        ],
    )
    def test_unescape_round_trip(self, text: str) -> None:
        """
        Unescaping escaped text gives back the original text.
        """
        assert text == unescape_markdown(escape_markdown(text))

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param(
                r"\*a\* see https://x.io/a_b",
                "*a* see https://x.io/a_b",
                id="escaped-before-url",
            ),
            pytest.param(
                r"https://x.io/\_b then \_c\_",
                r"https://x.io/\_b then _c_",
                id="escaped-after-url",
            ),
            pytest.param(
                r"\# h https://x.io/\* \> q http://y.io \[l\]",
                r"# h https://x.io/\* > q http://y.io [l]",
                id="around-two-urls",
            ),
            pytest.param(r"\\ \- \+", r"\ - +", id="no-url"),
        ],
    )
    def test_unescape(self, text: str, expected: str) -> None:
        """
        Escapes are undone around URLs; a URL is kept exactly as it is.
        """
        assert expected == unescape_markdown(text)

    @settings(max_examples=300, deadline=None, database=None)
    @given(text=st.one_of(MARKUP_TEXT, st.text(max_size=60)))
    def test_unescape_round_trip_property(self, text: str) -> None:
        """
        Any text survives escaping and unescaping unchanged (but for a
        zero-width space after ``<``, which unescaping takes for the one
        escaping puts there).
        """
        assume("<\u200b" not in text)
        assert text == unescape_markdown(escape_markdown(text))


class TestNeutralizeMentions:
    """
    ``neutralize_mentions`` breaks every ping without hiding the text.
    """

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param("@everyone", f"@{ZWSP}everyone", id="everyone"),
            pytest.param("hi @here!", f"hi @{ZWSP}here!", id="here"),
            pytest.param("<@123>", f"<@{ZWSP}123>", id="user"),
            pytest.param("<@!123>", f"<@{ZWSP}!123>", id="nickname"),
            pytest.param("<@&456>", f"<@{ZWSP}&456>", id="role"),
            pytest.param(
                "@everyone and @here",
                f"@{ZWSP}everyone and @{ZWSP}here",
                id="several",
            ),
            pytest.param("@@everyone", f"@@{ZWSP}everyone", id="doubled"),
            pytest.param("ops@example.com", "ops@example.com", id="email"),
            pytest.param("no pings", "no pings", id="no-at"),
            pytest.param("<#789> <t:1:R>", "<#789> <t:1:R>", id="not-pings"),
        ],
    )
    def test_neutralize(self, text: str, expected: str) -> None:
        """
        Mentions get a zero-width space; other text is unchanged.
        """
        assert expected == neutralize_mentions(text)

    @settings(max_examples=300, deadline=None, database=None)
    @given(text=MARKUP_TEXT)
    def test_no_ping_survives(self, text: str) -> None:
        """
        No ``@everyone``, ``@here`` or ``<@`` is left whole, escaped or not.
        """
        for safe in (
            neutralize_mentions(text),
            neutralize_mentions(escape_markdown(text)),
        ):
            assert UNSAFE.search(safe) is None


class TestRedactText:
    """
    ``redact_text`` hides webhook and bot tokens wherever they appear.
    """

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param(
                f"https://discord.com/api/webhooks/123/{WEBHOOK_TOKEN}",
                f"https://discord.com/api/webhooks/123/{REDACTED}",
                id="webhook",
            ),
            pytest.param(
                "POST https://canary.discord.com/api/v10/webhooks/1/"
                f"{WEBHOOK_TOKEN}?wait=true failed",
                "POST https://canary.discord.com/api/v10/webhooks/1/"
                f"{REDACTED}?wait=true failed",
                id="webhook-in-sentence",
            ),
            pytest.param(
                f'{{"url": "https://discordapp.com/api/webhooks/9/'
                f'{WEBHOOK_TOKEN}"}}',
                f'{{"url": "https://discordapp.com/api/webhooks/9/'
                f'{REDACTED}"}}',
                id="webhook-in-json",
            ),
            pytest.param(
                f"<https://discord.com/api/webhooks/5/{WEBHOOK_TOKEN}>",
                f"<https://discord.com/api/webhooks/5/{REDACTED}>",
                id="webhook-in-brackets",
            ),
            pytest.param(
                f"discord.com/api/webhooks/123/{WEBHOOK_TOKEN}",
                f"discord.com/api/webhooks/123/{REDACTED}",
                id="webhook-without-scheme",
            ),
            pytest.param(
                f"Authorization: Bot {BOT_TOKEN}",
                f"Authorization: Bot {REDACTED}",
                id="bot-token",
            ),
            pytest.param(
                "https://example.com/webhooks/setup",
                "https://example.com/webhooks/setup",
                id="other-url",
            ),
            pytest.param(
                "v1.2.3 at 10.0.0.1", "v1.2.3 at 10.0.0.1", id="dots"
            ),
        ],
    )
    def test_redact(self, text: str, expected: str) -> None:
        """
        Tokens are replaced by the redaction marker; other text stays.
        """
        assert expected == redact_text(text)


class TestRedactEncodedTokens:
    """
    Tokens are hidden in the spellings text carries them in, and ordinary
    text that only looks a little like them is left alone.
    """

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param(
                "https%3A%2F%2Fdiscord.com%2Fapi%2Fwebhooks%2F123%2F"
                f"{WEBHOOK_TOKEN}%3Fwait%3Dtrue",
                "https%3A%2F%2Fdiscord.com%2Fapi%2Fwebhooks%2F123%2F"
                f"{REDACTED}%3Fwait%3Dtrue",
                id="url-encoded",
            ),
            pytest.param(
                f"url=%2fapi%2fwebhooks%2f1%2f{WEBHOOK_TOKEN}",
                f"url=%2fapi%2fwebhooks%2f1%2f{REDACTED}",
                id="url-encoded-lower",
            ),
            pytest.param(
                f"%252Fwebhooks%252F123%252F{WEBHOOK_TOKEN}",
                f"%252Fwebhooks%252F123%252F{REDACTED}",
                id="url-encoded-twice",
            ),
            pytest.param(
                '{"url": "https:\\/\\/discord.com\\/api\\/webhooks\\/123'
                f'\\/{WEBHOOK_TOKEN}"}}',
                '{"url": "https:\\/\\/discord.com\\/api\\/webhooks\\/123'
                f'\\/{REDACTED}"}}',
                id="json-escaped",
            ),
            pytest.param(
                f"\\\\/webhooks\\\\/123\\\\/{WEBHOOK_TOKEN}",
                f"\\\\/webhooks\\\\/123\\\\/{REDACTED}",
                id="json-escaped-twice",
            ),
            pytest.param(
                f"\\u002fwebhooks\\u002F123\\u002f{WEBHOOK_TOKEN}",
                f"\\u002fwebhooks\\u002F123\\u002f{REDACTED}",
                id="unicode-escaped",
            ),
            pytest.param(
                "https%3A%5C%2F%5C%2Fdiscord.com%5C%2Fapi%5C%2Fwebhooks%5C%2F1"
                f"%5C%2F{WEBHOOK_TOKEN}",
                "https%3A%5C%2F%5C%2Fdiscord.com%5C%2Fapi%5C%2Fwebhooks%5C%2F1"
                f"%5C%2F{REDACTED}",
                id="json-escaped-then-url-encoded",
            ),
            pytest.param(
                f"https://discord.com/api//webhooks//123//{WEBHOOK_TOKEN}",
                f"https://discord.com/api//webhooks//123//{REDACTED}",
                id="doubled-slashes",
            ),
            pytest.param(
                f"https://discord.com/api/Webhooks/123/{WEBHOOK_TOKEN}",
                f"https://discord.com/api/Webhooks/123/{REDACTED}",
                id="capitalised",
            ),
            pytest.param(
                f"HTTPS://DISCORD.COM/API/WEBHOOKS/123/{WEBHOOK_TOKEN}",
                f"HTTPS://DISCORD.COM/API/WEBHOOKS/123/{REDACTED}",
                id="upper-case",
            ),
            pytest.param(
                f"/webhooks/123/{WEBHOOK_TOKEN}",
                f"/webhooks/123/{REDACTED}",
                id="path-only",
            ),
            pytest.param(
                f"Authorization: Bot{BOT_TOKEN}",
                f"Authorization: Bot{REDACTED}",
                id="bot-token-after-a-word",
            ),
            pytest.param(
                f"key_{BOT_TOKEN} x",
                f"key_{REDACTED} x",
                id="bot-token-in-a-word",
            ),
            pytest.param(
                f"token=1{BOT_TOKEN}", f"token=1{REDACTED}", id="after-a-digit"
            ),
            pytest.param(
                BOT_TOKEN * 3 + " x", REDACTED * 2 + " x", id="glued-tokens"
            ),
            pytest.param(
                f"https://discord.com/api/webhooks/123/{REDACTED}",
                f"https://discord.com/api/webhooks/123/{REDACTED}",
                id="already-redacted",
            ),
        ],
    )
    def test_redacted(self, text: str, expected: str) -> None:
        """Each spelling of a token is hidden; the text around it stays."""
        assert expected == redact_text(text)

    @pytest.mark.parametrize(
        "text",
        [
            "GET /webhooks/3 took 12 ms",
            "see webhooks/12/retries",
            "https://example.com/webhooks/setup",
            "%2Fwebhooks%2Fsetup",
            "the webhooks are 12/13 up",
            "Momentum_BTC_v1",
            "paper_1738249425.123",
            "v1.2.3 at 10.0.0.1",
            "polybot_loghandler._render.render_embed",
            (
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
                "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
            ),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "MTA1NjQ2NjY2NjY2NjY2NjY2Ng GaBcDe abcdefghijklmnopqrstuvwxyz0",
            "C:\\Users\\webhooks\\123\\notes.txt",
            "a%20b%2Fc 100%",
            "https://example.com/api/webhook/123/abc",
            "/webhooks/new/edit",
            "%2Fwebhooks%2Fabc%2Fdef",
            "BotMTA1NjQ2 is not a token",
            "M" + "a" * 22 + ".bcdefg." + "h" * 27,
        ],
    )
    def test_ordinary_text_stays(self, text: str) -> None:
        """Text without a token is never changed."""
        assert text == redact_text(text)

    @settings(max_examples=300, deadline=None, database=None)
    @given(
        text=st.text(
            alphabet=st.sampled_from([*string.printable, "é", "📝", "\u200b"]),
            max_size=120,
        ).filter(lambda t: "ebhooks" not in t.lower())
    )
    @pytest.mark.slow
    def test_text_without_a_token_is_never_changed(self, text: str) -> None:
        """Paths, escapes and percent signs alone hide nothing."""
        assert text == redact_text(text)

    @settings(max_examples=300, deadline=None, database=None)
    @given(
        text=st.lists(
            st.sampled_from(
                [
                    "/",
                    "%2F",
                    "\\/",
                    "webhooks",
                    "Webhooks",
                    "1",
                    WEBHOOK_TOKEN,
                    BOT_TOKEN,
                    "x",
                    "(",
                    ")",
                    " ",
                ]
            ),
            max_size=12,
        ).map("".join)
    )
    @pytest.mark.slow
    def test_idempotent(self, text: str) -> None:
        """Redacting twice changes nothing more than redacting once."""
        once = redact_text(text)
        assert once == redact_text(once)


class TestEncodable:
    """
    ``encodable`` replaces lone surrogates, so text always encodes.
    """

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param(
                "report-\udcff.csv", "report-\ufffd.csv", id="fsdecode"
            ),
            pytest.param("\ud83d\ude00", "\ufffd\ufffd", id="pair-as-two"),
            pytest.param("a\ud800", "a\ufffd", id="high"),
            pytest.param("plain", "plain", id="ascii"),
            pytest.param("📝 é", "📝 é", id="non-ascii"),
        ],
    )
    def test_encodable(self, text: str, expected: str) -> None:
        """Surrogates become U+FFFD; every other character stays."""
        assert expected == encodable(text)
        encodable(text).encode("utf-8")

    @pytest.mark.parametrize(
        "text", ["report-\udcff.csv \x1b[31m", "\ud800 @everyone **x**"]
    )
    def test_safe_markdown_encodes(self, text: str) -> None:
        """Text made safe for Discord always encodes as UTF-8."""
        safe_markdown(text).encode("utf-8")


class TestVisibleControls:
    """
    ``visible_controls`` shows control characters instead of sending them
    to a terminal.
    """

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param("\x1b[2J\x1b[31mred", "␛[2J␛[31mred", id="csi"),
            pytest.param(
                "\x1b]52;c;aGVsbG8=\x07", "␛]52;c;aGVsbG8=␇", id="osc-52"
            ),
            pytest.param("a\x9b31mb", "a\\x9b31mb", id="c1-csi"),
            pytest.param("\x80\x9f", "\\x80\\x9f", id="c1-first-last"),
            pytest.param("\x00\x1f", "\u2400\u241f", id="c0-first-last"),
            pytest.param("a\x7fb\x08c", "a␡b␈c", id="del-backspace"),
            pytest.param("over\rwrite", "over␍write", id="carriage-return"),
            pytest.param("a\r\nb", "a\nb", id="crlf"),
            pytest.param("a\n\tb", "a\n\tb", id="newline-tab-kept"),
            pytest.param("x\udcff", "x\ufffd", id="surrogate"),
            pytest.param("📝 plain", "📝 plain", id="plain"),
        ],
    )
    def test_visible(self, text: str, expected: str) -> None:
        """Each control character is shown as a visible symbol."""
        assert expected == visible_controls(text)

    @settings(max_examples=300, deadline=None, database=None)
    @given(text=st.text(alphabet=st.characters(max_codepoint=0x2FF)))
    def test_no_control_survives(self, text: str) -> None:
        """No character a terminal acts on is left, but newline and tab."""
        shown = visible_controls(text)
        assert not [
            c
            for c in shown
            if (ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F
        ]


class TestLooksSecret:
    """
    ``looks_secret`` recognises field names that suggest a secret.
    """

    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            pytest.param("token", True, id="token"),
            pytest.param("access_token", True, id="access-token"),
            pytest.param("client_secret", True, id="secret"),
            pytest.param("SECRET", True, id="upper"),
            pytest.param("password", True, id="password"),
            pytest.param("db_passwd", True, id="passwd"),
            pytest.param("passphrase", True, id="passphrase"),
            pytest.param("api_key", True, id="api-key"),
            pytest.param("apiKey", True, id="camel-api-key"),
            pytest.param("x-api-key", True, id="dashed-api-key"),
            pytest.param("private_key", True, id="private-key"),
            pytest.param("mnemonic", True, id="mnemonic"),
            pytest.param("seed_phrase", True, id="seed"),
            pytest.param("Authorization", True, id="authorization"),
            pytest.param("webhook_url", True, id="webhook"),
            pytest.param("credentials", True, id="credentials"),
            pytest.param("agent", False, id="agent"),
            pytest.param("amount", False, id="amount"),
            pytest.param("passed", False, id="passed"),
            pytest.param("author", False, id="author"),
            pytest.param("market", False, id="market"),
        ],
    )
    def test_looks_secret(self, name: str, expected: bool) -> None:
        """
        Names that suggest a secret are recognised; ordinary ones are not.
        """
        assert expected == looks_secret(name)


# -- the fast paths give what the full work gives ---------------------------
#
# The reference implementations below are escape_markdown and redact_text
# as they were before their fast paths: one regex pass for each rule, on
# every text. The functions must give the same text for any input.

_REF_URL = re.compile(r"https?://[^\s<>\"')\]]+")
_REF_INLINE = re.compile(r"([\\*_~|`\[\]])")
_REF_ANGLE = re.compile(r"<(?=#|:|/|a:|t:|id:)")
_REF_LINE_START = re.compile(
    r"^(\s*)(>>>|>|#{1,3}(?=\s)|-#(?=\s)|[-+](?=\s))", re.MULTILINE
)
# a slash in each spelling: plain, JSON-escaped, URL-encoded, \u002f
_REF_BS = r"(?:\\|%(?:25)*5c)"
_REF_SLASH = rf"(?:{_REF_BS}*(?:/|%(?:25)*2f)|{_REF_BS}+u002f)+"
_REF_WEBHOOK_URL = re.compile(
    f"({_REF_SLASH}webhooks{_REF_SLASH}\\d+{_REF_SLASH})"
    r"[^\s/?#()>\]\"'%\\]+",
    re.IGNORECASE,
)
_REF_BOT_TOKEN = re.compile(r"[MNO][\w-]{23,27}\.[\w-]{6}\.[\w-]{27,40}")


def _reference_escape(text: str) -> str:
    def plain(part: str, after_url: bool) -> str:
        part = _REF_INLINE.sub(r"\\\1", part)
        part = _REF_ANGLE.sub("<\u200b", part)
        part = _REF_LINE_START.sub(r"\1\\\2", part)
        glued = after_url and part[:2] in ("\\]", "\\>")
        return part[1:] if glued else part

    out: list[str] = []
    last = 0
    for url in _REF_URL.finditer(text):
        out.append(plain(text[last : url.start()], last > 0))
        out.append(url.group(0))
        last = url.end()
    out.append(plain(text[last:], last > 0))
    return "".join(out)


_REF_GLUED = re.compile(r"\(redacted\)[\w-]{0,27}\.[\w-]{6}\.[\w-]{27,40}")


def _reference_redact(text: str) -> str:
    text = _REF_WEBHOOK_URL.sub(r"\1" + REDACTED, text)
    text = _REF_BOT_TOKEN.sub(REDACTED, text)
    while _REF_GLUED.search(text):
        text = _REF_GLUED.sub(REDACTED, text)
    return text


# pieces that exercise every branch: markdown at line starts and after
# URLs, URLs with and without markup, tokens, and ordinary words
_PIECES = st.sampled_from(
    [
        "https://x.io/a_b",
        "http://h/p?q=[1]",
        "http",
        "https://discord.com/api/webhooks/12/",
        "/webhooks/3/",
        "%2FWebhooks%2F4%2F",
        "\\/webhooks\\/5\\/",
        "/api//webhooks//6//",
        "%252fwebhooks%252f7%252f",
        "\\u002fwebhooks\\u002f8\\u002f",
        "(redacted)",
        "\udcff",
        "x_",
        WEBHOOK_TOKEN,
        BOT_TOKEN,
        BOT_TOKEN[:-10],
        "M" + "a" * 23 + ".bcdefg." + "h" * 27,
        "- ",
        "+\t",
        "-# ",
        "# ",
        "### ",
        ">>> ",
        "> ",
        "\n",
        " ",
        "\u2003",
        "momentum_1",
        "$20.00",
        "2026-01-30 14:23:45 UTC",
        "0.5423",
        "ETH-USD-UP-15m",
        "é",
    ]
)
_FAST_PATH_TEXT = st.one_of(
    MARKUP_TEXT,
    st.text(max_size=80),
    st.lists(st.one_of(_PIECES, MARKUP_TEXT), max_size=8).map("".join),
)


class TestFastPaths:
    """
    The quick checks that skip work never change a result.
    """

    @settings(max_examples=1500, deadline=None, database=None)
    @given(text=_FAST_PATH_TEXT)
    @pytest.mark.slow
    def test_escape_matches_the_full_escape(self, text: str) -> None:
        """
        ``escape_markdown`` gives what escaping every rule always gives.
        """
        assert _reference_escape(text) == escape_markdown(text)

    @settings(max_examples=1500, deadline=None, database=None)
    @given(text=_FAST_PATH_TEXT)
    @pytest.mark.slow
    def test_safe_markdown_is_the_three_steps(self, text: str) -> None:
        """
        ``safe_markdown`` is redact, then escape, then break mentions.
        """
        expected = neutralize_mentions(
            _reference_escape(_reference_redact(encodable(text)))
        )
        assert expected == safe_markdown(text)

    @pytest.mark.parametrize(
        "text", ["Momentum_BTC_v1", "@here", "a/b_c", "", "x" * 60]
    )
    def test_safe_markdown_remembers_nothing_wrong(self, text: str) -> None:
        """
        The same text is made safe the same way every time, and a str
        subclass gets a result equal to the one for its plain text.
        """

        class Sub(str):
            __slots__ = ()

        expected = neutralize_mentions(
            _reference_escape(_reference_redact(encodable(text)))
        )
        for _ in range(2):
            assert expected == safe_markdown(text)
            assert expected == safe_markdown(Sub(text))

    @settings(max_examples=1500, deadline=None, database=None)
    @given(text=_FAST_PATH_TEXT)
    @pytest.mark.slow
    def test_redact_matches_the_full_redact(self, text: str) -> None:
        """
        ``redact_text`` gives what both patterns on every text give.
        """
        assert _reference_redact(text) == redact_text(text)

    @pytest.mark.parametrize(
        "text",
        [
            pytest.param("a - b", id="dash-after-space"),
            pytest.param("https://x.io - b", id="dash-after-url"),
            pytest.param("https://x.io> b", id="quote-after-url"),
            pytest.param("x\n  + y", id="indented-plus"),
            pytest.param("#", id="lone-hash"),
            pytest.param("a_b\n> c", id="inline-and-line-start"),
            pytest.param("-\u2003x", id="unicode-space"),
            pytest.param(BOT_TOKEN, id="bot-token"),
            pytest.param(
                "M" + "a" * 23 + ".bcdefg." + "h" * 27, id="shortest"
            ),
        ],
    )
    def test_edges(self, text: str) -> None:
        """
        The texts next to each quick check's boundary agree too.
        """
        assert _reference_escape(text) == escape_markdown(text)
        assert _reference_redact(text) == redact_text(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("https://example.com", True, id="https"),
        pytest.param("http://127.0.0.1:8080/a?b=c#d", True, id="http-port"),
        pytest.param("HTTPS://EXAMPLE.COM/X", True, id="upper-case"),
        pytest.param("https://x.io/%20a(b)", True, id="escapes-parens"),
        pytest.param("https://", False, id="no-host"),
        pytest.param("https:///path", False, id="empty-host"),
        pytest.param("ftp://example.com", False, id="ftp"),
        pytest.param("javascript:alert(1)", False, id="javascript"),
        pytest.param("example.com/a", False, id="no-scheme"),
        pytest.param("https://x.io/a b", False, id="space"),
        pytest.param("https://x.io/a\nb", False, id="newline"),
        pytest.param("https://x.io/\x00", False, id="nul"),
        pytest.param("https://x.io/\u00e9", False, id="not-ascii"),
        pytest.param("https://x.io/\ud800", False, id="lone-surrogate"),
        pytest.param("https://x.io/a<b>", False, id="angle-brackets"),
        pytest.param("", False, id="empty"),
        pytest.param(None, False, id="none"),
        pytest.param(b"https://x.io", False, id="bytes"),
    ],
)
def test_is_http_url(value: object, expected: bool) -> None:
    """What Discord takes as an embed's uri, and nothing else."""
    assert expected == is_http_url(value)


# -- memos and quick checks: the work they save is not done ---------------
#
# A memo that stopped answering, or a quick check that stopped skipping,
# changes no result: only the cost of every log call. These tests watch
# the work itself.


@pytest.fixture
def fresh_memos(monkeypatch: pytest.MonkeyPatch) -> None:
    """
    Empty memos, so each test sees its own calls worked out.
    """
    monkeypatch.setattr(
        _text, "_SECRET_ANSWERS", Memo(limit=4096, key_chars=64)
    )
    monkeypatch.setattr(
        _text, "_SAFE_MARKDOWN", Memo(limit=4096, key_chars=40)
    )


class _Counted:
    """
    A stand-in for a compiled pattern or a function that counts its uses.
    """

    def __init__(self, real: Any, method: str | None = None) -> None:
        self.real = real
        self.method = method
        self.calls = 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        return self.real(*args)

    def __getattr__(self, name: str) -> Any:
        if name != self.method:
            return getattr(self.real, name)
        self.calls += 1
        return getattr(self.real, name)


class _Liar(str):
    """
    A str subclass equal to any text, hashed like ``plain``.
    """

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return hash("plain")


@pytest.mark.usefixtures("fresh_memos")
class TestMemos:
    """
    A name or a short text is worked out once, and only a plain str.
    """

    def test_looks_secret_asks_once_per_name(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Each name is searched once, its answer (even False) kept."""
        searches = _Counted(_text._SECRET_NAME, "search")
        monkeypatch.setattr(_text, "_SECRET_NAME", searches)
        names = ["api_key", "agent", "api_key", "agent", "agent"]
        answers = [looks_secret(name) for name in names]
        actual = (answers, searches.calls)
        assert ([True, False, True, False, False], 2) == actual

    @pytest.mark.parametrize(
        ("text", "kept"),
        [
            pytest.param("Momentum_BTC_v1", True, id="short"),
            pytest.param("@here **now**", True, id="short-with-work"),
            pytest.param("x" * 40, True, id="longest-kept"),
            pytest.param("x" * 41, False, id="too-long"),
            pytest.param("a/b_c", False, id="slash"),
            pytest.param("/", False, id="lone-slash"),
        ],
    )
    def test_safe_markdown_keeps_short_text_without_slash(
        self, monkeypatch: pytest.MonkeyPatch, text: str, kept: bool
    ) -> None:
        """
        Short text is made safe once; text with a slash never kept.

        A slash is how a webhook URL starts: the memo never holds one.
        """
        redact = _Counted(_text.redact_text)
        monkeypatch.setattr(_text, "redact_text", redact)
        first, second = safe_markdown(text), safe_markdown(text)
        actual = (second, redact.calls, text in _text._SAFE_MARKDOWN)
        assert (first, 1 if kept else 2, kept) == actual

    def test_str_subclass_is_neither_answered_nor_kept(self) -> None:
        """
        A str subclass's own ``__eq__`` and ``__hash__`` are not trusted.

        One that claims to equal ``plain`` gets its own answer, and does
        not replace the one kept for ``plain``.
        """
        assert "plain" == safe_markdown("plain")
        actual = safe_markdown(_Liar("**bold**"))
        assert ("\\*\\*bold\\*\\*", "plain") == (
            actual,
            safe_markdown("plain"),
        )
        assert ["plain"] == [str.__str__(k) for k in _text._SAFE_MARKDOWN]


#: A call, a text its quick check rules out, and the work it then skips:
#: a module attribute and, for a pattern, the method that does the work.
SKIPPED: list[Any] = [
    pytest.param(
        redact_text, "a/b c", "_WEBHOOK_URL", "sub", id="slash-no-webhooks"
    ),
    pytest.param(
        redact_text, "Webhooks 2", "_WEBHOOK_URL", "sub", id="no-slash"
    ),
    pytest.param(redact_text, "x" * 80, "_BOT_TOKEN", "sub", id="long-no-dot"),
    pytest.param(
        redact_text, "a.bcdefg.h", "_BOT_TOKEN", "sub", id="short-with-dots"
    ),
    pytest.param(encodable, "📝 é", "_SURROGATE", "sub", id="encodable"),
    pytest.param(
        safe_markdown, "📝 é", "_SURROGATE", "sub", id="safe-non-ascii"
    ),
    pytest.param(safe_markdown, "a-b", "_escape", None, id="safe-dash"),
    pytest.param(escape_markdown, "a-b", "_escape", None, id="escape-dash"),
    pytest.param(
        escape_markdown, "a_b-c", "_LINE_START", "sub", id="inline-only"
    ),
]


@pytest.mark.usefixtures("fresh_memos")
@pytest.mark.parametrize(("call", "text", "name", "method"), SKIPPED)
def test_quick_checks_skip_work(
    monkeypatch: pytest.MonkeyPatch,
    call: Callable[[str], str],
    text: str,
    name: str,
    method: str | None,
) -> None:
    """Text a quick check rules out is answered without the full work."""
    expected = call(text)
    _text._SAFE_MARKDOWN.clear()
    counted = _Counted(getattr(_text, name), method)
    monkeypatch.setattr(_text, name, counted)
    assert (expected, 0) == (call(text), counted.calls)


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("see <@\u200b&123456789012345678> now", 6, "see <…"),
        ("see <@\u200b&123456789012345678> now", 7, "see <…"),
        ("see <@\u200b&123456789012345678> now", 8, "see <@\u200b…"),
        ("ping @\u200beveryone", 7, "ping…"),
        ("ping @\u200beveryone", 8, "ping @\u200b…"),
        ("an email a@b.c", 12, "an email a@…"),
        ("short", 10, "short"),
    ],
)
def test_a_cut_never_leaves_a_mention_unbroken(
    text: str, limit: int, expected: str
) -> None:
    """The zero-width space that breaks a mention is never cut off it."""
    clamped = clamp(neutralize_mentions(text), limit)

    assert expected == clamped
    assert len(clamped) <= limit
    assert neutralize_mentions(clamped) == clamped
