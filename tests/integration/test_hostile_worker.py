"""
No event, value or fault may stop the worker, and none goes uncounted.

Against the loopback fake: values whose ``str()``/``repr()`` raise, are
huge or slow; a loop that fails; events after shutdown; a flood at exit;
a fork while a lock is held; a handler whose routing failed to load.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from fakes.discord import FakeDiscord
from polybot_loghandler import (
    Config,
    DiscordHandler,
    DiscordProcessor,
    _diagnostics,
    _pipeline,
    _registry,
    _values,
    load_config,
)
from polybot_loghandler._batching import coalesce_key
from polybot_loghandler._delivery import Engine, intake
from polybot_loghandler._delivery.filing import Filer
from polybot_loghandler._spool.store import Spool
from polybot_loghandler._worker import _reset_all_after_fork
from tests.conftest import SHIPPED_ROUTING
from tests.support.connect import Connect
from tests.support.helpers import (
    routing_yaml,
    run_forked,
    script_environment,
)
from tests.support.hostile import Unprintable

WAIT = 10.0  # seconds: a bound on waits for real threads, never reached
SCRIPTS = Path(__file__).parent / "scripts"
FLOOD = 5_000

pytestmark = pytest.mark.usefixtures("clean_environment")


class Gated:
    """A value whose ``str()`` waits for the test: a slow database call."""

    gate = threading.Event()
    calls = 0

    def __str__(self) -> str:
        Gated.calls += 1
        Gated.gate.wait(WAIT)
        return "loaded"

    __repr__ = __str__


@pytest.fixture(autouse=True)
def _fresh_values() -> Iterator[None]:
    """No slow type carries over from another test."""
    _values.forget_slow_types()
    Gated.gate = threading.Event()
    Gated.calls = 0
    yield
    Gated.gate.set()
    _values.forget_slow_types()


def _wait_for(check: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Poll *check* until true or *timeout* (a bound, never a measure)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)  # bounded poll of another thread's progress
    return check()


def _flushed(handler: DiscordHandler) -> bool:
    """Flush *handler*'s pipeline; whether it finished in time."""
    pipeline = handler._pipeline
    assert pipeline is not None
    return pipeline.flush(WAIT)


