"""
Golden files: compare rendered messages with checked-in JSON.

A golden file holds what a test expects, pretty-printed, so a change in
rendering shows up as a readable unified diff of the JSON text::

    assert_golden("trades_executed", {"messages": [...]})

Set ``POLYBOT_UPDATE_GOLDEN=1`` to (re)write the files from what the code
renders now; then read the diff (``git diff tests/golden``) before
committing it, since an update accepts whatever the code does.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

import pytest

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "golden"
UPDATE_ENV = "POLYBOT_UPDATE_GOLDEN"


def updating() -> bool:
    """Tell whether this run rewrites golden files instead of checking."""
    return os.environ.get(UPDATE_ENV, "").strip().lower() in {
        "1",
        "true",
        "yes",
    }


def dumps(value: Any) -> str:
    """
    Pretty-print *value* as the stable JSON text golden files hold.

    Keys are sorted (lists keep their order), emoji and other non-ASCII
    text stay readable, and the text ends with a newline.
    """
    return (
        json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    )


def golden_path(name: str) -> Path:
    """Return the path of the golden file *name* (without ``.json``)."""
    return GOLDEN_DIR / f"{name}.json"


def assert_golden(name: str, actual: Any) -> None:
    """
    Compare *actual* with ``tests/golden/<name>.json``.

    In update mode (``POLYBOT_UPDATE_GOLDEN=1``) write the file instead.
    A mismatch fails the test with a unified diff, expected (the file)
    against actual (this run), so it reads the same with or without
    ``-vv``.
    """
    path = golden_path(name)
    text = dumps(actual)
    if updating():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(
            f"no golden file {path}; create it with {UPDATE_ENV}=1 and "
            "review it before committing",
            pytrace=False,
        )
    expected = path.read_text(encoding="utf-8")
    if expected == text:
        return
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            text.splitlines(keepends=True),
            fromfile=f"{path.name} (expected)",
            tofile=f"{path.name} (actual)",
        )
    )
    pytest.fail(
        f"rendering differs from {path}:\n{diff}\n"
        f"If the change is intended, rerun with {UPDATE_ENV}=1 and review "
        "the diff of tests/golden.",
        pytrace=False,
    )
