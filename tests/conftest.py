"""
Shared fixtures: isolated logging, a routing-file factory, a check that
no worker thread outlives a test, and a database of the machine's Redis.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from polybot_loghandler import _pipeline, _registry
from tests.support.redisserver import RedisUnavailableError, shared_database

REPO = Path(__file__).resolve().parent.parent
SHIPPED_ROUTING = REPO / "routing.yaml"

MINIMAL_ROUTING = """\
version: 1
channels:
  trades_executed: ""
  trades_paper: ""
  trades_live: ""
  alerts: ""
routes:
  - name: trades
    match: {event: trade_executed}
    to:
      - trades_executed
      - "{{ 'trades_paper' if is_paper else 'trades_live' }}"
    coalesce: false
    embed:
      title: Trade Executed
      fields:
        - {name: Agent, value: "{{ agent }}"}
        - {name: Amount, value: "{{ amount | money }}"}
        - {name: Price, value: "{{ price | price }}"}
  - name: warnings
    match: {level: warning}
    to: alerts
"""


@pytest.fixture(autouse=True)
def _own_spool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """
    The shipped routing's spool goes to the test's own directory, and
    its relay is off whatever the environment says (a test that wants it
    sets ``POLYBOT_REDIS_URL`` itself).
    """
    monkeypatch.setenv("POLYBOT_SPOOL", str(tmp_path / "spool"))
    monkeypatch.delenv("POLYBOT_REDIS_URL", raising=False)


@pytest.fixture(autouse=True)
def _isolated_logging() -> Iterator[None]:
    """
    Restore the root logger, close every pipeline and put the watches'
    clock back after each test (``capture().advance()`` moves it on for
    the process, and events captured later carry the advanced time).
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    _registry.reset_pipelines()
    _pipeline.CAPTURES.offset = 0.0
    workers = [
        t
        for t in threading.enumerate()
        if t.name == "polybot_loghandler.worker" and t.is_alive()
    ]
    assert not workers, "a worker thread outlived its test"


@pytest.fixture
def make_routing(tmp_path: Path) -> Callable[[str], Path]:
    """Write routing YAML to a fresh file and return its path."""
    counter = iter(range(1_000_000))

    def make(text: str = MINIMAL_ROUTING) -> Path:
        path = tmp_path / f"routing-{next(counter)}.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return make


@pytest.fixture
def logger_with(
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., logging.Logger]]:
    """A fresh, non-propagating DEBUG logger wearing *handler*."""
    made: list[tuple[logging.Logger, logging.Handler]] = []

    def attach(
        handler: logging.Handler, name: str | None = None
    ) -> logging.Logger:
        log = logging.getLogger(name or f"test.{request.node.name}")
        log.setLevel(logging.DEBUG)
        log.propagate = False
        log.addHandler(handler)
        made.append((log, handler))
        return log

    yield attach
    for log, handler in made:
        log.removeHandler(handler)
        log.propagate = True
        log.setLevel(logging.NOTSET)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """
    ``redis://127.0.0.1:6379/N``: a database of the machine's Redis.

    Database N (1 to 15) is this test's alone, leased so that parallel
    runs never share one, and empty before and after (FLUSHDB). Without
    a Redis the test fails, saying how to start one: it is never
    skipped.
    """
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(shared_database())
        except RedisUnavailableError as exc:
            pytest.fail(str(exc), pytrace=False)
        yield url
