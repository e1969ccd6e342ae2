"""
Colour names and how a colour is written: the palette of the embeds.

The routing file names a colour (``red``, ``profit``, ``'#rrggbb'``);
the checker of ``embed.color`` accepts what this module reads, and the
renderer reads a colour that a template made the same way, so both share
one palette without the render stage importing the config validator.
"""

from __future__ import annotations

import re

__all__ = ["COLORS", "parse_color"]

#: The colour names a routing file may use (the levels' names among
#: them: an embed without a colour takes its level's), and their values.
COLORS: dict[str, int] = {
    "default": 0x000000,
    "black": 0x000000,
    "white": 0xFFFFFF,
    "red": 0xED4245,
    "green": 0x57F287,
    "blue": 0x3498DB,
    "blurple": 0x5865F2,
    "gold": 0xF1C40F,
    "yellow": 0xFEE75C,
    "amber": 0xFFA000,
    "orange": 0xE67E22,
    "purple": 0x9B59B6,
    "teal": 0x1ABC9C,
    "grey": 0x95A5A6,
    "gray": 0x95A5A6,
    "dark_grey": 0x607D8B,
    "dark_gray": 0x607D8B,
    # colours that carry meaning in the Polybot messages
    "profit": 0x57F287,
    "loss": 0xED4245,
    "paper": 0x3498DB,
    "live": 0xF1C40F,
    "debug": 0x95A5A6,
    "info": 0x3498DB,
    "warning": 0xFFA000,
    "error": 0xE74C3C,
    "critical": 0xED4245,
}


def parse_color(value: str) -> int | None:
    """
    A colour name, ``#rrggbb`` or decimal string as an integer, else None.
    """
    text = value.strip().lower()
    if text in COLORS:
        return COLORS[text]
    if re.fullmatch(r"#[0-9a-f]{6}", text):
        return int(text[1:], 16)
    if text.isdigit() and int(text) <= 0xFFFFFF:
        return int(text)
    return None
