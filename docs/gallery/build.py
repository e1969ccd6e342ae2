"""
The gallery of ``docs/polybot.md``: each channel's sample, as a picture.

For every channel of the shipped ``routing.yaml``, the sample is the first
``polybot-loghandler preview`` command shown in that channel's section of
``docs/polybot.md`` that sends the channel a message, so the pictures and
the page never disagree. Its messages are made as ``preview`` makes them,
but logged at :data:`EVENT_TIME`, drawn by the HTML preview (``preview
--html``: :func:`polybot_loghandler._html.page.page_html`, the channel's
messages alone) and photographed in headless Chromium as
``docs/gallery/<channel key>.png``.

``manifest.json`` records, for each channel, its command and a sha256 of
what its picture is drawn from: the routing file, the command, the HTML
the renderer makes of the channel's messages, and the page's style. When
one of them changes, the picture is out of date: ``--check`` says which,
without a browser (as ``tests/integration/test_gallery.py`` does).

Run, from anywhere::

    python docs/gallery/build.py                # every picture
    python docs/gallery/build.py --only admin   # one channel's
    python docs/gallery/build.py --check        # exit 1 if out of date

Drawing needs Playwright (the Python package; it never downloads a
browser here), Debian's ``chromium`` (``/usr/bin/chromium``, or
``$POLYBOT_CHROMIUM`` as for the browser tests), ``fonts-dejavu-core``
and ``fonts-noto-color-emoji`` (the page is drawn in those fonts only,
so any machine with them draws the same pixels), and Pillow. ``--check``
needs none of them. This script is not part of the package.
"""

# ruff: noqa: INP001, T201 - a script of the docs, which prints its news

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import os
import re
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

#: The repository: paths are relative to this file, not to where it runs.
REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # the repository's own package, not another
    sys.path.insert(0, str(REPO))

from polybot_loghandler._cli.command import _parser  # noqa: E402
from polybot_loghandler._cli.guild import WEBHOOK_NAME  # noqa: E402
from polybot_loghandler._cli.preview import (  # noqa: E402
    _event_from_json,
    _sampled,
)
from polybot_loghandler._cli.samples import (  # noqa: E402
    digest_sample,
    watch_samples,
)
from polybot_loghandler._config import load_config  # noqa: E402
from polybot_loghandler._diagnostics import Diagnostics  # noqa: E402
from polybot_loghandler._events import LogEvent  # noqa: E402
from polybot_loghandler._html.page import page_html  # noqa: E402
from polybot_loghandler._html.transcript import Transcript  # noqa: E402
from polybot_loghandler._limits import cuts_recorded  # noqa: E402
from polybot_loghandler._message import RoutedMessage  # noqa: E402
from polybot_loghandler._model import Config, WatchRule  # noqa: E402
from polybot_loghandler._pipeline import Pipeline  # noqa: E402
from polybot_loghandler._routing import RoutingHolder  # noqa: E402
from polybot_loghandler._stats import Stats  # noqa: E402

GALLERY = REPO / "docs" / "gallery"
PAGE = REPO / "docs" / "polybot.md"
ROUTING = REPO / "routing.yaml"
MANIFEST = GALLERY / "manifest.json"
STYLE = REPO / "polybot_loghandler" / "_html" / "discord.css"

#: When every sample is logged (the time the page's samples show).
EVENT_TIME = datetime(2026, 2, 1, 14, 33, 45, tzinfo=timezone.utc).timestamp()
#: Channels no route, watch or digest sends to: they have no picture.
NOTHING_SENT: dict[str, str] = {}
#: What the pictures add to the page: the channel alone, in fonts that
#: every machine with fonts-dejavu-core and fonts-noto-color-emoji has.
GALLERY_STYLE = """
.sidebar { display: none !important; }
body, body * { font-family: "DejaVu Sans", "Noto Color Emoji" !important; }
body code, body pre, body code * {
  font-family: "DejaVu Sans Mono", "Noto Color Emoji" !important;
}
.channel-view { border-bottom: none !important; }
"""
#: The width of the window the pictures are taken in, in CSS pixels.
WIDTH = 760
#: The command that rebuilds the pictures.
REBUILD = "python docs/gallery/build.py"
#: The browser: Debian's, never one Playwright downloads.
CHROMIUM = os.environ.get("POLYBOT_CHROMIUM", "/usr/bin/chromium")


