"""
The browser the preview page's tests look through: the machine's Chromium.

Playwright drives it. Its Python package brings its own driver, and is
never let download a browser: ``executable_path`` is Debian's
``chromium`` (or ``$POLYBOT_CHROMIUM``). Without Playwright or a
Chromium that starts, the tests skip and say why; with
``POLYBOT_BROWSER_TESTS=required`` (CI sets it once it has installed the
browser) they fail instead, so a green run cannot hide a missing browser.

Each pytest-xdist worker starts its own browser (a session fixture is
per process); each test gets a fresh context (:class:`Viewer`), which
opens a page from a file, lets nothing else load, and pins the fonts.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import (
        Browser,
        ConsoleMessage,
        Page,
        Request,
        Route,
    )

#: The flags the browser runs with.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
)
#: Those Playwright passes itself (``headless=True``,
#: ``chromium_sandbox=False``, and its own defaults), so they are not
#: passed twice.
PLAYWRIGHT_PASSES = frozenset(
    {"--headless", "--no-sandbox", "--disable-background-networking"}
)
#: The browsers looked for on ``PATH``, in order.
CHROMIUM_NAMES = ("chromium", "chromium-browser")
#: How a screenshot is taken: a fixed window, one pixel per CSS pixel.
VIEWPORT = {"width": 1000, "height": 800}

#: The fonts every page is drawn with, whatever else the machine has
#: (Debian's fonts-dejavu-core and fonts-noto-color-emoji), so that the
#: pixels of a screenshot do not depend on it.
FIXED_FONTS = """
*, *::before, *::after {
  font-family: "DejaVu Sans", "Noto Color Emoji" !important;
}
code, code *, pre, pre * {
  font-family: "DejaVu Sans Mono", "Noto Color Emoji" !important;
}
"""

_NO_PLAYWRIGHT = (
    "no Playwright: install the dev extra (pip install -e '.[dev]'); it "
    "brings its own driver, and the browser is the machine's Chromium"
)
_NO_CHROMIUM = (
    "no Chromium: install Debian's chromium (apt-get install chromium "
    "fonts-noto-color-emoji fonts-dejavu-core) or set POLYBOT_CHROMIUM "
    "to a Chromium executable"
)


def unavailable(reason: str) -> NoReturn:
    """
    Skip, saying why; fail instead when the browser tests are required.
    """
    if os.environ.get("POLYBOT_BROWSER_TESTS") == "required":
        pytest.fail(
            f"POLYBOT_BROWSER_TESTS=required, but {reason}", pytrace=False
        )
    pytest.skip(reason)


def chromium_executable() -> str | None:
    """``$POLYBOT_CHROMIUM`` if set, else the first Chromium on PATH."""
    chosen = os.environ.get("POLYBOT_CHROMIUM")
    if chosen:
        return chosen
    found = (shutil.which(name) for name in CHROMIUM_NAMES)
    return next((path for path in found if path), None)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """One headless Chromium for this process (an xdist worker's own)."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        missing = True
    else:
        missing = False
    if missing:  # (outside the except, so no chained error is shown)
        unavailable(_NO_PLAYWRIGHT)
    executable = chromium_executable()
    if executable is None:
        unavailable(_NO_CHROMIUM)
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            chromium_sandbox=False,
            args=[f for f in CHROMIUM_FLAGS if f not in PLAYWRIGHT_PASSES],
        )
    except Error as exc:
        failed = str(exc).strip().splitlines()[0]
    else:
        failed = ""
    if failed:
        playwright.stop()
        unavailable(f"{executable} did not start: {failed}; {_NO_CHROMIUM}")
    try:
        yield browser
    finally:
        browser.close()
        playwright.stop()


class Viewer:
    """
    Pages opened from files, as a reader's browser shows them.

    Nothing but the files opened may load: any other request is refused
    and recorded, since the page must be self-contained (no fonts,
    scripts or images fetched). Requests its own Content-Security-Policy
    stops are recorded too (the browser announces them first).
    """

    def __init__(self, browser: Browser) -> None:
        self._context = browser.new_context(
            viewport={
                "width": VIEWPORT["width"],
                "height": VIEWPORT["height"],
            },
            device_scale_factor=1,
            color_scheme="dark",
            locale="en-US",
            timezone_id="UTC",
            reduced_motion="reduce",
        )
        # the page is static: what is not there at once never comes
        self._context.set_default_timeout(5_000)
        self._files: set[str] = set()
        #: What was asked for besides the files: it must stay empty.
        self.fetched: list[str] = []
        #: The console's errors and uncaught script errors.
        self.errors: list[str] = []
        #: Whether :meth:`check` failed (the test has said so already).
        self.failed = False
        self._context.route("**/*", self._route)
        self._context.on("request", self._request)

    def open(self, path: Path) -> Page:
        """*path* loaded, in the fixed fonts; checked self-contained."""
        page = self._context.new_page()
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        uri = path.as_uri()
        self._files.add(uri)
        page.goto(uri, wait_until="load")
        page.add_style_tag(content=FIXED_FONTS)
        page.evaluate("document.fonts.ready.then(() => true)")
        self.check()
        return page

    def check(self) -> None:
        """Fail if a page fetched anything or reported an error."""
        self.failed = bool(self.fetched or self.errors)
        assert [] == self.fetched, (
            "the page asked for more than its own file; it must be "
            f"self-contained (no fonts, scripts or images): {self.fetched}"
        )
        assert [] == self.errors, f"the browser reported: {self.errors}"

    def close(self) -> None:
        self._context.close()

    def _route(self, route: Route, request: Request) -> None:
        if request.url in self._files:
            route.continue_()
        else:
            route.abort()

    def _request(self, request: Request) -> None:
        if request.url not in self._files:
            self.fetched.append(request.url)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)


@pytest.fixture
def viewer(chromium: Browser) -> Iterator[Viewer]:
    """A fresh browser context; checked again once the test is done."""
    shown = Viewer(chromium)
    try:
        yield shown
        if not shown.failed:  # anything after the page had loaded
            shown.check()
    finally:
        shown.close()
