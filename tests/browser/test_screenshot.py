"""
The preview page's pixels, against a picture checked in beside this file.

A fixed page (a small routing, events at a fixed time, drawn through the
library) is opened in a 1000×800 window at one pixel per CSS pixel, in
the fixed fonts (DejaVu Sans, Noto Color Emoji), and its screenshot is
compared with ``reference/preview.png``: see :data:`MOST_DIFFERING` for
how close it must be. On a mismatch the screenshot and a picture of
where it differs are saved, and the failure names both.

When the page is meant to look different (a change to ``discord.css``,
to the markup, or Chromium's or the fonts' own rendering), look at the
saved screenshot, then write it as the new reference::

    POLYBOT_UPDATE_REFERENCES=1 pytest tests/browser/test_screenshot.py

and commit ``tests/browser/reference/preview.png`` with
``preview.chromium``, the major version of the Chromium that drew it.
Pixels are only compared with a reference drawn by the same major
version: another one moves glyphs by a fraction of a pixel, which the
tolerance (rightly) counts as a change, so the test skips, saying which
version drew the reference, until it is drawn anew.
"""

from __future__ import annotations

import functools
import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops

from polybot_loghandler._cli.guild import WEBHOOK_NAME
from polybot_loghandler._config import load_config
from polybot_loghandler._html.page import page_html
from polybot_loghandler._html.transcript import Transcript
from polybot_loghandler._pipeline import Pipeline
from tests.browser.conftest import Viewer

pytestmark = pytest.mark.slow

REFERENCE = Path(__file__).parent / "reference" / "preview.png"
#: The major version of the Chromium that drew :data:`REFERENCE`.
DRAWN_BY = REFERENCE.with_suffix(".chromium")

#: A pixel differs when one of its channels is off by more than this
#: (of 255): a glyph's edge shaded a shade differently is not a change,
#: but a colour of the page moved by more than 8 is (the embed's
#: background darkened to the sidebar's, 13, shows in 222,000 pixels).
CHANNEL_TOLERANCE = 8
#: At most this many pixels may differ (of 800,000). Run to run, none
#: does; a rendering setting changed (no LCD text: 211 pixels, each by
#: less than 4) stays under the tolerance; the smallest change found
#: that a reader would see, one digit of a number, differs in 56
#: pixels, a word in 129, a field name's colour in over 1,000. (0.5% of
#: the window, 4,000 pixels, would let all three through.)
MOST_DIFFERING = 16

#: When every event of the page happened.
FIXED_TIME = datetime(2026, 2, 1, 14, 33, tzinfo=timezone.utc).timestamp()

#: The page's routing. Its texts and the events' values have no
#: markdown in them, so the page's pixels do not depend on how markdown
#: is drawn (no ``_``, ``*``, backquotes or line-leading ``#``/``-``).
ROUTING = """\
version: 1
channels:
  trades: {category: "💰 Trading", topic: "Every fill, as it happens"}
  alerts: {category: "📋 Status", topic: What needs a look}
  status: {category: "📋 Status"}
  quiet: {category: "📋 Status"}
routes:
  - name: trade
    match: {event: trade_executed}
    to: trades
    embed:
      title: "{{ side }} {{ size }} {{ market }} at {{ price }}"
      color: "#57f287"
      fields:
        - {name: Agent, value: "{{ agent }}", inline: true}
        - {name: Size, value: "{{ size }}", inline: true}
        - {name: Price, value: "{{ price }}", inline: true}
        - {name: Why, value: "{{ reason }}", inline: false}
      footer: "{{ agent }}"
  - name: latency
    match: {event: api_latency_high}
    to: alerts
    identity: {username: Risk Manager}
    embed:
      title: High API latency
      color: "#ed4245"
      description: "{{ api }} answered in {{ ms }} ms, normally 120 ms"
  - name: health
    match: {event: health_check}
    to: status
    board: floor
    embed:
      title: "Health: {{ state }}"
      color: "#f0b232"
      fields:
        - {name: Feeds, value: "{{ feeds }}", inline: true}
        - {name: Orders, value: "{{ orders }}", inline: true}
"""

