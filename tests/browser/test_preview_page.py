"""
The HTML preview in a browser: what a person opening the page sees.

Each page is written by the command line (``preview --html``, ``demo
--html``), opened from its file in Chromium, and read as shown: text as
it reads on screen (``innerText``), fields by where they stand, colours
as computed. The page fetches nothing (the viewer refuses and reports
any request but the file's own).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from polybot_loghandler._cli import main
from polybot_loghandler._config import load_config
from polybot_loghandler._html.message import field_columns
from tests.browser.conftest import Viewer
from tests.conftest import SHIPPED_ROUTING

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.slow

#: The sample routing's channels: one plain, one in a category with a
#: topic, a board's, and a forum.
CHANNELS = """\
version: 1
channels:
  plain: ""
  alerts: {category: Ops, topic: What needs a look}
  status: {category: Ops}
  incidents:
    webhook: https://discord.com/api/webhooks/1/token
    type: forum
    category: Ops
routes:
"""

#: What a person typed into an event value, with markdown, HTML and a
#: ping in it: the page must show it as typed and ping no one.
TYPED = "**not bold** _x_ <b>y</b> @everyone"

#: The library breaks a ping in a value with an invisible zero-width
#: space after the ``@``; a reader does not see it.
ZERO_WIDTH_SPACE = "\u200b"

#: Where :data:`TYPED` is put in an embed (its YAML), and where it shows.
TYPED_IN = [
    pytest.param('title: "{{ text }}"', ".embed-title", id="title"),
    pytest.param(
        'title: T\ndescription: "{{ text }}"',
        ".embed-description",
        id="description",
    ),
    pytest.param(
        'title: T\nfields: [{name: Said, value: "{{ text }}"}]',
        ".embed-field-value",
        id="field",
    ),
]


class Preview:
    """
    Pages written by ``preview ROUTING --event ... --html FILE``, opened.

    The command runs in the test's directory, with no Discord settings
    from outside (a test sets those it needs).
    """

    def __init__(self, tmp_path: Path, viewer: Viewer) -> None:
        self.tmp_path = tmp_path
        self.viewer = viewer

    def __call__(self, routing: str | Path, *events: dict[str, Any]) -> Page:
        """
        The page of *events*, by *routing*: a file, or the routes of the
        sample routing (:data:`CHANNELS`) as YAML.
        """
        if isinstance(routing, str):
            path = self.tmp_path / "routing.yaml"
            path.write_text(CHANNELS + routing, encoding="utf-8")
            routing = path
        page = self.tmp_path / "preview.html"
        argv = ["preview", str(routing), "--html", str(page)]
        for event in events:
            argv += ["--event", json.dumps(event)]
        assert 0 == main(argv)
        return self.viewer.open(page)


@pytest.fixture
def preview(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, viewer: Viewer
) -> Preview:
    """Preview pages, written in *tmp_path* with no ``DISCORD_*`` set."""
    without_discord(monkeypatch)
    monkeypatch.chdir(tmp_path)
    return Preview(tmp_path, viewer)


def without_discord(monkeypatch: pytest.MonkeyPatch) -> None:
    """No webhook or id from the environment: nothing is ever sent."""
    for name in list(os.environ):
        if name.startswith("DISCORD_"):
            monkeypatch.delenv(name)


def texts(locator: Locator) -> list[str]:
    """Each match's text as shown on screen."""
    return [text.strip() for text in locator.all_inner_texts()]


def typed_route(embed: str) -> str:
    """A route for the event ``typed``, with *embed*."""
    return route("typed", "alerts", embed)


def route(name: str, to: str, embed: str = "", **options: str) -> str:
    """One route of the sample routing, matching the event *name*."""
    lines = [
        f"  - name: {name}",
        f"    match: {{event: {name}}}",
        f"    to: {to}",
        *(f"    {key}: {value}" for key, value in options.items()),
    ]
    if embed:
        lines.append("    embed:")
        lines.extend(f"      {line}" for line in embed.splitlines())
    return "\n".join(lines) + "\n"


