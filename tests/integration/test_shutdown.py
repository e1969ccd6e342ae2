"""
Flushing and exiting: what is logged goes out, and nothing hangs.

The exit scenarios run a small script (``scripts/``) in a fresh
interpreter, so at-exit handling is the real thing.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fakes.discord import FakeDiscord
from polybot_loghandler._delivery.intake import Intake
from tests.support.connect import Connect
from tests.support.helpers import routing_yaml, script_environment

SCRIPTS = Path(__file__).parent / "scripts"
WAIT = 10.0  # seconds: a bound on waits for real threads, never reached
#: Seconds a script may run at most, far beyond what any should need.
SCRIPT_TIMEOUT = 60.0
NOT_DELIVERED = re.compile(
    r"polybot_loghandler: ([\d,]+) events were not delivered"
)


def _trades_routing(url: str, **delivery: str) -> str:
    """
    Return routing that sends every trade, uncoalesced, to *url*.
    """
    return routing_yaml(
        {"trades": url},
        """\
        - name: trades
          match: {event: trade_executed}
          to: trades
          coalesce: false
        """,
        **delivery,
    )


def _numbers(embeds: list[dict[str, Any]]) -> list[int]:
    """
    Return the ``n`` field of each embed that has one, in order.
    """
    return [
        int(item["value"])
        for embed in embeds
        for item in embed.get("fields", ())
        if item["name"] == "N"
    ]


def _run_script(
    name: str, *args: str, cwd: Path
) -> tuple[subprocess.CompletedProcess[str], float]:
    """
    Run ``scripts/<name>`` with *args*; return it and when it had exited.
    """
    result = subprocess.run(  # noqa: PLW1510 - the caller checks the code
        [sys.executable, str(SCRIPTS / name), *args],
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
        cwd=cwd,
        env=script_environment(),
    )
    return result, time.monotonic()


# slow: every case waits out a flush or exit deadline on the real clock
pytestmark = [
    pytest.mark.usefixtures("clean_environment"),
    pytest.mark.slow,
]


class TestExit:
    """
    A process that logs and ends delivers what it logged.
    """

    def test_delivers_everything_before_exiting(
        self, fake_discord: FakeDiscord, tmp_path: Path
    ) -> None:
        """40 events logged just before a normal exit all arrive by then."""
        routing = tmp_path / "routing.yaml"
        routing.write_text(
            _trades_routing(
                fake_discord.webhook_url("3101", "tok-tr"),
                flush_timeout="10s",
            ),
            encoding="utf-8",
        )

        started = time.monotonic()
        result, exited = _run_script(
            "log_and_exit.py", str(routing), "40", cwd=tmp_path
        )
        # read at once: what arrives after the exit does not count
        numbers = _numbers(fake_discord.embeds())

        print(
            f"exited after {exited - started:.2f}s with {len(numbers)} "
            f"embeds in {len(fake_discord.messages)} messages"
        )
        assert 0 == result.returncode, result.stderr
        assert list(range(40)) == sorted(numbers)
        assert "not delivered" not in result.stderr
        assert [] == fake_discord.rejected


@dataclass(frozen=True)
class HungRun:
    """
    What ``log_while_hung.py`` measured, and how its process ended.
    """

    result: subprocess.CompletedProcess[str]
    timings: dict[str, float]
    exited: float
    embeds: int
    rejected: list[Any]


HUNG_COUNT = 10_000
HUNG_FLUSH_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def hung_run(tmp_path_factory: pytest.TempPathFactory) -> HungRun:
    """Run the script once against a hung fake, for every test here."""
    folder = tmp_path_factory.mktemp("hung")
    with FakeDiscord() as fake:
        fake.hang()
        routing = folder / "routing.yaml"
        routing.write_text(
            _trades_routing(
                fake.webhook_url("3201", "tok-tr"),
                batch_window="0.2s",
                flush_timeout=f"{HUNG_FLUSH_TIMEOUT}s",
            ),
            encoding="utf-8",
        )
        result, exited = _run_script(
            "log_while_hung.py", str(routing), str(HUNG_COUNT), cwd=folder
        )
        embeds = len(fake.embeds())
        rejected = fake.rejected
        fake.recover()
    lines = result.stdout.strip().splitlines()
    timings = json.loads(lines[-1]) if lines else {}
    print(f"\n{timings}; stderr: {result.stderr.strip()}")
    return HungRun(result, timings, exited, embeds, rejected)


class TestExitWhileDiscordHangs:
    """
    With Discord hung, logging stays cheap and exit stays prompt.
    """

    COUNT = HUNG_COUNT
    FLUSH_TIMEOUT = HUNG_FLUSH_TIMEOUT

    def test_log_calls_cost_at_most_twice_a_queue_handler(
        self, hung_run: HungRun
    ) -> None:
        """10,000 calls take at most twice what QueueHandler takes."""
        timings = hung_run.timings
        assert 0 == hung_run.result.returncode, hung_run.result.stderr
        print(
            f"QueueHandler {timings['queue_handler']:.3f}s, DiscordHandler "
            f"{timings['discord_handler']:.3f}s for {self.COUNT} calls"
        )
        assert timings["discord_handler"] <= 2 * timings["queue_handler"]
        assert [] == hung_run.rejected

    def test_exits_within_the_flush_timeout(self, hung_run: HungRun) -> None:
        """The process ends within flush_timeout + 2 s of its last call."""
        assert 0 == hung_run.result.returncode, hung_run.result.stderr
        took = hung_run.exited - hung_run.timings["last_call"]
        print(f"exited {took:.2f}s after the last log call")
        assert took <= self.FLUSH_TIMEOUT + 2.0
        assert [] == hung_run.rejected

    def test_says_how_many_events_were_not_delivered(
        self, hung_run: HungRun
    ) -> None:
        """Stderr says how many of the events never reached Discord."""
        found = NOT_DELIVERED.findall(hung_run.result.stderr)
        print(f"stderr counts {found}; the fake took {hung_run.embeds}")
        assert 0 == hung_run.embeds
        assert [f"{self.COUNT:,}"] == found
        assert [] == hung_run.rejected


class TestFlush:
    """
    flush() waits for delivery, but never longer than flush_timeout.
    """

    def test_gives_up_after_the_flush_timeout(
        self,
        fake_discord: FakeDiscord,
        connect: Connect,
    ) -> None:
        """With Discord hung, flush() returns after about flush_timeout."""
        flush_timeout = 1.0
        handler, log = connect(
            _trades_routing(
                fake_discord.webhook_url("3301", "tok-tr"),
                batch_window="0.2s",
                flush_timeout=f"{flush_timeout}s",
            )
        )
        fake_discord.hang()
        for n in range(5):
            log.info("trade_executed", extra={"n": n})

        started = time.monotonic()
        handler.flush()
        took = time.monotonic() - started
        fake_discord.recover()
        assert fake_discord.wait_for(lambda f: len(f.embeds()) == 5, WAIT)
        handler.flush()

        print(f"flush() gave up after {took:.3f}s (timeout {flush_timeout}s)")
        assert flush_timeout - 0.05 <= took <= flush_timeout + 1.0
        assert list(range(5)) == sorted(_numbers(fake_discord.embeds()))
        assert 5 == handler.stats().get("delivered")
        assert [] == fake_discord.rejected


class TestCloseOutOfTime:
    """What the delivery loop holds when a close runs out of time."""

    def test_what_the_loop_took_and_did_not_file_is_told(
        self,
        fake_discord: FakeDiscord,
        connect: Connect,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """
        The loop takes the events, then is held past the deadline (as a
        loaded machine holds it, or a render stuck on a value): the close
        does not wait for it to count them, and says they are lost.
        """
        taken, release = threading.Event(), threading.Event()
        take_in = Intake.take_in

        async def held(self: Intake, *args: Any) -> None:
            taken.set()
            release.wait(WAIT)  # the loop's own thread, held on purpose
            await take_in(self, *args)

        monkeypatch.setattr(Intake, "take_in", held)
        handler, log = connect(
            _trades_routing(
                fake_discord.webhook_url("3311", "tok-held"),
                flush_timeout="0.5s",
            )
        )
        log.info("trade_executed", extra={"n": 1})
        log.info("trade_executed", extra={"n": 2})
        assert taken.wait(WAIT)

        pipeline = handler._pipeline  # what the exit closes
        assert pipeline is not None
        pipeline.close()
        release.set()

        found = NOT_DELIVERED.search(capsys.readouterr().err)
        assert found is not None
        assert found.group(1) == "2"
