"""
The HTML preview's page, read as a tree: what it shows and where.

The browser tests (``tests/browser``) look at the same page in Chromium;
these check its structure without one: the sidebar, the channels, each
message's parts, boards and threads, the marks, and that nothing from
an event or the routing can add markup.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polybot_loghandler._batching import Pending
from polybot_loghandler._config import load_config
from polybot_loghandler._console import format_message, where_it_goes
from polybot_loghandler._events import LogEvent
from polybot_loghandler._html.message import field_columns
from polybot_loghandler._html.page import page_html
from polybot_loghandler._html.transcript import MOST_SHOWN, Transcript
from polybot_loghandler._limits import clamp, cuts_recorded
from polybot_loghandler._lookup import shipped_routing
from polybot_loghandler._message import Attachment, Place, RoutedMessage
from polybot_loghandler._model import Channel, Config
from polybot_loghandler._payload import build_payload, with_delay
from tests.support.htmltree import Node, parse

TIME = 1_769_956_425.0  # 2026-02-01 14:33:45 UTC
#: The tags the page itself writes (markdown adds its own inside).
PAGE_TAGS = {
    "#document", "html", "head", "meta", "title", "style", "body", "nav",
    "div", "a", "span", "main", "p", "section", "header", "h2", "article",
    "time", "details", "summary", "pre",
}  # fmt: skip


def _message(
    *,
    channel: str = "trades_paper",
    embed: dict[str, Any] | None = None,
    place: Place | None = None,
    payload: dict[str, Any] | None = None,
    target: Channel | None = None,
    files: tuple[Attachment, ...] = (),
    when: float = TIME,
) -> RoutedMessage:
    embed = {"title": "Trade", "color": 0x2ECC71} if embed is None else embed
    return RoutedMessage(
        channel=channel,
        route="trades",
        payload={**build_payload([embed], None), **(payload or {})},
        embed=embed,
        event=LogEvent(
            event="trade_executed",
            level=logging.INFO,
            logger="trader",
            time=when,
        ),
        target=target or Channel(key=channel, name=channel.replace("_", "-")),
        place=place,
        files=files,
    )


def _page(
    *messages: RoutedMessage,
    config: Config | None = None,
    cuts: frozenset[str] = frozenset(),
) -> Node:
    transcript = Transcript()
    transcript.add(messages)
    return parse(
        page_html(
            transcript.shown(),
            config=config,
            cuts=cuts,
            title="routing.yaml · preview",
            webhook_name="Polybot",
        )
    )


# -- the fields' grid ---------------------------------------------------


def _fields(*inline: bool) -> list[dict[str, Any]]:
    return [{"name": "n", "value": "v", "inline": i} for i in inline]


@pytest.mark.parametrize(
    ("inline", "columns"),
    [
        pytest.param((True,), ["1 / 13"], id="one inline: the whole row"),
        pytest.param((True, True), ["1 / 7", "7 / 13"], id="two: halves"),
        pytest.param(
            (True, True, True),
            ["1 / 5", "5 / 9", "9 / 13"],
            id="three: thirds",
        ),
        pytest.param(
            (True,) * 4,
            ["1 / 5", "5 / 9", "9 / 13", "1 / 13"],
            id="the fourth starts a row",
        ),
        pytest.param(
            (True, True, False, True),
            ["1 / 7", "7 / 13", "1 / 13", "1 / 13"],
            id="a field not inline ends the row and has its own",
        ),
        pytest.param(
            (False, True, True),
            ["1 / 13", "1 / 7", "7 / 13"],
            id="inline fields after one that is not",
        ),
        pytest.param((), [], id="none"),
    ],
)
def test_inline_fields_share_a_row_of_up_to_three(
    inline: tuple[bool, ...], columns: list[str]
) -> None:
    assert field_columns(_fields(*inline)) == columns


# -- the transcript -----------------------------------------------------


class TestTranscript:
    def test_a_board_is_one_message_where_first_posted_in_its_latest_state(
        self,
    ) -> None:
        board = Place(board="health")
        first = _message(embed={"title": "first"}, place=board)
        other = _message(embed={"title": "a trade"})
        latest = _message(embed={"title": "latest"}, place=board)
        transcript = Transcript()
        transcript.add([first, other, _message(place=board), latest])
        shown = transcript.shown()
        assert [s.message.embed.get("title") for s in shown] == [
            "latest",
            "a trade",
        ]
        assert [s.edits for s in shown] == [2, 0]

    @pytest.mark.parametrize(
        ("one", "two"),
        [
            pytest.param(
                Place(board="a"), Place(board="b"), id="another board"
            ),
            pytest.param(
                Place(thread="x", board="a"),
                Place(thread="y", board="a"),
                id="the same board key in another thread",
            ),
            pytest.param(Place(thread="x"), Place(thread="x"), id="no board"),
            pytest.param(None, None, id="no place"),
        ],
    )
    def test_only_the_same_board_is_edited(
        self, one: Place | None, two: Place | None
    ) -> None:
        transcript = Transcript()
        transcript.add([_message(place=one), _message(place=two)])
        assert [s.edits for s in transcript.shown()] == [0, 0]

    def test_a_board_in_another_channel_is_another_board(self) -> None:
        board = Place(board="a")
        transcript = Transcript()
        transcript.add(
            [
                _message(place=board),
                _message(place=board, channel="trades_live"),
            ]
        )
        assert len(transcript.shown()) == 2

    def test_past_its_size_it_counts_what_it_did_not_keep(self) -> None:
        transcript = Transcript()
        transcript.add([_message()] * (MOST_SHOWN + 3))
        assert len(transcript.shown()) == MOST_SHOWN
        assert transcript.not_kept == 3

    def test_it_is_fed_from_several_threads(self) -> None:
        transcript = Transcript()
        feeders = [
            threading.Thread(target=transcript.add, args=([_message()] * 50,))
            for _ in range(4)
        ]
        for feeder in feeders:
            feeder.start()
        for feeder in feeders:
            feeder.join()
        assert len(transcript.shown()) == 200


# -- the page -------------------------------------------------------------


class TestSidebar:
    def test_it_lists_the_shipped_categories_and_channels_in_order(
        self,
    ) -> None:
        config = load_config(shipped_routing())
        page = _page(_message(channel="trades_paper"), config=config)
        categories = [c.text() for c in page.all("category")]
        assert len(categories) == 9
        assert categories == list(
            dict.fromkeys(c.category or "" for c in config.channels.values())
        )
        links = page.all("channel-link")
        assert [a.attrs["data-channel"] for a in links] == list(
            config.channels
        )
        assert len(links) == 37

    def test_channels_with_messages_read_unread_and_pings_are_counted(
        self,
    ) -> None:
        config = load_config(shipped_routing())
        ping = {"content": "@everyone"}
        page = _page(
            _message(channel="trades_paper"),
            _message(channel="trades_paper"),
            _message(channel="alerts_critical", payload=ping),
            _message(channel="alerts_critical"),
            config=config,
        )
        links = {a.attrs["data-channel"]: a for a in page.all("channel-link")}
        assert {
            key: (a.attrs["data-messages"], [c.text() for c in a.all("count")])
            for key, a in links.items()
            if "unread" in a.classes
        } == {"alerts_critical": ("2", ["1"]), "trades_paper": ("2", [])}
        quiet = [a for a in links.values() if "quiet" in a.classes]
        assert len(quiet) == 35

    def test_forums_have_their_own_icon(self) -> None:
        config = load_config(shipped_routing())
        page = _page(config=config)
        forums = {
            a.attrs["data-channel"]
            for a in page.all("channel-link")
            if a.one("channel-icon").attrs["title"] == "forum"
        }
        assert forums == {k for k, c in config.channels.items() if c.forum}

    def test_uncategorised_channels_come_first_and_unlisted_ones_last(
        self, tmp_path: Any
    ) -> None:
        path = tmp_path / "routing.yaml"
        path.write_text(
            "version: 1\nchannels:\n"
            "  trades: {category: Trading}\n  misc: {}\n"
            "routes:\n  - {name: all, match: {}, to: trades}\n"
        )
        config = load_config(str(path))
        page = _page(
            _message(channel="stray"), _message(channel="misc"), config=config
        )
        nav = page.one(tag="nav")
        order = [
            ("category", n.text()) if "category" in n.classes else
            ("channel", n.attrs["data-channel"])
            for n in nav.walk()
            if n.classes & {"category", "channel-link"}
        ]  # fmt: skip
        assert order == [
            ("channel", "misc"),
            ("category", "Trading"),
            ("channel", "trades"),
            ("category", "not in channels:"),
            ("channel", "stray"),
        ]


class TestChannels:
    def test_only_channels_with_messages_are_drawn_in_sidebar_order(
        self,
    ) -> None:
        config = load_config(shipped_routing())
        page = _page(
            _message(channel="trades_live"),
            _message(channel="system_health"),
            config=config,
        )
        drawn = [s.attrs["data-channel"] for s in page.all("channel-view")]
        assert drawn == ["system_health", "trades_live"]
        section = page.all("channel-view")[0]
        assert section.attrs["id"] == "channel-system_health"
        assert "Health checks" in section.one("topic").text()

    def test_an_empty_preview_says_nothing_would_be_sent(self) -> None:
        page = _page()
        assert "nothing would be sent" in page.one("notice").text()

    def test_threads_are_cards_below_the_channel_s_own_messages(self) -> None:
        forum = Channel(key="alerts", name="alerts", forum=True)
        page = _page(
            _message(channel="alerts", target=forum, place=Place(thread="a")),
            _message(channel="alerts", target=forum),
            _message(
                channel="alerts", target=forum, place=Place(thread_id="12345")
            ),
            _message(channel="alerts", target=forum, place=Place(thread="a")),
        )
        section = page.one("channel-view")
        assert section.one("threads-title").text() == "posts"
        cards = section.all("thread")
        assert [c.one("thread-name").text() for c in cards] == [
            "a",
            "thread 12345",
        ]
        assert [len(c.all("message")) for c in cards] == [2, 1]
        assert len(section.all("message")) == 4  # one in the channel itself

    def test_a_text_channel_s_threads_are_threads(self) -> None:
        page = _page(_message(place=Place(thread="x")))
        assert page.one("threads-title").text() == "threads"


class TestMessage:
    def test_a_message_shows_its_sender_time_and_embed(self) -> None:
        embed = {
            "author": {"name": "Momentum_BTC_v1"},
            "title": "Trade",
            "url": "https://polymarket.com/event/btc",
            "description": "Bought",
            "color": 0xED4245,
            "fields": _fields(True, True),
            "footer": {"text": "trader"},
            "timestamp": "2026-02-01T14:33:45+00:00",
        }
        message = _page(_message(embed=embed)).one(tag="article")
        assert message.one("username").text() == "Polybot"
        assert message.one("avatar").text() == "P"
        assert message.one("time").text() == "2026-02-01 14:33 UTC"
        shown = message.one("embed")
        assert shown.attrs["data-color"] == "#ed4245"
        assert "border-left-color: #ed4245" in shown.attrs["style"]
        assert shown.one("embed-author").text() == "Momentum_BTC_v1"
        link = shown.one("embed-title").one(tag="a")
        assert link.attrs["href"] == embed["url"]
        assert link.text() == "Trade"
        assert shown.one("embed-description").text() == "Bought"
        assert len(shown.all("embed-field")) == 2
        assert shown.one("embed-footer").text() == (
            "trader • 2026-02-01 14:33 UTC"
        )

    @pytest.mark.parametrize(
        "url", ["javascript:alert(1)", "data:text/html,x", "//evil", ""]
    )
    def test_a_title_links_only_to_the_web(self, url: str) -> None:
        page = _page(_message(embed={"title": "Trade", "url": url}))
        assert not page.one("embed-title").all(tag="a")

    def test_an_embed_without_a_colour_has_discord_s_plain_bar(self) -> None:
        page = _page(_message(embed={"title": "x"}))
        assert page.one("embed").attrs["data-color"] == "#1e1f22"

    def test_an_identity_is_its_name_and_initial_never_its_picture(
        self,
    ) -> None:
        url = "https://example.com/boss.png"
        page = _page(
            _message(payload={"username": "Floor Boss", "avatar_url": url})
        )
        assert page.one("username").text() == "Floor Boss"
        avatar = page.one("avatar")
        assert avatar.text() == "F"
        assert "not fetched" in avatar.attrs["title"]
        assert url not in page_text(page)

    def test_a_board_says_it_was_edited(self) -> None:
        board = Place(board="b")
        page = _page(_message(place=board), _message(place=board))
        assert page.one("edited").text() == "(edited)"
        assert "edited 1 time " in page.one("edited").attrs["title"]

    def test_files_are_named_with_their_size_and_open_on_their_start(
        self,
    ) -> None:
        lines = "\n".join(f"line {n}" for n in range(1, 51))
        files = (
            Attachment("traceback.txt", lines + "x" * 2048),
            Attachment("small.txt", "abc"),
        )
        page = _page(_message(files=files))
        cards = page.all("attachment")
        assert [c.one(tag="summary").text() for c in cards] == [
            "📄traceback.txt2.4 KB",
            "📄small.txt3 bytes",
        ]
        assert [c.one("file-text").text() for c in cards] == [
            "\n".join(f"line {n}" for n in range(1, 41)) + "\n… 10 more lines",
            "abc",
        ]

    def test_delivery_s_own_marks_stand_out_in_the_footer(self) -> None:
        text = "trader · ×12 more · since 14:00:05 UTC · delayed 12m"
        page = _page(_message(embed={"title": "x", "footer": {"text": text}}))
        assert [m.text() for m in page.all("mark")] == [
            "×12 more",
            "since 14:00:05 UTC",
            "delayed 12m",
        ]
        assert page.one("footer-text").text() == text

    def test_the_marks_delivery_really_writes_are_the_ones_shown(
        self,
    ) -> None:
        """
        The marks come from the footers batching and late delivery
        write (``×N more · since …``, ``delayed …``), not from a copy of
        their wording: a change there shows here.
        """
        message = _message(embed={"title": "x", "footer": {"text": "ops"}})
        held = Pending(message, None, logging.INFO, TIME - 60, TIME, TIME)
        held.add(message)
        held.repeat = True
        late = with_delay(held.embed(), TIME - 720, TIME)
        page = _page(_message(embed=late))
        assert [m.text() for m in page.all("mark")] == [
            "×2 more",
            "since 14:32:45 UTC",
            "delayed 12m",
        ]
        assert page.one("footer-text").text().startswith("ops · ")


class TestCuts:
    def test_text_the_library_cut_is_marked_and_other_text_is_not(
        self,
    ) -> None:
        long = "word " * 1200
        with cuts_recorded() as cuts:
            description = clamp(long, 4096)
            value = clamp(long, 1024)
        embed = {
            "title": "a title that ends in … by itself",
            "description": description,
            "fields": [
                {"name": "cut", "value": value},
                {"name": "whole", "value": "short"},
            ],
        }
        page = _page(_message(embed=embed), cuts=frozenset(cuts))
        marked = [
            node
            for node in page.walk()
            if node.all("cut") and node.classes & _PARTS
        ]
        assert [min(n.classes & _PARTS) for n in marked] == [
            "embed-description",
            "embed-field-value",
        ]

    def test_a_short_cut_marks_only_its_own_text(self) -> None:
        """A value cut to "…" does not mark every text holding one."""
        with cuts_recorded() as cuts:
            tiny = clamp("abcdef", 1)
            footer = clamp("f" * 3000, 2048)
        embed = {
            "description": "a user's own … in the middle",
            "fields": [{"name": "n", "value": tiny}],
            "footer": {"text": f"{footer} · ×3 since 14:02"},
        }
        page = _page(_message(embed=embed), cuts=frozenset(cuts))
        assert tiny == "…"
        assert not page.one("embed-description").all("cut")
        assert page.one("embed-field-value").all("cut")
        assert page.one("footer-text").all("cut")  # its head was cut

    def test_the_console_s_own_cuts_are_not_recorded(self) -> None:
        with cuts_recorded() as cuts:
            message = _message(
                channel="c" * 200,
                embed={"title": "t" * 300},
                payload={"username": "u" * 300},
            )
            format_message(message)
            assert where_it_goes(message).endswith("…")
        assert cuts == set()

    def test_the_more_fields_field_is_a_cut(self) -> None:
        field = {"name": "…", "value": "3 more fields not shown"}
        page = _page(_message(embed={"title": "x", "fields": [field]}))
        assert page.one("embed-field-value").all("cut")

    def test_cuts_are_recorded_only_inside_the_block_from_any_thread(
        self,
    ) -> None:
        clamp("x" * 20, 10)
        with cuts_recorded() as cuts:
            worker = threading.Thread(target=clamp, args=("y" * 20, 10))
            worker.start()
            worker.join()
            with cuts_recorded() as inner:
                clamp("z" * 20, 10)
            clamp("short", 10)  # fits: not a cut
        clamp("w" * 20, 10)
        assert inner is cuts
        assert cuts == {"y" * 9 + "…", "z" * 9 + "…"}


_PARTS = {
    "embed-author",
    "embed-title",
    "embed-description",
    "embed-field-name",
    "embed-field-value",
    "footer-text",
}


def page_text(page: Node) -> str:
    """Everything the page says, attributes included."""
    return " ".join(
        [page.text(), *(v for n in page.walk() for v in n.attrs.values())]
    )


# -- nothing from the outside adds markup --------------------------------

_HOSTILE = st.text(
    alphabet=st.sampled_from([*"<>&\"'/=ab \n`*_|@#:;!-", "\u200b"]),
    min_size=1,
    max_size=40,
)


@given(text=_HOSTILE)
def test_plain_text_from_anywhere_shows_as_it_is_and_adds_no_tag(
    text: str,
) -> None:
    """
    A channel's name, topic and category, a sender's name, a thread's,
    an author, a footer and a file name are text, whatever they hold.
    """
    target = Channel(key="k", name=text, category=text, topic=text)
    embed = {"author": {"name": text}, "footer": {"text": text}}
    message = _message(
        channel="k",
        target=target,
        embed=embed,
        payload={"username": text},
        place=Place(thread=text),
        files=(Attachment(text, ""),),
    )
    page = _page(message)
    tags = {node.tag for node in page.walk()}
    assert tags <= PAGE_TAGS
    for cls in ("thread-name", "embed-author", "username", "file-name"):
        assert page.one(cls).text() == text, cls
    assert page.one("channel-view").one(tag="h2").text() == text


def test_the_page_fetches_nothing_and_runs_nothing() -> None:
    config = load_config(shipped_routing())
    page = page_html(
        [],
        config=config,
        title="t",
        webhook_name="Polybot",
    )
    tree = parse(page)
    assert not tree.all(tag="script")
    assert not [n for n in tree.walk() if "src" in n.attrs]
    assert all(
        n.attrs["href"].startswith("#channel-") for n in tree.all(tag="a")
    )
    policy = [
        n.attrs["content"]
        for n in tree.all(tag="meta")
        if n.attrs.get("http-equiv") == "Content-Security-Policy"
    ]
    assert policy == ["default-src 'none'; style-src 'unsafe-inline'"]
    assert "url(" not in page
    assert "@import" not in page