class TestSidebar:
    @pytest.fixture
    def page(self, preview: Preview) -> Page:
        """The shipped routing's page, with one paper trade sent."""
        trade = {"event": "trade_executed", "is_paper": True, "amount": 20}
        return preview(SHIPPED_ROUTING, trade)

    def test_title(self, page: Page) -> None:
        """The tab, and the server's name atop the sidebar, say the file."""
        assert "routing.yaml · preview" == page.title()
        assert ["routing.yaml · preview"] == texts(
            page.locator(".server-name")
        )

    def test_categories_and_channels_in_order(self, page: Page) -> None:
        """The sidebar lists the 9 categories and 37 channels in order."""
        channels = load_config(SHIPPED_ROUTING).channels.values()
        categories = list(dict.fromkeys(c.category for c in channels))

        assert (9, 37) == (len(categories), len(channels))
        # Discord shows category names in capitals
        assert [str(name).upper() for name in categories] == texts(
            page.locator(".sidebar .category")
        )
        assert [c.name for c in channels] == texts(
            page.locator(".sidebar .channel-link .name")
        )

    def test_channels_with_messages_read_unread(self, page: Page) -> None:
        """
        Only the channels the trade went to read white and bold, as
        Discord shows unread channels; a trade pings no one: no badge.
        """
        unread = page.locator(".sidebar .channel-link.unread")
        keys = [link.get_attribute("data-channel") for link in unread.all()]
        quiet = page.locator(".sidebar .channel-link.quiet")

        assert ["trades_executed", "trades_paper"] == keys
        assert "rgb(242, 243, 245)" == unread.first.evaluate(
            "e => getComputedStyle(e).color"
        )
        assert 0 == page.locator(".sidebar .count").count()
        assert 35 == quiet.count()


class TestEmbed:
    def test_title_is_a_link(self, preview: Preview) -> None:
        """A title with ``url:`` reads as the title and links to the url."""
        routes = route(
            "opened",
            "alerts",
            'title: "Position {{ n }} opened"\nurl: https://example.com/p',
        )
        title = preview(routes, {"event": "opened", "n": 7}).locator(
            ".embed-title"
        )

        assert ["Position 7 opened"] == texts(title)
        assert "https://example.com/p" == title.locator("a").get_attribute(
            "href"
        )

    @pytest.mark.parametrize(
        ("inline", "rows"),
        [
            pytest.param([True] * 6, [3, 3], id="six-inline"),
            pytest.param([True, True, False, True], [2, 1, 1], id="broken"),
            pytest.param([True] * 4, [3, 1], id="four-inline"),
            pytest.param([False, True, True], [1, 2], id="alone-first"),
        ],
    )
    def test_fields_per_row(
        self, preview: Preview, inline: list[bool], rows: list[int]
    ) -> None:
        """Inline fields stand side by side, up to three; others alone."""
        fields = [
            {"name": f"F{i}", "value": f"v{i}", "inline": flag}
            for i, flag in enumerate(inline)
        ]
        listed = "\n".join(f"  - {json.dumps(f)}" for f in fields)
        routes = route("many", "alerts", f"title: Many\nfields:\n{listed}")
        page = preview(routes, {"event": "many"})

        boxes = page.locator(".embed-field").evaluate_all(_BOXES)
        grid = page.locator(".embed-fields").evaluate(_BOX)

        assert rows == _row_sizes(field_columns(fields))
        assert rows == _rows(boxes)
        alone = [
            b for b, f in zip(boxes, fields, strict=True) if not f["inline"]
        ]
        assert all(_same(b["width"], grid["width"]) for b in alone)

    @pytest.mark.parametrize(
        ("color", "computed"),
        [
            pytest.param('"#ed4245"', "rgb(237, 66, 69)", id="hex"),
            pytest.param("5763719", "rgb(87, 242, 135)", id="integer"),
        ],
    )
    def test_colour_bar(
        self, preview: Preview, color: str, computed: str
    ) -> None:
        """The bar down the embed's left is the route's colour."""
        routes = route("hued", "alerts", f"title: Hued\ncolor: {color}")
        embed = preview(routes, {"event": "hued"}).locator(".embed")

        assert computed == embed.evaluate(
            "e => getComputedStyle(e).borderLeftColor"
        )

    @pytest.mark.parametrize(("where", "part"), TYPED_IN)
    def test_event_values_are_not_formatted(
        self, preview: Preview, where: str, part: str
    ) -> None:
        """Markdown, HTML and a ping in a value: nothing bold, no pill."""
        page = preview(typed_route(where), {"event": "typed", "text": TYPED})

        assert "not bold" in page.locator(part).inner_text()
        assert 0 == page.locator(".embed :is(strong, em, b, i, u, s)").count()
        assert 0 == page.locator(".mention").count()

    @pytest.mark.parametrize(("where", "part"), TYPED_IN)
    def test_event_values_read_as_typed(
        self, preview: Preview, where: str, part: str
    ) -> None:
        """A value reads exactly as typed: the escapes do not show."""
        page = preview(typed_route(where), {"event": "typed", "text": TYPED})

        assert [TYPED] == [
            text.replace(ZERO_WIDTH_SPACE, "")
            for text in texts(page.locator(part))
        ]

    def test_text_over_a_limit_is_marked_cut(self, preview: Preview) -> None:
        """A 5,000-character description is cut, and marked so."""
        routes = route("long", "alerts", 'title: Long\ndescription: "{{ t }}"')
        page = preview(routes, {"event": "long", "t": "word " * 1000})
        cut = page.locator(".embed-description .cut")

        assert cut.is_visible()
        assert ["cut to fit"] == texts(cut)