def _run_script(
    name: str, routing: str, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run ``scripts/<name> ROUTING`` without routing from the environment."""
    env = script_environment()
    return subprocess.run(  # noqa: PLW1510 - the caller checks the code
        [sys.executable, str(SCRIPTS / name), routing],
        capture_output=True,
        text=True,
        timeout=60,  # a bound on a hang; the script needs a few seconds
        cwd=cwd,
        env=env,
    )


def _times(footer: str) -> int:
    """The events an embed stands for: its ``×N``, else one."""
    found = re.search(r"×(\d+)", footer)
    return int(found[1]) if found else 1


def _titles(fake: FakeDiscord, webhook: str | None = None) -> list[str]:
    return [e.get("title", "") for e in fake.embeds(webhook)]


def _two_channels(fake: FakeDiscord, **delivery: str) -> str:
    """Routing with two webhooks, coalesced by ``key``, with filters."""
    return routing_yaml(
        {
            "a": fake.webhook_url("4101", "tok-a"),
            "b": fake.webhook_url("4102", "tok-b"),
        },
        """\
        - name: to_b
          match: {event: other}
          to: b
        - name: to_a
          match: {level: error}
          to: a
          coalesce: {by: [key]}
          embed:
            title: "{{ event }}"
            description: "{{ key }} {{ key | humanize }} {{ key | pairs }}"
            fields: auto
        """,
        console="'off'",
        **delivery,
    )


HOSTILE = [
    pytest.param(10**5000, id="huge-int"),
    pytest.param(Unprintable(), id="raising-repr"),
    pytest.param({"inner": Unprintable()}, id="raising-inside"),
    pytest.param([10**5000, Unprintable()], id="list-of-both"),
]


class TestHostileValues:
    """A value that cannot become text costs nothing but its own text."""

    @pytest.mark.parametrize("value", HOSTILE)
    def test_worker_goes_on(
        self, fake_discord: FakeDiscord, connect: Connect, value: Any
    ) -> None:
        """Used as coalesce key, field and filter input: later events go."""
        handler, log = connect(_two_channels(fake_discord))
        log.error("hostile", extra={"key": value})
        log.error("after", extra={"key": "plain"})

        assert _flushed(handler)
        assert _wait_for(lambda: "after" in _titles(fake_discord, "4101"))
        stats = handler.stats()

        assert ["hostile", "after"] == _titles(fake_discord, "4101")
        assert 0 == stats.get("dropped.queue_full", 0)
        assert 2 == stats["delivered"]

    def test_a_coalescing_key_that_cannot_be_shown_is_counted(
        self, fake_discord: FakeDiscord, connect: Connect
    ) -> None:
        """Only the lane turns it into text: that is counted there too."""
        handler, log = connect(
            routing_yaml(
                {"a": fake_discord.webhook_url("4101", "tok-a")},
                """\
                - name: to_a
                  match: {level: error}
                  to: a
                  coalesce: {by: [key]}
                  embed: {title: "{{ event }}"}
                """,
                console="'off'",
            )
        )
        log.error("hostile", extra={"key": Unprintable()})

        assert _flushed(handler)
        stats = handler.stats()

        assert 1 == stats["delivered"]
        assert 1 <= stats.get("errors.unprintable", 0)

    def test_a_failing_event_is_dropped_alone(
        self,
        fake_discord: FakeDiscord,
        connect: Connect,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """An event the engine cannot file is counted; the next one goes."""
        original = Filer.file

        def file(self: Filer, message: Any, **kwargs: Any) -> Any:
            if message.event.event == "broken":
                raise RuntimeError("cannot file this one")
            return original(self, message, **kwargs)

        monkeypatch.setattr(Filer, "file", file)
        handler, log = connect(_two_channels(fake_discord))
        log.error("broken", extra={"key": 1})
        log.error("after", extra={"key": 2})

        assert _flushed(handler)
        assert _wait_for(lambda: "after" in _titles(fake_discord))

        assert ["after"] == _titles(fake_discord)
        assert 1 == handler.stats()["dropped.unrenderable"]


def _shipped_events() -> list[str]:
    """The event names the shipped routing's routes match on."""
    routes = yaml.safe_load(SHIPPED_ROUTING.read_text(encoding="utf-8"))
    names: set[str] = set()
    for route in routes["routes"]:
        wanted = (route.get("match") or {}).get("event")
        names.update([wanted] if isinstance(wanted, str) else wanted or [])
    return sorted(names)


SHIPPED_EVENTS = _shipped_events()
_SHIPPED_TEXT = SHIPPED_ROUTING.read_text(encoding="utf-8")
#: The fields the shipped routing names: in templates and in ``by:``.
SHIPPED_FIELDS = sorted(
    set(re.findall(r"\{\{-?\s*([a-z_]+)", _SHIPPED_TEXT))
    | {
        name.strip()
        for names in re.findall(r"by: \[([^\]]+)\]", _SHIPPED_TEXT)
        for name in names.split(",")
    }
)


@pytest.fixture(scope="module")
def shipped_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The shipped routing, loaded once, its spool somewhere unused."""
    spool = tmp_path_factory.mktemp("spool") / "not-yet"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("POLYBOT_SPOOL", str(spool))
        return load_config(SHIPPED_ROUTING)


class TestShippedRouting:
    """Arbitrary values through every shipped route: the worker goes on."""

    @pytest.fixture
    def shipped(self, shipped_config: Config) -> _pipeline.Pipeline:
        """A pipeline of it; no worker runs (no file to watch, no spool)."""
        return _pipeline.Pipeline(shipped_config)

    @pytest.mark.parametrize("value", HOSTILE)
    @pytest.mark.parametrize("event", SHIPPED_EVENTS)
    @pytest.mark.slow
    def test_every_field_hostile(
        self, shipped: _pipeline.Pipeline, event: str, value: Any
    ) -> None:
        """Every field the routing names holds the value: all still go."""
        fields = dict.fromkeys(SHIPPED_FIELDS, value)
        raw = (event, logging.ERROR, "app", time.time(), fields, None, None)

        messages = shipped.process(raw)
        keys = [coalesce_key(m) for m in messages]
        bodies = [json.dumps(m.payload) for m in messages]

        assert messages
        assert len(keys) == len(bodies)
        assert 0 == shipped.stats().get("dropped.unrenderable", 0)


class TestFailedLoop:
    """A delivery loop that fails is started again and says so."""

    def test_restarts_and_delivers(
        self,
        fake_discord: FakeDiscord,
        connect: Connect,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """The loop's first run fails; the next event is still delivered."""
        original = Engine._serve
        runs: list[int] = []

        async def serve(self: Engine, *args: Any) -> None:
            runs.append(1)
            if len(runs) == 1:
                raise RuntimeError("the loop broke")
            await original(self, *args)

        monkeypatch.setattr(Engine, "_serve", serve)
        handler, log = connect(_two_channels(fake_discord))
        log.error("first", extra={"key": 1})
        assert _wait_for(lambda: len(runs) == 2)
        log.error("second", extra={"key": 2})

        assert _flushed(handler)
        assert _wait_for(lambda: "second" in _titles(fake_discord))

        assert 1 == handler.stats()["errors.worker"]
        assert 0 == handler.stats().get("dropped.queue_full", 0)
        assert "delivery worker" in capsys.readouterr().err

    def test_what_a_failed_take_held_is_counted(
        self,
        fake_discord: FakeDiscord,
        connect: Connect,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """
        The loop fails while filing: the events it had not filed are
        counted, and a flush waiting behind them is let go.
        """

        class Broken(BaseException):
            """Gets past every guard, as a bug in the loop would."""

        original = Engine._file_all
        calls: list[int] = []

        def file_all(self: Engine, messages: Any) -> None:
            calls.append(1)
            if len(calls) == 2:
                raise Broken
            original(self, messages)

        monkeypatch.setattr(Engine, "_file_all", file_all)
        handler, log = connect(_two_channels(fake_discord))
        for n in range(5):
            log.error("event %d", n, extra={"key": n})

        assert _flushed(handler)
        assert _wait_for(lambda: "errors.worker" in handler.stats())
        stats = handler.stats()

        # what the failed run held, filed or not, is counted as lost
        lost = stats.get("dropped.shutdown", 0)
        assert 5 == stats.get("delivered", 0) + lost, stats
        assert 1 == stats["errors.worker"]


class TestSlowValues:
    """A slow ``__str__`` holds no other channel, and stalls only once."""

    @pytest.mark.slow
    def test_other_lanes_send_meanwhile(
        self, fake_discord: FakeDiscord, connect: Connect
    ) -> None:
        """While a value renders, a message already waiting is sent."""
        _, log = connect(_two_channels(fake_discord))
        log.critical("other")  # to b, sent at once
        log.error("slow", extra={"key": "k", "detail": Gated()})
        try:
            arrived = _wait_for(lambda: bool(fake_discord.embeds("4102")))
            assert _wait_for(lambda: Gated.calls == 1)
        finally:
            Gated.gate.set()

        assert arrived, "the slow value held another channel's send"

    def test_a_slow_type_is_shown_by_name_after(
        self,
        fake_discord: FakeDiscord,
        connect: Connect,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """After one slow conversion, the type's values are not converted."""
        now = [0.0]
        monkeypatch.setattr(_values, "_clock", lambda: now[0])
        handler, log = connect(_two_channels(fake_discord))
        log.error("first", extra={"key": 1, "detail": Gated()})
        assert _wait_for(lambda: Gated.calls == 1)
        # slow by the clock the conversions are timed with, while the
        # first one waits at its gate
        now[0] += _values.SLOW_AFTER * 2
        Gated.gate.set()
        log.error("second", extra={"key": 2, "detail": Gated()})

        assert _flushed(handler)
        assert _wait_for(lambda: len(fake_discord.embeds()) == 2)
        second = fake_discord.embeds()[1]

        assert 1 == Gated.calls
        assert {"name": "Detail", "value": "<Gated>", "inline": True} in (
            second["fields"]
        )
        assert 1 <= handler.stats()["errors.slow_value"]

    @pytest.mark.slow
    def test_exit_keeps_its_deadline(
        self, fake_discord: FakeDiscord, tmp_path: Path
    ) -> None:
        """At exit a stuck ``__str__`` is left behind; the rest is told."""
        routing = tmp_path / "routing.yaml"
        routing.write_text(
            routing_yaml(
                {"alerts": fake_discord.webhook_url("4301", "tok-slow")},
                """\
                - name: errors
                  match: {level: error}
                  to: alerts
                  coalesce: false
                """,
                console="'off'",
                flush_timeout="2s",
            ),
            encoding="utf-8",
        )

        result = _run_script("slow_value_at_exit.py", str(routing), tmp_path)

        assert 0 == result.returncode, result.stderr
        assert ["First"] == _titles(fake_discord)
        assert "2 events were not delivered" in result.stderr


class TestAfterShutdown:
    """Events logged after the library's at-exit hook are counted so."""

    def test_counted_as_after_shutdown(
        self,
        fake_discord: FakeDiscord,
        connect: Connect,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Not as queue_full: the queue was never full."""
        handler, log = connect(_two_channels(fake_discord))
        _registry.close_all()

        log.error("late", extra={"key": 1})
        log.error("later", extra={"key": 2})
        stats = handler.stats()

        assert 2 == stats["dropped.after_shutdown"]
        assert 0 == stats.get("dropped.queue_full", 0)
        assert 1 == capsys.readouterr().err.count("after delivery stopped")


class TestFloodAtExit:
    """A flood of one error right before exit leaves as two messages."""

    @pytest.mark.slow
    def test_one_summary(
        self, fake_discord: FakeDiscord, tmp_path: Path
    ) -> None:
        """The first, then one ``×N more`` for all the rest."""
        routing = tmp_path / "routing.yaml"
        routing.write_text(
            routing_yaml(
                {"alerts": fake_discord.webhook_url("4201", "tok-flood")},
                """\
                - name: errors
                  match: {level: error}
                  to: alerts
                  embed:
                    title: "{{ event }}"
                    fields: auto
                """,
                console="'off'",
                flush_timeout="20s",
            ),
            encoding="utf-8",
        )
        env = script_environment()
        result = subprocess.run(  # noqa: PLW1510 - the code is checked
            [
                sys.executable,
                str(SCRIPTS / "flood_and_exit.py"),
                str(routing),
                str(FLOOD),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            env=env,
        )
        footers = [
            e.get("footer", {}).get("text", "") for e in fake_discord.embeds()
        ]
        counts = [_times(footer) for footer in footers]

        assert 0 == result.returncode, result.stderr
        assert len(footers) <= 2, footers
        assert FLOOD == sum(counts)
        assert all(re.match(r"×\d+ more( · since |$)", f) for f in footers[1:])


class TestForkLocks:
    """Every lock the worker side takes is fresh in a forked child."""

    @staticmethod
    def _locks(pipeline: _pipeline.Pipeline) -> dict[str, Any]:
        engine = pipeline._engine
        return {
            "registry": _registry._REGISTRY_LOCK,
            "captures": _pipeline.CAPTURES.lock,
            "reload": pipeline._routing._lock,
            "watching": pipeline._routing.watching._lock,
            "counters": pipeline._stats._lock,
            "worker start": pipeline._worker._start_lock,
            "console": pipeline._console._lock,
            "pipeline warnings": pipeline._diag._lock,
            "engine warnings": engine._diag._lock,
            "spool warnings": engine.spool._diag._lock,  # type: ignore[union-attr]
        }

    @staticmethod
    def _reachable_locks(root: object) -> list[Any]:
        """Every lock held by *root* or the package's modules, found."""
        lock_type = type(threading.Lock())
        rlock_type = type(threading.RLock())
        found: list[Any] = []
        seen: set[int] = set()
        todo: list[Any] = [root]
        todo += [
            module
            for name, module in sys.modules.items()
            if name.startswith("polybot_loghandler")
        ]
        while todo:
            obj = todo.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if isinstance(obj, (lock_type, rlock_type)):
                found.append(obj)
                continue
            if isinstance(obj, threading.Condition):
                found.append(obj)
                continue
            if isinstance(obj, (list, tuple, set, frozenset)):
                todo.extend(obj)
                continue
            if isinstance(obj, dict):
                todo.extend(obj.values())
                continue
            module = getattr(type(obj), "__module__", "") or ""
            if not (
                module.startswith("polybot_loghandler")
                or (
                    type(obj).__name__ == "module"
                    and getattr(obj, "__name__", "").startswith(
                        "polybot_loghandler"
                    )
                )
            ):
                continue
            todo.extend(vars(obj).values() if hasattr(obj, "__dict__") else ())
            for slot in getattr(type(obj), "__slots__", ()):
                if hasattr(obj, slot):
                    todo.append(getattr(obj, slot))
        return found

    @pytest.fixture
    def pipeline(
        self, make_routing: Callable[..., Path], tmp_path: Path
    ) -> _pipeline.Pipeline:
        """A pipeline with a spool whose worker has not started."""
        path = make_routing(
            routing_yaml(
                {"a": ""},
                "- {name: all, to: a}\n",
                spool=str(tmp_path / "not-yet"),
            )
        )
        # from a Config: no file to watch, so no worker runs meanwhile
        pipeline = _registry.get_pipeline(load_config(path))
        assert pipeline._worker._thread is None
        return pipeline

    def test_every_lock_is_listed(self, pipeline: _pipeline.Pipeline) -> None:
        """No lock of the worker side is missing from the table below."""
        listed = {id(lock) for lock in self._locks(pipeline).values()}

        found = self._reachable_locks(pipeline)

        assert [] == [lock for lock in found if id(lock) not in listed]

    @pytest.mark.parametrize(
        "name",
        [
            "registry",
            "captures",
            "reload",
            "watching",
            "counters",
            "worker start",
            "console",
            "pipeline warnings",
            "engine warnings",
            "spool warnings",
        ],
    )
    def test_fresh_after_fork(
        self, name: str, pipeline: _pipeline.Pipeline
    ) -> None:
        """A lock held at the fork is a new, free one in the child."""
        held = self._locks(pipeline)[name]
        held.acquire()
        try:
            # what os.fork runs in the child, in this process
            _reset_all_after_fork()
            _registry._after_fork_in_child()
            _diagnostics._after_fork_in_child()
            fresh = self._locks(pipeline)[name]
            free = fresh.acquire(blocking=False)
            if free:
                fresh.release()
        finally:
            held.release()

        assert free, f"the {name} lock is still held after the fork"

    @pytest.mark.slow
    def test_a_fork_waits_for_a_spool_transaction(
        self, tmp_path: Path
    ) -> None:
        """
        The spool's connection is closed for a fork, never carried over.

        A fork while the worker is inside a transaction waits for it; the
        child opens the spool afresh and writes; the parent's connection
        opens again on its next use, and nothing either wrote is lost.
        """
        directory = tmp_path / "spool"
        parent = Spool(directory)
        parent.open()
        database = parent._db
        assert database is not None
        inside, release = threading.Event(), threading.Event()

        def transaction_in_progress() -> None:
            with database.transaction() as db:
                db.execute(
                    "INSERT INTO legacy VALUES ('parent, in a transaction')"
                )
                inside.set()
                release.wait(WAIT)

        thread = threading.Thread(target=transaction_in_progress)
        thread.start()
        assert inside.wait(WAIT)
        threading.Timer(0.2, release.set).start()

        def child() -> int:
            parent.forget_after_fork()  # as the engine does in a child
            own = Spool(directory)
            own.open()
            own.append("trades", 20, 1.0, {"from": "child"})
            own.commit()
            own.close()
            return 0

        try:
            assert 0 == run_forked(child, WAIT)
        finally:
            release.set()
            thread.join(WAIT)
        entry = parent.append("trades", 20, 2.0, {"from": "parent"})
        parent.commit()

        assert {"from": "parent"} == parent.read(entry)
        with database.transaction() as db:
            names = db.execute("SELECT name FROM legacy").fetchall()
            bodies = db.execute("SELECT body FROM messages").fetchall()
        parent.close()
        assert [("parent, in a transaction",)] == names
        assert {b'{"from":"child"}', b'{"from":"parent"}'} == {
            body for (body,) in bodies
        }

    def test_reload_in_a_child_forked_during_a_reload(
        self, make_routing: Callable[..., Path]
    ) -> None:
        """A child forked while a reload runs can reload (and deliver)."""
        handler = DiscordHandler(make_routing())
        pipeline = handler._pipeline
        assert pipeline is not None
        release = threading.Event()
        holding = threading.Event()

        def reload_in_progress() -> None:
            with pipeline._routing._lock:
                holding.set()
                release.wait(WAIT)

        thread = threading.Thread(target=reload_in_progress)
        thread.start()
        assert holding.wait(WAIT)

        def child() -> int:
            done = threading.Event()

            def reload() -> None:
                handler.reload()
                done.set()

            threading.Thread(target=reload, daemon=True).start()
            return 0 if done.wait(WAIT / 2) else 1

        try:
            status = run_forked(child, WAIT)
        finally:
            release.set()
            thread.join(WAIT)

        assert 0 == status


class TestHalfConstructed:
    """A handler or processor whose routing failed is safe to touch."""

    @pytest.mark.parametrize("cls", [DiscordHandler, DiscordProcessor])
    @pytest.mark.parametrize(
        "use",
        [
            pytest.param(lambda h: h.flush(), id="flush"),
            pytest.param(lambda h: h.stats(), id="stats"),
            pytest.param(repr, id="repr"),
            pytest.param(
                lambda h: h.close() if hasattr(h, "close") else None,
                id="close",
            ),
            pytest.param(
                lambda h: (
                    h.emit(logging.makeLogRecord({}))
                    if hasattr(h, "emit")
                    else h(None, "info", {"event": "x"})
                ),
                id="emit",
            ),
        ],
    )
    def test_safe(
        self,
        cls: type[Any],
        use: Callable[[Any], object],
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Nothing raises and nothing is printed."""
        routing = tmp_path / "routing.yaml"
        routing.write_text("version: 1\nroutes: [{name: x, to: nowhere}]\n")
        obj = object.__new__(cls)
        with pytest.raises(Exception, match=r"routing\.yaml"):
            obj.__init__(routing)

        use(obj)

        assert "" == capsys.readouterr().err

    @pytest.mark.slow
    def test_dict_config_typo_reports_only_the_real_error(
        self, tmp_path: Path
    ) -> None:
        """No bogus AttributeError at exit after a routing mistake."""
        routing = tmp_path / "routing.yaml"
        routing.write_text(
            "version: 1\nchannels: {a: ''}\n"
            "routes: [{name: x, match: {levle: error}, to: a}]\n",
            encoding="utf-8",
        )
        script = (
            "import logging.config, sys\n"
            "logging.config.dictConfig({'version': 1, 'handlers': "
            "{'d': {'class': 'polybot_loghandler.DiscordHandler', "
            "'routing': sys.argv[1]}}, 'root': {'handlers': ['d']}})\n"
        )
        result = subprocess.run(  # noqa: PLW1510 - the code is checked
            [sys.executable, "-c", script, str(routing)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )

        assert 1 == result.returncode
        assert "levle" in result.stderr
        assert "AttributeError" not in result.stderr


class TestRunAhead:
    """The render thread never gets far ahead of the loop that files."""

    def test_rendered_but_not_filed_is_bounded(
        self, make_routing: Callable[..., Path]
    ) -> None:
        """
        With nothing filing (a loop that cannot get the GIL, say), the
        thread stops at RUN_AHEAD events and goes on when let go: a flood
        cannot pile rendered messages up outside the lanes' bound.
        """
        raw = ("e", logging.INFO, "app", 0.0, {}, None, None)
        job = intake.Rendering([raw] * 5_000)
        job.room = room = _CountedEvent()
        thread = threading.Thread(
            target=intake.render_all, args=(job, _no_messages, None)
        )
        thread.start()
        try:
            # it waited for room, woke, found none and waited again (or
            # it ran on, and ended): every chance to pass the bound
            assert _wait_for(lambda: room.waits >= 2 or not thread.is_alive())
            assert intake.RUN_AHEAD == len(job.out)
        finally:
            job.abandoned = True
            thread.join(WAIT)
        assert not thread.is_alive()


class _CountedEvent(threading.Event):
    """An event that counts the waits on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waits = 0

    def wait(self, timeout: float | None = None) -> bool:
        self.waits += 1
        return super().wait(timeout)


def _no_messages(raw: Any) -> list[Any]:
    return []
