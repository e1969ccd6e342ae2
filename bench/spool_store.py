"""
The spool's store on its own: appends per second with group commit.

Appends realistic bodies to a fresh spool, as the worker does: each one
is what the spool keeps of a message of the shipped ``routing.yaml``
(:func:`polybot_loghandler._spool.keeper.encode` of a rendered embed, taken
from six simulated hours of ``examples/trading_floor.py``; those of 600
bytes or more, mostly trades and closed positions). The loop commits
every 100 ms of wall time, as the worker's group commit does, and
before each commit marks done what the previous commit wrote, as if
Discord had taken it meanwhile, so the store holds about two commits'
worth and does not just grow. A second measure commits every 10
appends, to show what a commit costs: the old store's worker also
committed before each send that had something new to write, and a full
send carries 10 embeds, so under a flood it committed about that often.
The time counted is the whole loop's, commits and fsyncs included.

The same loop runs against the old store (segment files, the last
version of which is commit ``3e79ae5``): its package is taken from git
into a temporary directory, and each store runs in a subprocess of its
own that imports one or the other. Rounds alternate old and new, so a
busy machine slows both alike; the ratio is the median of the ratios of
neighbouring rounds.

    python bench/spool_store.py [--quick]

Target: the new store sustains at least 20,000 appends a second with a
commit every 100 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

TARGET = 20_000
#: The last commit with the old store: one segment file per process.
BEFORE = "3e79ae5"
#: Seconds between the worker's group commits (``_spool.keeper.COMMIT_EVERY``).
COMMIT_EVERY = 0.1
#: Embeds in a full send: appends per commit in the second measure.
PER_SEND = 10
#: Bodies smaller than this are left out (see the module's docstring).
MIN_BODY = 600
#: Marks a child's answer on its stdout.
RESULT = "BENCH-RESULT "


def old_package(into: Path) -> str | None:
    """
    Put the package as of :data:`BEFORE` under *into*.

    Returns:
        ``None`` once it is there, else why it cannot be (no git, or a
        copy of the project without its history).
    """
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO), "archive", BEFORE, "polybot_loghandler"],
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"git did not run ({type(exc).__name__})"
    if done.returncode:
        why = done.stderr.decode(errors="replace").strip().splitlines()
        return (
            f"commit {BEFORE} is not in this copy ({why[-1] if why else ''})"
        )
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        try:
            archive.extractall(into, filter="data")
        except TypeError:  # Python 3.10 before 3.10.12: no filters
            archive.extractall(into)  # our own git archive
    return None


def realistic_bodies() -> list[tuple[str, int, dict[str, Any]]]:
    """
    What the spool keeps of the simulated day's larger messages.

    Returns:
        ``(channel, level, body)`` per message, in the day's order.
    """
    from throughput import capture_day, use_bench_destination

    from polybot_loghandler._spool.keeper import encode
    from polybot_loghandler._spool.store import _encode

    use_bench_destination()
    pipeline, raws = capture_day(REPO / "routing.yaml", 6)
    key = b"bench-key-" * 4
    out = []
    for raw in raws:
        for message in pipeline.process(raw):
            body = encode(message, key)
            if len(_encode(body)) >= MIN_BODY:
                out.append((message.channel, message.event.level, body))
    return out


# -- a child: one store, one round per line on stdin ------------------------


def store_module() -> Any:
    """
    The module of the store's ``Spool`` class, in this process's package.

    It is ``polybot_loghandler._spool.store``; in the old package (see
    :data:`BEFORE`) ``_spool`` was a module of its own and held ``Spool``.
    """
    try:
        return importlib.import_module("polybot_loghandler._spool.store")
    except ModuleNotFoundError:  # the old package: _spool is a module
        return importlib.import_module("polybot_loghandler._spool")


def measure(
    spool_class: Any,
    bodies: list[Any],
    appends: int,
    every: int | None,
) -> dict[str, float]:
    """
    One round: *appends* appends to a fresh spool, then close.

    Commits every :data:`COMMIT_EVERY` seconds, or every *every* appends;
    before each commit, marks done what the previous one wrote.

    Returns:
        ``rate`` (appends a second), ``commit`` (share of the time spent
        in commits), ``commits``.
    """
    directory = Path(tempfile.mkdtemp(prefix="bench-spool-"))
    spool = spool_class(directory / "spool")
    spool.open()
    try:
        _loop(spool, bodies, min(500, appends), every)  # untimed: warm
        return _loop(spool, bodies, appends, every)
    finally:
        spool.close()
        shutil.rmtree(directory, ignore_errors=True)


def _loop(
    spool: Any, bodies: list[Any], appends: int, every: int | None
) -> dict[str, float]:
    clock = time.perf_counter
    written: list[Any] = []  # committed last time: delivered by the next
    fresh: list[Any] = []  # appended since the last commit
    in_commit, commits, n = 0.0, 0, len(bodies)
    started = clock()
    due = started + COMMIT_EVERY
    for i in range(appends):
        channel, level, body = bodies[i % n]
        entry = spool.append(channel, level, 1.8e9 + i * 1e-3, body)
        # the old store answers (entry, evicted), the new one the entry
        fresh.append(entry[0] if isinstance(entry, tuple) else entry)
        if len(fresh) == every if every else clock() >= due:
            spool.done(written)
            before = clock()
            spool.commit()
            in_commit += clock() - before
            commits += 1
            written, fresh = fresh, []
            due = clock() + COMMIT_EVERY
    spool.done(written)
    spool.commit()
    took = clock() - started
    return {
        "rate": appends / took,
        "commit": in_commit / took,
        "commits": commits,
    }


def child(root: str, bodies_file: str) -> int:
    """Serve rounds for the store of the package under *root*."""
    sys.path.insert(0, root)
    store = store_module()

    bodies = json.loads(Path(bodies_file).read_text(encoding="utf-8"))
    print(RESULT + json.dumps({"module": store.__file__}), flush=True)
    for line in sys.stdin:
        ask = json.loads(line)
        got = measure(store.Spool, bodies, ask["appends"], ask["every"])
        print(RESULT + json.dumps(got), flush=True)
    return 0


class Child:
    """A subprocess of a bench script, asked one JSON line at a time."""

    def __init__(self, script: str, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, script, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        #: What it says once it is ready.
        self.hello = self._answer()

    def ask(self, question: dict[str, Any]) -> dict[str, Any]:
        """Send *question*; the child's answer."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(question) + "\n")
        self.process.stdin.flush()
        return self._answer()

    def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith(RESULT):
                answer: dict[str, Any] = json.loads(line[len(RESULT) :])
                return answer
        raise RuntimeError(f"{self.process.args} ended")

    def close(self) -> None:
        """Let the child end (it ends when its stdin does)."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


@contextlib.contextmanager
def stores(
    bodies: list[Any],
) -> Iterator[tuple[dict[str, Child], str | None]]:
    """
    Children for the new store and, when git has it, the old one.

    Yields:
        The children by name (``new``, ``old``), and why the old store is
        missing, if it is.
    """
    work = Path(tempfile.mkdtemp(prefix="bench-stores-"))
    bodies_file = work / "bodies.json"
    bodies_file.write_text(json.dumps(bodies), encoding="utf-8")
    missing = old_package(work / "old")
    script = str(Path(__file__).resolve())
    children = {"new": Child(script, "--child", str(REPO), str(bodies_file))}
    try:
        if missing is None:
            old = str(work / "old")
            children["old"] = Child(script, "--child", old, str(bodies_file))
        yield children, missing
    finally:
        for store in children.values():
            store.close()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("ROOT", "BODIES"))
    args = parser.parse_args(argv)
    if args.child:
        return child(*args.child)
    rounds, appends, per_send = (
        (5, 30_000, 3_000) if args.quick else (9, 100_000, 6_000)
    )
    bodies = realistic_bodies()
    sizes = [len(json.dumps(b[2], separators=(",", ":"))) for b in bodies]
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    with stores(bodies) as (children, missing):
        for measure_name, n, every in (
            ("timed", appends, None),
            ("per_send", per_send, PER_SEND),
        ):
            for r in range(rounds):
                # old and new in turn, the first of a round alternating
                names = sorted(children, reverse=bool(r % 2))
                for name in names:
                    got = children[name].ask({"appends": n, "every": every})
                    results.setdefault(name, {}).setdefault(
                        measure_name, []
                    ).append(got)

    def med(name: str, measure_name: str, key: str) -> float:
        return statistics.median(
            got[key] for got in results[name][measure_name]
        )

    print(
        f"# Spool store: appends per second with group commit ({rounds} "
        "rounds each)\n"
    )
    routes = Counter(body["route"] for _, _, body in bodies)
    print(
        f"{len(bodies):,} distinct bodies (what the spool keeps of the "
        "messages of 600 bytes or more of six simulated hours of "
        "`examples/trading_floor.py` through the shipped routing: "
        + ", ".join(f"`{k}` {n}" for k, n in routes.most_common(4))
        + f", ...), {statistics.median(sizes):,.0f} "
        f"bytes of JSON at the median ({min(sizes):,}-{max(sizes):,}), "
        "appended in turn; a round appends "
        f"{appends:,} with a commit every {COMMIT_EVERY * 1000:.0f} ms of "
        f"wall time, and {per_send:,} with a commit every {PER_SEND} "
        "appends; before each commit, what the previous commit wrote is "
        "marked done. Medians of the rounds; each store runs in a "
        "subprocess of its own, the two in turn.\n"
    )
    print(
        "| store | appends/s, commit every 100 ms | µs per append "
        "| share of time in commits | commits | appends/s, commit every "
        f"{PER_SEND} appends |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    labels = {
        "new": "new: one SQLite database",
        "old": f"old: segment files ({BEFORE})",
    }
    for name in ("new", "old"):
        if name not in results:
            print(f"| {labels[name]} | before: not available | | | | |")
            continue
        rate = med(name, "timed", "rate")
        print(
            f"| {labels[name]} | {rate:,.0f} | {1e6 / rate:.1f} "
            f"| {med(name, 'timed', 'commit'):.0%} "
            f"| {med(name, 'timed', 'commits'):.0f} "
            f"| {med(name, 'per_send', 'rate'):,.0f} |"
        )
    rate = med("new", "timed", "rate")
    print("\n| measure | measured | target | |\n|---|---:|---:|---|")
    print(
        "| new store, appends/s with a commit every 100 ms "
        f"| {rate:,.0f} | ≥ {TARGET:,} "
        f"| {'✅' if rate >= TARGET else '❌ missed'} |"
    )
    if "old" in results:
        for measure_name, label in (
            ("timed", "commit every 100 ms"),
            ("per_send", f"commit every {PER_SEND} appends"),
        ):
            pairs = zip(
                results["new"][measure_name],
                results["old"][measure_name],
                strict=True,
            )
            found = [n["rate"] / o["rate"] for n, o in pairs]
            print(
                f"| new / old, appends/s, {label} (median of paired "
                f"rounds, and their range) | {statistics.median(found):.2f}x "
                f"({min(found):.2f}-{max(found):.2f}) | | |"
            )
    else:
        print("| new / old | before: not available | | |")
        print(f"\nThe old store could not be measured: {missing}.")
    print(
        f"\nThe spool's directory is in `{tempfile.gettempdir()}`; every "
        "commit of either store ends in an fsync, so the disk under it "
        "sets the pace of the frequent commits."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