class TestMessage:
    @pytest.mark.parametrize(
        ("routing", "event", "pill"),  # pill: what it reads (a regex)
        [
            pytest.param(
                route("alarm", "alerts", "title: Alarm", mention="everyone"),
                {"event": "alarm"},
                "@everyone",
                id="everyone",
            ),
            pytest.param(
                SHIPPED_ROUTING,
                {"event": "daily_loss_limit_reached", "action": "halt"},
                "@.*1234.*",  # the role's id, or its start
                id="admin-role",
            ),
        ],
    )
    def test_ping_is_a_mention_pill(
        self,
        preview: Preview,
        monkeypatch: pytest.MonkeyPatch,
        routing: str | Path,
        event: dict[str, Any],
        pill: str,
    ) -> None:
        """A route's ping shows above the embed as a mention pill."""
        monkeypatch.setenv("DISCORD_ADMIN_ROLE_ID", "123456789012345678")
        page = preview(routing, event)
        pills = texts(page.locator(".message .content .mention"))

        assert 1 == len(pills), page.locator(".content").inner_html()
        assert re.fullmatch(pill, pills[0]), pills

    def test_board_is_one_message_edited(self, preview: Preview) -> None:
        """A board previewed twice: one message, its latest, ``(edited)``."""
        routes = route(
            "status", "status", 'title: "Status {{ n }}"', board="b"
        )
        page = preview(
            routes, {"event": "status", "n": 1}, {"event": "status", "n": 2}
        )
        messages = page.locator("#channel-status .message")

        assert 1 == messages.count()
        assert ["(edited)"] == texts(messages.locator(".edited"))
        assert ["Status 2"] == texts(messages.locator(".embed-title"))

    def test_forum_post_is_a_thread_card(self, preview: Preview) -> None:
        """A message to a forum shows in a card named after its thread."""
        routes = route(
            "post", "incidents", "title: Down", thread='"Incident {{ n }}"'
        )
        page = preview(routes, {"event": "post", "n": 7})
        card = page.locator("#channel-incidents .thread")

        assert ["Incident 7"] == texts(card.locator(".thread-name"))
        assert ["Down"] == texts(card.locator(".message .embed-title"))

    def test_identity_names_the_sender(self, preview: Preview) -> None:
        """``identity: {username: Floor Boss}``: that name, an ``F`` avatar."""
        routes = route(
            "said", "alerts", "title: Said", identity="{username: Floor Boss}"
        )
        message = preview(routes, {"event": "said"}).locator(".message")

        assert ["Floor Boss"] == texts(message.locator(".username"))
        assert ["F"] == texts(message.locator(".avatar"))


class TestDemo:
    def test_the_day_fills_the_server(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, viewer: Viewer
    ) -> None:
        """The demo's day: most of the 37 channels got messages, cleanly."""
        without_discord(monkeypatch)
        monkeypatch.chdir(tmp_path)
        path = tmp_path / "demo.html"

        assert 0 == main(["demo", "--html", str(path), "--delay", "0"])
        page = viewer.open(path)
        links = page.locator(".sidebar .channel-link")

        assert 37 == links.count()
        assert page.locator(".sidebar .channel-link.unread").count() >= 30
        assert [] == viewer.errors
        assert [] == viewer.fetched


#: Where each element stands on the page.
_BOX = "e => { const r = e.getBoundingClientRect(); return r.toJSON(); }"
_BOXES = f"es => es.map({_BOX})"


def _rows(boxes: list[dict[str, float]]) -> list[int]:
    """How many boxes stand on each line, top to bottom."""
    tops: dict[int, int] = {}
    for box in boxes:
        top = round(box["top"])
        tops[top] = tops.get(top, 0) + 1
    return [tops[top] for top in sorted(tops)]


def _row_sizes(columns: list[str]) -> list[int]:
    """How many fields each row has, from their grid columns."""
    rows: list[int] = []
    for column in columns:
        if column.startswith("1 /"):
            rows.append(0)
        rows[-1] += 1
    return rows


def _same(a: float, b: float) -> bool:
    """Equal to within a pixel (layout rounds)."""
    return abs(a - b) < 1