@dataclass(frozen=True, slots=True)
class Command:
    """
    One ``preview`` command of the page, as shown and as parsed.

    Attributes:
        text: The command line as the page shows it (after ``$ ``).
        env: The variables its ``VAR=value`` prefix sets.
        args: What ``polybot-loghandler`` makes of its words.
    """

    text: str
    env: Mapping[str, str]
    args: argparse.Namespace


@dataclass(frozen=True, slots=True)
class Picture:
    """
    One channel's picture: what it shows, and what it is drawn from.

    Attributes:
        key: The channel's key (``trades_paper``), its file's name.
        name: The channel's name (``trades-paper``).
        command: The page's command that makes its sample.
        page: The HTML page holding the channel's messages alone.
        digest: The sha256 of what the picture is drawn from.
    """

    key: str
    name: str
    command: str
    page: str
    digest: str

    @property
    def file(self) -> str:
        """The picture's file name, in ``docs/gallery``."""
        return f"{self.key}.png"


# -- the samples: the page's commands ------------------------------------


#: A heading that names channels: ### `#trades-paper`, ...
_HEADING = re.compile(r"^#{2,3} ")
_CHANNEL = re.compile(r"`#([a-z0-9_-]+)`")


def commands_by_channel(page: str) -> dict[str, list[str]]:
    """
    The ``preview`` commands of *page*, by the channels of their section.

    A section is a heading naming channels (``### `#market-btc`,
    `#market-eth```) and what follows it, up to the next heading; each of
    its channels gets every command of the section, in order.
    """
    found: dict[str, list[str]] = {}
    names: list[str] = []
    fenced = False
    for line in page.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and _HEADING.match(line):
            names = _CHANNEL.findall(line) if line.startswith("###") else []
            for name in names:
                found.setdefault(name, [])
        elif fenced and names and _is_preview(line):
            for name in names:
                found[name].append(line[2:])
    return found


def _is_preview(line: str) -> bool:
    if not line.startswith("$ "):
        return False
    words = _without_env(shlex.split(line[2:]))
    return words[:2] == ["polybot-loghandler", "preview"]


def _without_env(words: list[str]) -> list[str]:
    """*words* past the leading ``VAR=value`` ones."""
    while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
        words = words[1:]
    return words


def parse_command(text: str) -> Command:
    """*text* (``[VAR=value ...] polybot-loghandler preview ...``)."""
    words = shlex.split(text)
    rest = _without_env(words)
    env = dict(word.split("=", 1) for word in words[: len(words) - len(rest)])
    return Command(text, env, _parser().parse_args(rest[1:]))


def config_of(command: Command) -> Config:
    """The routing *command* names, read with its variables alone."""
    return _config(command.args.file, tuple(sorted(command.env.items())))


@functools.cache
def _config(file: str, env: tuple[tuple[str, str], ...]) -> Config:
    # no spool: the preview sends nothing
    return load_config(
        REPO / file, environ={"POLYBOT_SPOOL": "off", **dict(env)}
    )


def messages_of(command: Command) -> tuple[list[RoutedMessage], set[str]]:
    """
    What *command* would send, logged at :data:`EVENT_TIME`; its cuts.

    As ``preview`` makes them, in an environment holding only the
    command's variables (and no spool).
    """
    args = command.args
    config = config_of(command)
    events = [
        dataclasses.replace(_event_from_json(text, "--event"), time=EVENT_TIME)
        for text in args.event or ()
    ]
    with cuts_recorded() as cuts:
        if args.sample is not None:
            messages = _sample_messages(config, args.sample, events)
        else:
            messages = _event_messages(config, events)
    return messages, set(cuts)


def _event_messages(
    config: Config, events: list[LogEvent]
) -> list[RoutedMessage]:
    """What ``preview --event`` shows of *events*."""
    pipeline = Pipeline(config)
    out: list[RoutedMessage] = []
    for ev in events:
        out.extend(pipeline.process(ev.to_raw()))
    return out


