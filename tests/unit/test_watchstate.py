"""
The watches' and digests' state in the spool (``_spool/watchstate.py``,
``_delivery/keepstate.py``): a real SQLite spool, a clock the test moves,
and processes played by spools opened one after another.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from polybot_loghandler._config import parse_config
from polybot_loghandler._delivery.keepstate import StateKeeper, routing_key
from polybot_loghandler._events import LogEvent
from polybot_loghandler._spool.db import Database
from polybot_loghandler._spool.watchstate import (
    FORGET_AFTER,
    safe_for_disk,
    save,
    take,
)
from polybot_loghandler._watching.watching import (
    ALERT,
    DIGEST,
    RECOVERY,
    Output,
    Watching,
)
from tests.support.spool import Clock, database, opened

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z, on the hour
ROUTING = "/srv/floor/routing.yaml"
TOKEN = "https://discord.com/api/webhooks/123456789012345678/" + "t" * 68

FILE = """\
version: 1
channels:
  ops: ""
routes:
  - {name: trades, match: {event: trade}, to: ops}
watches:
  - name: heartbeats
    match: {event: heartbeat}
    key: "{{ agent }}"
    alert_after: 60s
    to: ops
digests:
  - name: hourly
    match: {event: trade}
    every: 1h
    measures: {trades: count}
    to: ops
