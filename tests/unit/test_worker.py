"""
Tests for the background worker: a bounded queue in, a callback out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from polybot_loghandler._losses import Loss
from polybot_loghandler._worker import MAX_RESTARTS, Stop, Worker

THREAD_NAME = "polybot_loghandler.worker"
WAIT = 5.0  # seconds: a bound on waits for real threads, never reached


class Recorder:
    """
    A handle callback that records batches and can be held at a gate.
    """

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.errors: list[BaseException] = []
        self.threads: set[str] = set()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.fail_on: object | None = None

    @property
    def items(self) -> list[Any]:
        """Every item handled, in order."""
        return [item for batch in self.batches for item in batch]

    def hold(self) -> None:
        """Make the next batch wait until release is set."""
        self.entered.clear()
        self.release.clear()

    def handle(self, batch: list[Any]) -> None:
        """Record *batch*, in the worker thread."""
        self.threads.add(threading.current_thread().name)
        self.entered.set()
        self.release.wait(WAIT)
        self.batches.append(list(batch))
        if self.fail_on is not None and self.fail_on in batch:
            raise RuntimeError(f"cannot handle {self.fail_on!r}")

    def on_error(self, exc: BaseException) -> None:
        """Record what handle let escape."""
        self.errors.append(exc)


@pytest.fixture
def recorder() -> Recorder:
    """A fresh recorder."""
    return Recorder()


@pytest.fixture
def make_worker(
    recorder: Recorder,
) -> Iterator[Callable[..., Worker]]:
    """Build workers feeding *recorder*; release and stop them after."""
    made: list[Worker] = []

    def make(maxsize: int = 100) -> Worker:
        worker = Worker(recorder.handle, recorder.on_error, maxsize)
        made.append(worker)
        return worker

    yield make
    recorder.release.set()
    for worker in made:
        worker.close(WAIT)
    for thread in threading.enumerate():
        if thread.name == THREAD_NAME:
            thread.join(WAIT)


def _worker_threads() -> list[threading.Thread]:
    """The live worker threads."""
    return [
        t
        for t in threading.enumerate()
        if t.name == THREAD_NAME and t.is_alive()
    ]


class TestSubmit:
    """
    submit queues without blocking and starts the thread lazily.
    """

    def test_no_thread_before_first_submit(self, make_worker) -> None:
        """Building a worker starts nothing."""
        make_worker()

        assert [] == _worker_threads()

    def test_first_submit_starts_a_named_daemon_thread(
        self, make_worker, recorder: Recorder
    ) -> None:
        """The thread is a daemon named polybot_loghandler.worker."""
        worker = make_worker()

        assert worker.submit("a")
        assert worker.flush(WAIT)

        threads = _worker_threads()
        assert [True] == [t.daemon for t in threads]
        assert {THREAD_NAME} == recorder.threads

    def test_order_is_preserved(self, make_worker, recorder: Recorder) -> None:
        """Items reach handle in the order they were submitted."""
        worker = make_worker(maxsize=10_000)

        accepted = [worker.submit(n) for n in range(5000)]
        assert worker.flush(WAIT)

        assert all(accepted)
        assert list(range(5000)) == recorder.items
        assert 5000 == worker.handled

    def test_order_is_preserved_across_threads(
        self, make_worker, recorder: Recorder
    ) -> None:
        """Each submitting thread's items stay in that thread's order."""
        worker = make_worker(maxsize=10_000)

        def produce(name: str) -> None:
            for n in range(500):
                worker.submit((name, n))

        producers = [
            threading.Thread(target=produce, args=(name,)) for name in "abcd"
        ]
        for thread in producers:
            thread.start()
        for thread in producers:
            thread.join(WAIT)
        assert worker.flush(WAIT)

        for name in "abcd":
            mine = [n for who, n in recorder.items if who == name]
            assert list(range(500)) == mine

    def test_full_queue_refuses_without_blocking(
        self, make_worker, recorder: Recorder
    ) -> None:
        """Beyond maxsize, submit returns False at once."""
        worker = make_worker(maxsize=2)
        recorder.hold()
        worker.submit("held")
        assert recorder.entered.wait(WAIT)

        started = time.monotonic()
        accepted = [worker.submit(n) for n in range(5)]
        elapsed = time.monotonic() - started

        assert [True, True, False, False, False] == accepted
        assert elapsed < 1.0
        recorder.release.set()
        assert worker.flush(WAIT)
        assert ["held", 0, 1] == recorder.items


class TestFlush:
    """
    flush waits until everything submitted before it is handled.
    """

    def test_flush_waits_for_earlier_items(
        self, make_worker, recorder: Recorder
    ) -> None:
        """When flush returns True, every earlier item was handled."""
        worker = make_worker()
        for n in range(10):
            worker.submit(n)

        assert worker.flush(WAIT)

        assert list(range(10)) == recorder.items
        assert 0 == worker.depth

    def test_flush_markers_are_not_items(
        self, make_worker, recorder: Recorder
    ) -> None:
        """handle never sees a flush marker, and batches split at one."""
        worker = make_worker()
        recorder.hold()
        worker.submit("a")
        assert recorder.entered.wait(WAIT)
        worker.submit("b")
        flushed: list[bool] = []
        flusher = threading.Thread(
            target=lambda: flushed.append(worker.flush(WAIT))
        )
        flusher.start()
        deadline = time.monotonic() + WAIT
        while worker.depth < 2 and time.monotonic() < deadline:
            time.sleep(0.001)  # bounded wait for the marker to be queued
        worker.submit("c")
        recorder.release.set()
        flusher.join(WAIT)

        assert [True] == flushed
        assert worker.flush(WAIT)
        assert [["a"], ["b"], ["c"]] == recorder.batches

    def test_flush_before_anything_is_submitted(self, make_worker) -> None:
        """A worker that never started has nothing to wait for."""
        worker = make_worker()

        assert worker.flush(0.1)

        assert [] == _worker_threads()

    @pytest.mark.slow
    def test_flush_times_out_when_handle_is_stuck(
        self, make_worker, recorder: Recorder
    ) -> None:
        """flush returns False after its timeout, not later."""
        worker = make_worker()
        recorder.hold()
        worker.submit("stuck")
        assert recorder.entered.wait(WAIT)

        started = time.monotonic()
        done = worker.flush(0.2)
        elapsed = time.monotonic() - started

        assert not done
        assert 0.2 <= elapsed < 2.0

    def test_flush_from_the_worker_thread_does_not_deadlock(
        self, make_worker, recorder: Recorder
    ) -> None:
        """Called from handle itself, flush returns False at once."""
        worker = make_worker()
        answers: list[bool] = []

        def handle(batch: list[Any]) -> None:
            answers.append(worker.flush(WAIT))

        worker._handle = handle
        worker.submit("a")

        assert worker.flush(WAIT)
        assert [False] == answers


class TestClose:
    """
    close drains what is queued, then stops the thread.
    """

    def test_close_drains_then_stops(
        self, make_worker, recorder: Recorder
    ) -> None:
        """Everything queued before close is handled; the thread ends."""
        worker = make_worker(maxsize=1000)
        recorder.hold()
        for n in range(100):
            worker.submit(n)
        assert recorder.entered.wait(WAIT)
        recorder.release.set()

        assert worker.close(WAIT)

        assert list(range(100)) == recorder.items
        assert [] == _worker_threads()

    def test_submit_after_close_is_refused(
        self, make_worker, recorder: Recorder
    ) -> None:
        """A closed worker refuses items and starts no thread."""
        worker = make_worker()
        worker.submit("a")
        worker.close(WAIT)

        assert not worker.submit("b")

        assert ["a"] == recorder.items
        assert [] == _worker_threads()

    def test_close_never_started(self, make_worker) -> None:
        """Closing a worker that never ran succeeds at once."""
        worker = make_worker()

        assert worker.close(0.1)

        assert not worker.submit("a")

    @pytest.mark.slow
    def test_close_returns_after_the_timeout_when_stuck(
        self, make_worker, recorder: Recorder
    ) -> None:
        """A stuck handle makes close return False at its deadline."""
        worker = make_worker()
        recorder.hold()
        worker.submit("stuck")
        worker.submit("queued")
        assert recorder.entered.wait(WAIT)

        started = time.monotonic()
        done = worker.close(0.2)
        elapsed = time.monotonic() - started

        assert not done
        assert 0.2 <= elapsed < 2.0
        recorder.release.set()
        for thread in _worker_threads():
            thread.join(WAIT)
        assert ["stuck", "queued"] == recorder.items
        assert [] == _worker_threads()

    @pytest.mark.slow
    def test_second_close_while_stuck_is_still_false(
        self, make_worker, recorder: Recorder
    ) -> None:
        """close reports the truth again while items are still waiting."""
        worker = make_worker()
        recorder.hold()
        worker.submit("stuck")
        worker.submit("queued")
        assert recorder.entered.wait(WAIT)
        assert not worker.close(0.1)

        done = worker.close(0.1)

        assert not done


class TestErrors:
    """
    The worker never dies: errors in handle go to on_error.
    """

    def test_handle_error_is_reported_and_the_worker_goes_on(
        self, make_worker, recorder: Recorder
    ) -> None:
        """A raising batch is reported; later items are still handled."""
        worker = make_worker()
        recorder.fail_on = "bad"
        worker.submit("bad")
        assert worker.flush(WAIT)

        worker.submit("good")
        assert worker.flush(WAIT)

        assert [["bad"], ["good"]] == recorder.batches
        assert ["RuntimeError(\"cannot handle 'bad'\")"] == [
            repr(e) for e in recorder.errors
        ]
        assert 1 == len(_worker_threads())

    def test_base_exception_does_not_kill_the_worker(
        self, make_worker, recorder: Recorder
    ) -> None:
        """Even a SystemExit from handle is reported, not fatal."""
        worker = make_worker()

        def handle(batch: list[Any]) -> None:
            recorder.batches.append(batch)
            if "exit" in batch:
                raise SystemExit(3)

        worker._handle = handle
        worker.submit("exit")
        assert worker.flush(WAIT)
        worker.submit("after")

        assert worker.flush(WAIT)
        assert [["exit"], ["after"]] == recorder.batches
        assert [SystemExit] == [type(e) for e in recorder.errors]


class TestCustomLoop:
    """
    A custom loop takes items itself; submit wakes it only when needed.
    """

    @pytest.fixture
    def held(self) -> Iterator[tuple[Worker, list[str]]]:
        """A worker whose loop takes nothing until the test lets it end."""
        end = threading.Event()
        wakes: list[str] = []

        def loop(worker: Worker) -> None:
            end.wait(WAIT)

        worker = Worker(None, lambda _exc: None, 100, loop=loop)
        worker.set_waker(lambda: wakes.append("wake"))
        yield worker, wakes
        end.set()
        worker.close(WAIT)

    def test_ordinary_items_wake_once(
        self, held: tuple[Worker, list[str]]
    ) -> None:
        """After the first, ordinary items add no wake-up until a take."""
        worker, wakes = held

        for n in range(5):
            worker.submit(n)

        assert (["wake"], False) == (wakes, worker.urgent)

    def test_urgent_item_wakes_an_already_woken_loop(
        self, held: tuple[Worker, list[str]]
    ) -> None:
        """A warning wakes the loop even while ordinary items gather."""
        worker, wakes = held

        worker.submit("info")
        worker.submit("error", reserve=True)
        worker.submit("critical", reserve=True)

        assert (["wake", "wake"], True) == (wakes, worker.urgent)

    def test_take_resets_both(self, held: tuple[Worker, list[str]]) -> None:
        """After a take, the next item wakes the loop again."""
        worker, wakes = held
        worker.submit("error", reserve=True)

        taken = worker.take()
        urgent_after_take = worker.urgent
        worker.submit("info")

        assert (["error"], False, 2) == (
            taken,
            urgent_after_take,
            len(wakes),
        )

    def test_flush_wakes_the_loop_as_urgent(
        self, held: tuple[Worker, list[str]]
    ) -> None:
        """A flush must not wait while ordinary items gather."""
        worker, wakes = held
        worker.submit("info")

        worker.flush(0.01)  # the held loop never takes it: times out

        assert (["wake", "wake"], True) == (wakes, worker.urgent)

    def test_taken_items_count_until_done(
        self, held: tuple[Worker, list[str]]
    ) -> None:
        """Items taken but not yet handled are in hand, not lost."""
        worker, _ = held
        for n in range(3):
            worker.submit(n)

        worker.take()
        in_hand = [worker.in_hand]
        worker.done(1)
        in_hand.append(worker.in_hand)
        worker.done(1, last=True)
        in_hand.append(worker.in_hand)

        assert ([3, 2, 0], 2) == (in_hand, worker.handled)


class TestFailedLoop:
    """
    A custom loop that raises is started again, up to MAX_RESTARTS.
    """

    def test_a_failed_loop_is_restarted(self) -> None:
        """The next loop takes over what is queued; the error is told."""
        errors: list[BaseException] = []
        taken: list[Any] = []
        runs: list[int] = []
        done = threading.Event()

        def loop(worker: Worker) -> None:
            runs.append(1)
            if len(runs) == 1:
                raise RuntimeError("the loop broke")
            while True:
                for item in worker.take():
                    if isinstance(item, Stop):
                        return
                    taken.append(item)
                    done.set()
                time.sleep(0.001)  # a real thread; bounded by WAIT below

        worker = Worker(None, errors.append, 100, loop=loop)
        try:
            assert worker.submit("first")
            assert done.wait(WAIT)
        finally:
            worker.close(WAIT)

        assert ["first"] == taken
        assert [RuntimeError] == [type(e) for e in errors]
        assert 1 == worker.restarts

    def test_gives_up_after_max_restarts(self) -> None:
        """A loop that always fails ends for good, and says why it refuses."""
        errors: list[BaseException] = []

        def loop(worker: Worker) -> None:
            raise RuntimeError("always")

        worker = Worker(None, errors.append, 100, loop=loop)
        worker.submit("first")
        deadline = time.monotonic() + WAIT
        while not worker.closed and time.monotonic() < deadline:
            time.sleep(0.001)  # a real thread; bounded by WAIT

        for thread in _worker_threads():
            thread.join(WAIT)

        assert worker.closed
        assert MAX_RESTARTS + 1 == len(errors)
        assert not worker.submit("later")
        assert Loss.WORKER_STOPPED is worker.refusal


class TestRefusal:
    """
    Why submit refused an item decides the counter it goes to.
    """

    def test_full_queue(self, make_worker) -> None:
        """A full queue refuses as queue_full."""
        worker = make_worker(maxsize=0)

        assert not worker.submit("x")
        assert Loss.QUEUE_FULL is worker.refusal

    def test_after_close(self, make_worker) -> None:
        """A closed worker refuses as after_shutdown."""
        worker = make_worker()
        worker.close(WAIT)

        assert not worker.submit("x")
        assert Loss.AFTER_SHUTDOWN is worker.refusal


def test_a_child_keeps_why_its_parent_s_worker_refuses() -> None:
    """After a fork, a worker stopped for good still says so."""
    errors: list[BaseException] = []
    worker = Worker(None, errors.append, 10)
    worker._closed = worker._stopped = True

    worker._after_fork_in_child()

    assert not worker.submit("later")
    assert Loss.WORKER_STOPPED is worker.refusal