def _sample_messages(
    config: Config, names: list[str], events: list[LogEvent]
) -> list[RoutedMessage]:
    """What ``preview --sample NAME`` shows, at :data:`EVENT_TIME`."""
    holder = RoutingHolder(config, None, Stats(), Diagnostics())
    out: list[RoutedMessage] = []
    for rule in _sampled(config, names):
        if isinstance(rule, WatchRule):
            samples = watch_samples(config, rule, events, EVENT_TIME)
        else:
            samples = [digest_sample(config, rule, events, EVENT_TIME)]
        for sample in samples:
            out.extend(holder.made(sample.output))
    return out


# -- the pictures' pages, and what they are drawn from ------------------


def pictures(only: str | None = None) -> list[Picture]:
    """
    Every channel's picture, in the routing's order (or *only* that one).

    Raises:
        SystemExit: A channel has no sample, or *only* is not a channel.
    """
    config = _config(ROUTING.name, ())
    keys = [k for k in config.channels if k not in NOTHING_SENT]
    if only is not None:
        if only not in keys:
            raise SystemExit(f"--only {only}: not a channel with a picture")
        keys = [only]
    by_name = commands_by_channel(PAGE.read_text(encoding="utf-8"))
    shared = _shared_inputs()
    out = []
    for key in keys:
        name = config.channels[key].name
        out.append(_picture(key, name, by_name.get(name, []), shared))
    return out


def _shared_inputs() -> list[bytes]:
    """What every picture is drawn from: the routing, and the style."""
    return [
        _text_bytes(ROUTING),
        _text_bytes(STYLE),
        GALLERY_STYLE.encode(),
        str(WIDTH).encode(),
    ]


def _text_bytes(path: Path) -> bytes:
    """A text file's bytes, with the same line ends on every machine."""
    return path.read_bytes().replace(b"\r\n", b"\n")


def _picture(
    key: str, name: str, commands: Sequence[str], shared: list[bytes]
) -> Picture:
    """Channel *key*'s picture, of the first command that sends to it."""
    for text in commands:
        command = parse_command(text)
        messages, cuts = messages_of(command)
        mine = [m for m in messages if m.channel == key]
        if mine:
            page = channel_page(command, mine, cuts)
            inputs = [*shared, text.encode(), fragment(page, key).encode()]
            return Picture(key, name, text, page, digest_of(inputs))
    raise SystemExit(
        f"#{name}: no `polybot-loghandler preview` command in its section "
        f"of {PAGE.relative_to(REPO)} sends it a message; add one (or list "
        "it in NOTHING_SENT)"
    )


def channel_page(
    command: Command, messages: list[RoutedMessage], cuts: set[str]
) -> str:
    """The HTML preview's page of *messages*, with the gallery's style."""
    config = config_of(command)
    transcript = Transcript()
    transcript.add(messages)
    page = page_html(
        transcript.shown(),
        config=config,
        cuts=frozenset(cuts),
        title=f"{Path(config.path).name} · preview",
        webhook_name=WEBHOOK_NAME,
    )
    return page.replace("</style>", f"{GALLERY_STYLE}</style>", 1)


def fragment(page: str, key: str) -> str:
    """The ``section.channel-view`` of channel *key* in *page*."""
    start = page.index(f'<section class="channel-view" id="channel-{key}"')
    end = page.index("</section>", start) + len("</section>")
    return page[start:end]


def digest_of(inputs: Sequence[bytes]) -> str:
    """The sha256 of *inputs*, each told apart from the next."""
    whole = hashlib.sha256()
    for part in inputs:
        whole.update(hashlib.sha256(part).digest())
    return whole.hexdigest()


# -- the manifest --------------------------------------------------------


def manifest_of(entries: Mapping[str, Any]) -> dict[str, Any]:
    """What ``manifest.json`` holds: each channel's *entries*, and why."""
    return {
        "about": (
            "What each picture of docs/polybot.md is drawn from; "
            f"draw them again with `{REBUILD}`."
        ),
        "channels": dict(entries),
        "nothing_sent": dict(NOTHING_SENT),
    }


