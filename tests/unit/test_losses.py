"""
The reasons an event may be lost: one fixed set, documented as it is.
"""

from __future__ import annotations

import re
from pathlib import Path

from polybot_loghandler._losses import Loss

DELIVERY_DOCS = Path(__file__).parents[2] / "docs" / "delivery.md"


def test_the_docs_list_every_reason_and_no_other() -> None:
    """docs/delivery.md's ``dropped.REASON`` row is the set of Loss."""
    row = next(
        line
        for line in DELIVERY_DOCS.read_text(encoding="utf-8").splitlines()
        if line.startswith("| `dropped.REASON` |")
    )
    documented = re.findall(r"`([a-z_]+)`", row.split("|")[2])

    assert sorted(loss.value for loss in Loss) == sorted(documented)


def test_a_reason_reads_as_its_counter() -> None:
    """The counter name is ``dropped.`` and the reason, shown plainly."""
    assert "dropped.queue_full" == Loss.QUEUE_FULL.counter
    assert "queue_full" == f"{Loss.QUEUE_FULL}"