"""


class Process:
    """One process: its spool (one owner), its watching, its keeper."""

    def __init__(self, directory: Path, now: float, text: str = FILE) -> None:
        self.spool, _ = opened(directory)
        self.clock: Clock = self.spool.clock  # type: ignore[assignment]
        self.clock.now = now
        self.counts: Counter[str] = Counter()
        self.said: list[tuple[str, str]] = []
        self.opened = 0
        self.watching = Watching(parse_config(text), now, self.count)
        self.keeper = StateKeeper(
            self.watching,
            ROUTING,
            spool=self.open,
            wall=self.clock,
            count=self.count,
            warn=lambda key, text: self.said.append((key, text)),
        )

    def count(self, key: str, n: int) -> None:
        self.counts[key] += n

    def open(self, *, create: bool) -> tuple[Database, int] | None:
        self.opened += 1
        database = self.spool.database
        return None if database is None else (database, self.spool.owner)

    def at(self, now: float) -> Process:
        self.clock.now = now
        return self

    def log(self, event: str, **fields: Any) -> None:
        now = self.clock.now
        ev = LogEvent(event=event, level=20, time=now, fields=fields)
        self.watching.observe(ev, ev.context(), now)

    def due(self) -> list[tuple[str, Any]]:
        return _told(self.watching.due(self.clock.now))

    def stop(self) -> list[tuple[str, Any]]:
        """A clean exit: the last hand-out, the final save, the close."""
        told = _told(self.watching.close_all(self.clock.now))
        self.keeper.save(final=True)
        self.spool.close()
        return told

    def crash(self) -> None:
        """``kill -9``: nothing more is written."""
        self.spool.forget_after_fork()


def _told(outputs: list[Output]) -> list[tuple[str, Any]]:
    return [
        (o.kind, o.values.get("key", o.values.get("events"))) for o in outputs
    ]


def _rows(directory: Path) -> list[tuple[Any, ...]]:
    with database(directory) as db:
        return list(
            db.execute(
                "SELECT routing, owner, state FROM watching ORDER BY rowid"
            )
        )


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


class TestRestart:
    def test_an_alert_is_not_told_again_and_the_recovery_is_told(
        self, spool_dir: Path
    ) -> None:
        first = Process(spool_dir, T0)
        first.log("heartbeat", agent="A")
        assert [(ALERT, "A")] == first.at(T0 + 61).due()
        first.at(T0 + 62).stop()

        second = Process(spool_dir, T0 + 100)
        second.keeper.load()

        assert [] == second.at(T0 + 200).due()
        second.log("heartbeat", agent="A")
        assert [(RECOVERY, "A")] == second.due()
        assert [] == second.at(T0 + 250).due()

    def test_a_silence_across_the_restart_is_told_once(
        self, spool_dir: Path
    ) -> None:
        """Heard before the restart, silent after: one alert, by then."""
        first = Process(spool_dir, T0)
        first.log("heartbeat", agent="A")
        first.at(T0 + 30).stop()

        second = Process(spool_dir, T0 + 40)
        second.keeper.load()

        assert [] == second.at(T0 + 55).due()
        assert [(ALERT, "A")] == second.at(T0 + 61).due()
        assert [] == second.at(T0 + 600).due()

    def test_after_a_crash_the_state_last_saved_is_taken_over(
        self, spool_dir: Path
    ) -> None:
        first = Process(spool_dir, T0)
        first.log("heartbeat", agent="A")
        first.at(T0 + 61).due()
        first.keeper.save()  # the periodic save
        first.crash()

        second = Process(spool_dir, T0 + 100)
        second.keeper.load()

        assert [] == second.at(T0 + 200).due()
        second.log("heartbeat", agent="A")
        assert [(RECOVERY, "A")] == second.due()

    def test_a_digest_sent_in_part_at_exit_sends_only_its_rest(
        self, spool_dir: Path
    ) -> None:
        first = Process(spool_dir, T0 + 60)
        first.log("trade")
        first.log("trade")
        assert [(DIGEST, 2)] == first.at(T0 + 120).stop()

        second = Process(spool_dir, T0 + 180)
        second.keeper.load()
        second.log("trade")  # the same hour: its rest, after the part

        assert [(DIGEST, 1)] == second.at(T0 + 3600 + 5).due()
        assert [] == second.at(T0 + 3600 + 10).stop()
        assert "watching.late" not in second.counts

    def test_a_digest_s_open_period_survives_a_crash(
        self, spool_dir: Path
    ) -> None:
        first = Process(spool_dir, T0 + 60)
        first.log("trade")
        first.keeper.save()
        first.crash()

        second = Process(spool_dir, T0 + 120)
        second.keeper.load()
        second.log("trade")

        assert [(DIGEST, 2)] == second.at(T0 + 3600 + 5).due()

    def test_a_changed_watch_starts_afresh(self, spool_dir: Path) -> None:
        first = Process(spool_dir, T0)
        first.log("heartbeat", agent="A")
        first.at(T0 + 61).due()
        first.stop()

        second = Process(
            spool_dir,
            T0 + 100,
            FILE.replace("alert_after: 60s", "alert_after: 2m"),
        )
        second.keeper.load()

        assert [] == second.at(T0 + 400).due()  # A is unknown here
        second.log("heartbeat", agent="A")
        assert [] == second.due()


class TestSharing:
    def test_processes_that_share_a_spool_keep_their_own_state(
        self, spool_dir: Path
    ) -> None:
        one, two = Process(spool_dir, T0), Process(spool_dir, T0)
        one.log("heartbeat", agent="A")
        two.log("heartbeat", agent="B")
        one.keeper.save()
        two.keeper.save()

        states = [json.loads(row[2]) for row in _rows(spool_dir)]

        assert [["A"], ["B"]] == [
            list(s["watches"]["heartbeats"]["keys"]) for s in states
        ]

    def test_a_new_process_takes_a_stopped_one_s_state_only(
        self, spool_dir: Path
    ) -> None:
        one, two = Process(spool_dir, T0), Process(spool_dir, T0)
        one.log("heartbeat", agent="A")
        two.log("heartbeat", agent="B")
        one.keeper.save()
        two.at(T0 + 1).keeper.save()  # the latest: but two runs
        one.stop()

        three = Process(spool_dir, T0 + 2)
        three.keeper.load()

        assert {"A"} == set(
            three.watching.snapshot()["watches"]["heartbeats"]["keys"]
        )
        four = Process(spool_dir, T0 + 3)
        four.keeper.load()
        assert {} == four.watching.snapshot()["watches"]["heartbeats"]["keys"]

    def test_another_routing_file_s_state_is_not_taken(
        self, spool_dir: Path
    ) -> None:
        first = Process(spool_dir, T0)
        first.log("heartbeat", agent="A")
        first.stop()
        other = Process(spool_dir, T0 + 1)
        other.keeper = StateKeeper(
            other.watching,
            "/srv/other/routing.yaml",
            spool=other.open,
            wall=other.clock,
            count=other.count,
            warn=lambda *_: None,
        )

        other.keeper.load()

        assert {} == other.watching.snapshot()["watches"]["heartbeats"]["keys"]
        assert [None] == [row[1] for row in _rows(spool_dir)]

    def test_without_watches_or_digests_nothing_is_taken(
        self, spool_dir: Path
    ) -> None:
        first = Process(spool_dir, T0)
        first.log("heartbeat", agent="A")
        first.stop()
        bare = FILE.split("watches:", maxsplit=1)[0]

        second = Process(spool_dir, T0 + 1, bare)
        second.keeper.load()
        second.keeper.save(final=True)

        assert [None] == [row[1] for row in _rows(spool_dir)]


class TestSaving:
    def test_a_state_is_written_only_when_it_changed(
        self, spool_dir: Path
    ) -> None:
        process = Process(spool_dir, T0)
        process.log("heartbeat", agent="A")
        process.keeper.save()
        process.keeper.save()
        process.keeper.save()
        assert 1 == process.opened

        process.at(T0 + 1).log("heartbeat", agent="A")
        process.keeper.save()
        assert 2 == process.opened

    def test_a_spool_that_fails_is_counted_and_said(
        self, spool_dir: Path
    ) -> None:
        process = Process(spool_dir, T0)
        process.log("heartbeat", agent="A")
        with database(spool_dir) as db:
            db.execute("DROP TABLE watching")

        process.keeper.save()  # never raises

        assert 1 == process.counts["errors.spool"]
        assert "watching:save" == process.said[0][0]
        assert "could not be written to the spool" in process.said[0][1]

    def test_what_is_kept_hides_tokens_and_secret_fields(
        self, spool_dir: Path
    ) -> None:
        process = Process(spool_dir, T0)
        process.log("heartbeat", agent="A", api_key="k-123456", note=TOKEN)
        process.keeper.save()

        (row,) = _rows(spool_dir)

        assert "k-123456" not in row[2]
        assert "t" * 68 not in row[2]
        last = json.loads(row[2])["watches"]["heartbeats"]["keys"]["A"][3]
        assert "(redacted)" == last["api_key"]
        assert last["note"].endswith("/(redacted)")

    @pytest.mark.parametrize(
        "spelling",
        [
            TOKEN,
            TOKEN.replace("/", "\\/"),
            TOKEN.replace("/", "%2F"),
            TOKEN + '"quoted',
            TOKEN.upper(),
            "Bot MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs",
        ],
    )
    def test_every_spelling_of_a_token_is_hidden_and_the_json_reads(
        self, spelling: str
    ) -> None:
        snapshot = {
            "watches": {
                "w": {"keys": {"k": [T0, True, False, {"n": spelling}]}}
            },
            "digests": {
                "d": {"state": {"open": [[0, 1, 1, 0, {spelling: {}}]]}}
            },
        }

        text = safe_for_disk(snapshot)

        assert "t" * 68 not in text.lower()
        assert "ZnCjm1XVW7vRze4b7Cq4se7kKWs" not in text
        assert {"watches", "digests"} == set(json.loads(text))

    def test_safe_for_disk_leaves_what_is_not_a_key_s_row(self) -> None:
        odd = {"watches": {"w": {"keys": {"k": "not a row"}}}, "digests": {}}

        assert odd == json.loads(safe_for_disk(odd))

    def test_the_key_is_the_absolute_path(self) -> None:
        assert routing_key("routing.yaml").endswith("/routing.yaml")
        assert routing_key("routing.yaml").startswith("/")


class TestTable:
    def test_rows_no_one_saved_for_long_are_forgotten(
        self, spool_dir: Path
    ) -> None:
        spool, _ = opened(spool_dir)
        assert spool.database is not None
        with spool.database.transaction() as db:
            save(db, None, routing=ROUTING, owner=99, text="{}", now=T0)
            found = take(
                db,
                spool.database.file,
                ROUTING,
                spool.owner,
                T0 + FORGET_AFTER + 1,
            )
        spool.close()

        assert found is None
        assert [] == _rows(spool_dir)

    def test_a_row_that_is_not_a_state_is_forgotten(
        self, spool_dir: Path
    ) -> None:
        spool, _ = opened(spool_dir)
        assert spool.database is not None
        with spool.database.transaction() as db:
            save(db, None, routing=ROUTING, owner=98, text="{}", now=T0)
            save(db, None, routing=ROUTING, owner=99, text="[oops", now=T0 + 1)
            found = take(db, spool.database.file, ROUTING, spool.owner, T0 + 2)
        spool.close()

        assert found is not None
        assert {} == found[1]
        assert 1 == len(_rows(spool_dir))
