"""
The gallery of ``docs/polybot.md`` is up to date, without a browser.

Each channel's picture (``docs/gallery/<key>.png``) is drawn by
``docs/gallery/build.py`` from the shipped routing, the channel's sample
command on the page and the HTML the preview makes of its messages; its
``manifest.json`` records a sha256 of those. Here they are recomputed by
the script's own functions: when the routing, a sample or the way a
message is drawn changed and the pictures were not drawn again, these
tests name the channels and the command that redraws them.
"""

from __future__ import annotations

import re
import runpy
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "docs" / "gallery" / "build.py"
GALLERY = BUILD.parent
POLYBOT_MD = REPO / "docs" / "polybot.md"

#: A picture shown on the page: ![#name as Discord shows it](gallery/KEY.png)
_IMAGE = re.compile(
    r"^!\[#(?P<name>[a-z0-9-]+) as Discord shows it\]"
    r"\(gallery/(?P<file>[a-z0-9_]+\.png)\)$",
    re.MULTILINE,
)


@pytest.fixture(scope="module")
def build() -> dict[str, Any]:
    """The globals of ``docs/gallery/build.py``, its functions among them."""
    return runpy.run_path(str(BUILD))


@pytest.fixture(scope="module")
def pictures(build: dict[str, Any]) -> list[Any]:
    """Every channel's picture as the routing and renderer now draw it."""
    found: list[Any] = build["pictures"]()
    return found


@pytest.fixture(scope="module")
def manifest(build: dict[str, Any]) -> dict[str, Any]:
    """What ``manifest.json`` says the pictures were drawn from."""
    channels: dict[str, Any] = build["read_manifest"]()["channels"]
    return channels


def _rebuild(build: dict[str, Any]) -> str:
    return (
        f"redraw them: `{build['REBUILD']}` (it needs chromium: see its "
        "docstring)"
    )


def test_every_picture_is_drawn_from_the_current_sources(
    build: dict[str, Any], pictures: list[Any], manifest: dict[str, Any]
) -> None:
    stale = [
        f"#{p.name}"
        for p in pictures
        if manifest.get(p.key, {}).get("sha256") != p.digest
    ]
    which = "all" if len(stale) == len(pictures) else ", ".join(stale)
    assert not stale, (
        f"the pictures of docs/gallery are out of date: {which}: the "
        "routing, a sample command in docs/polybot.md or the way a message "
        f"is drawn changed since they were drawn; {_rebuild(build)}"
    )


def test_the_manifest_records_each_channel_s_command(
    build: dict[str, Any], pictures: list[Any], manifest: dict[str, Any]
) -> None:
    drawn = {key: entry["command"] for key, entry in manifest.items()}
    now = {p.key: p.command for p in pictures}
    changed = sorted(
        k for k in drawn.keys() | now.keys() if drawn.get(k) != now.get(k)
    )
    assert not changed, (
        f"the pictures of {changed} were not drawn from the sample "
        f"commands docs/polybot.md now shows; {_rebuild(build)}"
    )


def test_every_channel_of_the_routing_has_a_picture(
    build: dict[str, Any], manifest: dict[str, Any]
) -> None:
    config = build["_config"]("routing.yaml", ())
    keys = [k for k in config.channels if k not in build["NOTHING_SENT"]]
    missing = [
        f"#{config.channels[key].name}"
        for key in keys
        if key not in manifest or not (GALLERY / f"{key}.png").is_file()
    ]
    assert not missing, f"no picture of {missing}; {_rebuild(build)}"
    assert sorted(manifest) == sorted(keys)


def test_no_picture_is_left_over(
    build: dict[str, Any], pictures: list[Any]
) -> None:
    files = {p.file for p in pictures}
    left = sorted(
        path.name for path in GALLERY.glob("*.png") if path.name not in files
    )
    assert not left, (
        f"docs/gallery has pictures of no channel: {left}; "
        f"{_rebuild(build)} (it removes them)"
    )


def test_the_page_shows_each_picture_once_under_its_channel(
    pictures: list[Any],
) -> None:
    page = POLYBOT_MD.read_text(encoding="utf-8")
    shown = [(m["name"], m["file"]) for m in _IMAGE.finditer(page)]
    assert sorted(shown) == sorted((p.name, p.file) for p in pictures)
    for name, file in shown:
        section = _section_of(page, page.index(f"(gallery/{file})"))
        assert f"`#{name}`" in section, f"{file} is not under #{name}"


def _section_of(page: str, at: int) -> str:
    """The ``###`` heading of the section holding *page*[at]."""
    start = page.rindex("\n### ", 0, at) + 1
    return page[start : page.index("\n", start)]


def test_channels_without_a_picture_get_no_message(
    build: dict[str, Any],
) -> None:
    """A channel NOTHING_SENT names has no sample that reaches it."""
    config = build["_config"]("routing.yaml", ())
    commands = build["commands_by_channel"](
        POLYBOT_MD.read_text(encoding="utf-8")
    )
    for key in build["NOTHING_SENT"]:
        assert key in config.channels, f"{key} is no longer a channel"
        name = config.channels[key].name
        for text in commands.get(name, []):
            messages, _ = build["messages_of"](build["parse_command"](text))
            assert key not in {m.channel for m in messages}, text


def test_what_is_hashed_is_the_same_on_every_machine(
    build: dict[str, Any], pictures: list[Any]
) -> None:
    """No path of this checkout, and the samples logged at one time."""
    for picture in pictures:
        drawn = build["fragment"](picture.page, picture.key)
        assert str(REPO) not in drawn
        assert "2026-02-01 14:33 UTC" in drawn, picture.key


def test_check_says_the_gallery_is_up_to_date(
    build: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert build["main"](["--check"]) == 0, capsys.readouterr().err
