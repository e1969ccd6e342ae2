"""
What the benchmark scripts share: where the repository is, the facts
about the machine and the run that head every report, and how a script
runs one of its scenarios in a process of its own.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
#: What a scenario's process prints before its result's JSON.
RESULT = "BENCH-RESULT "
#: The fields of the trade the benchmarks log.
TRADE: dict[str, Any] = {
    "agent": "Momentum_BTC_v1",
    "market": "BTC-USD-UP-15m",
    "side": "YES",
    "amount": 20.0,
    "price": 0.5423,
    "fees": 0.4,
    "is_paper": True,
}


def make_logger(name: str, handler: logging.Handler) -> logging.Logger:
    """A DEBUG logger ``bench.NAME`` wearing *handler* alone."""
    log = logging.getLogger(f"bench.{name}")
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG)
    log.propagate = False
    return log


def version(name: str) -> str:
    """An installed distribution's version, or ``not installed``."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_lines(run: str, total: float, packages: list[str]) -> list[str]:
    """The run, the machine, Python and *packages*, one bullet each."""
    return [
        f"- run: {run}, {total:.0f} s wall in all",
        f"- CPUs: {os.cpu_count()}; {platform.platform()}",
        (
            f"- Python {platform.python_version()} "
            f"({platform.python_implementation()})"
        ),
        "- " + ", ".join(f"{p} {version(p)}" for p in packages),
    ]


def run_in_child(  # noqa: PLR0913 - and the scenario's arguments
    script: str,
    name: str,
    *,
    quick: bool,
    timeout: float,
    env: Mapping[str, str],
    args: Sequence[str] = (),
) -> dict[str, Any]:
    """
    Run *script* ``--scenario NAME`` in a process; its result, or why not.

    *args* go on its command line after the scenario's name.

    The child prints :data:`RESULT` and the result's JSON on a line of
    its own; the wall time and the end of its stderr are added. A child
    that times out or prints no result gives ``{"error": ...}``.
    """
    started = time.monotonic()
    try:
        done = subprocess.run(
            [
                sys.executable,
                script,
                "--scenario",
                name,
                *(["--quick"] if quick else []),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(env),
            cwd=REPO,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr or b""
        tail = err.decode(errors="replace") if isinstance(err, bytes) else err
        return {
            "scenario": name,
            "error": f"timed out after {timeout:g}s",
            "stderr": tail[-2000:],
        }
    wall = time.monotonic() - started
    for line in done.stdout.splitlines():
        if line.startswith(RESULT):
            result: dict[str, Any] = json.loads(line[len(RESULT) :])
            result["wall_s"] = wall
            result["stderr"] = done.stderr[-2000:]
            return result
    return {
        "scenario": name,
        "error": f"exit status {done.returncode}, no result",
        "stderr": done.stderr[-2000:],
    }


# -- #15: what a fold summary says --------------------------------------------
# PROVISIONAL, TO ADAPT once folding (#15) lands: the one place that reads a
# summary embed, used by bench/overload.py and
# tests/integration/test_freshness.py alike.

#: A summary's footer: ``folded: 1234 · route trades``.
_FOLDED = re.compile(r"folded: (\d+) · route ")


def fold_summary(embed: Mapping[str, Any]) -> tuple[int, float | None] | None:
    """
    What a fold's summary stands for; ``None`` for any other embed.

    Its footer says how many events it folded; its ``timestamp`` is when
    the newest of them was logged (epoch seconds here; ``None`` if it
    has none).

    Returns:
        ``(events folded, newest covered event's time)``, or ``None``.
    """
    footer = embed.get("footer")
    text = str(footer.get("text") or "") if isinstance(footer, Mapping) else ""
    found = _FOLDED.match(text)
    if found is None:
        return None
    stamp = embed.get("timestamp")
    newest = None
    if isinstance(stamp, str) and stamp:
        newest = datetime.fromisoformat(
            stamp.replace("Z", "+00:00")
        ).timestamp()
    return int(found[1]), newest
