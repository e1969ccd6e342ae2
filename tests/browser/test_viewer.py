"""
The browser the page tests look through: how it runs, what it lets load.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import CHROMIUM_FLAGS, Viewer

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.slow


def test_runs_with_the_flags(chromium: Browser) -> None:
    """Headless, no sandbox, no GPU, no background networking."""
    page = chromium.new_page()
    try:
        page.goto("chrome://version")
        command_line = page.locator("#command_line").inner_text().split()
    finally:
        page.close()

    assert [] == [flag for flag in CHROMIUM_FLAGS if flag not in command_line]


#: The real page's policy: no script, nothing fetched, its own style.
POLICY = (
    '<meta http-equiv="Content-Security-Policy" content="default-src '
    "'none'; style-src 'unsafe-inline'\">"
)


@pytest.mark.parametrize(
    ("html", "says"),
    [
        pytest.param(
            '<img src="https://example.com/a.png">',
            "self-contained",
            id="image",
        ),
        pytest.param(
            '<link rel="stylesheet" href="https://fonts.example/a.css">',
            "self-contained",
            id="font-stylesheet",
        ),
        pytest.param(
            "<style>body { background: url(b.png) }</style>",
            "self-contained",
            id="css-url",
        ),
        pytest.param(
            f'{POLICY}<script src="a.js"></script>',
            "self-contained",
            id="script-the-policy-stops",
        ),
        pytest.param(
            f"{POLICY}<script>document.title = 'x'</script>",
            "the browser reported",
            id="inline-script",
        ),
    ],
)
def test_a_page_that_fetches_or_errs_fails(
    chromium: Browser, tmp_path: Path, html: str, says: str
) -> None:
    """A page asking for more than its file, or erring, fails its test."""
    path = tmp_path / "page.html"
    path.write_text(f"<!DOCTYPE html><title>t</title>{html}")
    viewer = Viewer(chromium)
    try:
        with pytest.raises(AssertionError, match=says):
            viewer.open(path)
    finally:
        viewer.close()