def entry_of(picture: Picture) -> dict[str, str]:
    """*picture*'s entry in the manifest."""
    return {
        "command": picture.command,
        "image": picture.file,
        "sha256": picture.digest,
    }


def read_manifest() -> dict[str, Any]:
    """The manifest as last built (empty if there is none)."""
    if not MANIFEST.is_file():
        return {"channels": {}}
    stored: dict[str, Any] = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return stored


def write_manifest(manifest: Mapping[str, Any]) -> None:
    """Write *manifest*, the same bytes on every machine."""
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    MANIFEST.write_text(text, encoding="utf-8")


def problems(current: Sequence[Picture]) -> list[str]:
    """What is out of date in the gallery, one line each (none: ok)."""
    stored = read_manifest()["channels"]
    keys = [p.key for p in current]
    stale = [
        f"#{p.name}"
        for p in current
        if stored.get(p.key, {}).get("sha256") != p.digest
    ]
    out = []
    if stale:
        which = "all" if len(stale) == len(current) else ", ".join(stale)
        out.append(
            f"out of date: {which} (the routing, a sample command in "
            "docs/polybot.md or the way a message is drawn changed)"
        )
    out.extend(
        f"{key}: in manifest.json, but not a channel with a picture"
        for key in stored
        if key not in keys
    )
    out.extend(
        f"#{p.name}: no picture docs/gallery/{p.file}"
        for p in current
        if not (GALLERY / p.file).is_file()
    )
    out.extend(
        f"docs/gallery/{path.name}: no channel {path.stem} has a picture"
        for path in sorted(GALLERY.glob("*.png"))
        if path.stem not in keys
    )
    return out


def _remove_left_over(shown: Sequence[Picture]) -> None:
    """Remove the pictures of channels that are gone."""
    files = {p.file for p in shown}
    for path in GALLERY.glob("*.png"):
        if path.name not in files:
            path.unlink()
            print(f"removed {path.relative_to(REPO)}", file=sys.stderr)


# -- the pictures --------------------------------------------------------


def draw(shown: Sequence[Picture]) -> None:
    """Photograph each page of *shown* into ``docs/gallery``."""
    # imported here: --check and the test need no browser
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
            ],
        )
        try:
            page = browser.new_page(
                viewport={"width": WIDTH, "height": 600},
                device_scale_factor=1,
            )
            for picture in shown:
                page.set_content(picture.page, wait_until="load")
                view = page.locator("section.channel-view")
                view.screenshot(path=GALLERY / picture.file)
                shrink(GALLERY / picture.file)
        finally:
            browser.close()


def shrink(path: Path) -> None:
    """Pack *path* smaller, every pixel kept."""
    from PIL import Image  # noqa: PLC0415 - idem

    with Image.open(path) as image:
        image.load()
    image.save(path, optimize=True)


# -- the command line ----------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Build the gallery, or check it; the exit status."""
    parser = argparse.ArgumentParser(
        description="Draw docs/polybot.md's picture of each channel."
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="only say which pictures are out of date (exit 1 if any)",
    )
    parser.add_argument(
        "--only", metavar="KEY", help="draw channel KEY's picture alone"
    )
    args = parser.parse_args(argv)
    if args.check and args.only:
        parser.error("--check checks every picture: leave out --only")
    started = time.monotonic()
    shown = pictures(args.only)
    if args.check:
        found = problems(shown)
        for line in found:
            print(line, file=sys.stderr)
        if found:
            print(f"rebuild them: {REBUILD}", file=sys.stderr)
        return 1 if found else 0
    draw(shown)
    entries = {p.key: entry_of(p) for p in shown}
    if args.only:  # the others stay as they were, in the routing's order
        stored = read_manifest()["channels"]
        entries = {k: entries.get(k, v) for k, v in stored.items()}
        entries.update({p.key: entry_of(p) for p in shown})
    else:
        _remove_left_over(shown)
    write_manifest(manifest_of(entries))
    print(
        f"drew {len(shown)} picture{'s' if len(shown) != 1 else ''} in "
        "docs/gallery in "
        f"{time.monotonic() - started:.1f}s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
