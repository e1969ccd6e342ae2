"""
What the benchmark scripts share: where the repository is, and the
facts about the machine and the run that head every report.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"


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