#: The page's events, in order: (name, fields). The board gets two.
EVENTS: list[tuple[str, dict[str, Any]]] = [
    (
        "trade_executed",
        {
            "side": "Buy",
            "size": 120,
            "market": "BTC",
            "price": "$97,412",
            "agent": "Momentum BTC",
            "reason": "Breakout above the four hour range with volume",
        },
    ),
    ("health_check", {"state": "starting", "feeds": "up", "orders": "down"}),
    (
        "trade_executed",
        {
            "side": "Sell",
            "size": 40,
            "market": "ETH",
            "price": "$3,118",
            "agent": "Mean Reversion ETH",
            "reason": "Back to the mean",
        },
    ),
    ("api_latency_high", {"api": "Exchange API", "ms": 2380}),
    ("health_check", {"state": "all up", "feeds": "up", "orders": "up"}),
]


def fixed_page(tmp_path: Path) -> Path:
    """The page of :data:`EVENTS`, every one at :data:`FIXED_TIME`."""
    routing = tmp_path / "floor.yaml"
    routing.write_text(ROUTING, encoding="utf-8")
    config = load_config(routing)
    pipeline = Pipeline(config)
    transcript = Transcript()
    for name, fields in EVENTS:
        raw = (name, logging.INFO, "", FIXED_TIME, fields, name, None)
        transcript.add(pipeline.process(raw))
    page = tmp_path / "floor.html"
    html = page_html(
        transcript.shown(),
        config=config,
        title="floor.yaml · preview",
        webhook_name=WEBHOOK_NAME,
    )
    page.write_text(html, encoding="utf-8")
    return page


def differing(actual: Image.Image, expected: Image.Image) -> Image.Image:
    """Where the two differ: white where a channel is off by too much."""
    diff = ImageChops.difference(
        actual.convert("RGB"), expected.convert("RGB")
    )
    most = functools.reduce(ImageChops.lighter, diff.split())
    return most.point(lambda v: 255 if v > CHANNEL_TOLERANCE else 0)


def test_the_page_looks_as_it_did(tmp_path: Path, viewer: Viewer) -> None:
    """The page's pixels match the reference, within the tolerance."""
    page = viewer.open(fixed_page(tmp_path))
    shot = tmp_path / "actual.png"
    page.screenshot(path=shot, animations="disabled", caret="hide")
    browser = page.context.browser
    assert browser is not None
    major = browser.version.split(".")[0]

    if os.environ.get("POLYBOT_UPDATE_REFERENCES") == "1":
        REFERENCE.parent.mkdir(exist_ok=True)
        REFERENCE.write_bytes(shot.read_bytes())
        DRAWN_BY.write_text(major + "\n", encoding="utf-8")
        pytest.skip(f"wrote {REFERENCE}: look at it, then commit it")
    drawn_by = DRAWN_BY.read_text(encoding="utf-8").strip()
    if drawn_by != major:
        pytest.skip(
            f"{REFERENCE.name} was drawn by Chromium {drawn_by}, this is "
            f"Chromium {major}: draw it anew with "
            "POLYBOT_UPDATE_REFERENCES=1 (see this module's docstring)"
        )
    with Image.open(shot) as actual, Image.open(REFERENCE) as expected:
        assert expected.size == actual.size, (
            f"the screenshot {shot} is {actual.size}, the reference "
            f"{REFERENCE} {expected.size}"
        )
        mask = differing(actual, expected)
        count = mask.histogram()[255]
        if count > MOST_DIFFERING:
            diff = tmp_path / "diff.png"
            red = Image.new("RGB", actual.size, (255, 0, 0))
            faded = actual.convert("RGB").point(lambda v: v // 3)
            Image.composite(red, faded, mask).save(diff)
    assert count <= MOST_DIFFERING, (
        f"{count} pixels differ from {REFERENCE} (at most "
        f"{MOST_DIFFERING} may): see the screenshot {shot} and where it "
        f"differs, in red, {tmp_path / 'diff.png'}; if the change is meant, "
        "POLYBOT_UPDATE_REFERENCES=1 writes the reference anew"
    )
