"""The floor's state in Redis: merging changes, the layout, the meta."""

from __future__ import annotations

import json
from collections import Counter

from polybot_loghandler._floor.model import StateSpec
from polybot_loghandler._floor.reduce import RowChange, SumsChange
from polybot_loghandler._floor.state import FloorState
from polybot_loghandler._relay.floorstore import (
    FloorView,
    Meta,
    Pending,
    decode_floor,
    floor_keys,
)
from polybot_loghandler._relay.keys import Keys
from tests.unit.test_floor_state import FLOOR, T0, ev

ROWS = Keys.floor_rows
SUMS = Keys.floor_sums


def test_pending_keeps_the_last_change_of_each_field() -> None:
    pending = Pending()
    pending.add(
        [
            RowChange("agents", "a", {"status": "running"}),
            RowChange("positions", "a BTC", {"side": "yes"}),
            SumsChange("pnl", "day", "2026-02-01", {"realised": 1.5}),
            RowChange("agents", "a", {"status": "stopped"}),
            RowChange("positions", "a BTC", None),
            SumsChange("pnl", "day", "2026-02-01", {"realised": 3.0}),
            SumsChange("pnl", "day", "2026-01-30", None),
        ]
    )
    keys, args = pending.script_args()
    assert [ROWS + "agents", ROWS + "positions", SUMS + "pnl"] == keys
    assert [
        "1", "0", "a", '{"status":"stopped"}',
        "0", "1", "a BTC",
        "1", "1", "day|2026-02-01", '{"realised":3.0}', "day|2026-01-30",
    ] == args  # fmt: skip


def test_a_dropped_hash_is_deleted_before_what_is_new_in_it() -> None:
    pending = Pending()
    pending.add([RowChange("gone", "x", {"n": 1})])
    pending.delete(ROWS + "gone")
    pending.add([RowChange("gone", "y", {"n": 2})])
    pending.delete(SUMS + "pnl", ["week|2026-W05"])
    keys, args = pending.script_args()
    assert [ROWS + "gone", ROWS + "gone", SUMS + "pnl"] == keys
    assert [
        "-1",
        "0",
        "1",
        "0",
        "y",
        '{"n":2}',
        "0",
        "1",
        "week|2026-W05",
    ] == (args)
    assert Pending().script_args() == ([], [])
    assert not Pending()


def test_meta_reads_back_what_it_writes_and_survives_junk() -> None:
    meta = Meta(
        cursor="1700000000000-3",
        ordinal=42,
        fingerprint="abc",
        updated=1.5,
        trimmed=7,
        tables=("agents",),
        totals=("pnl",),
        relay="r:1:x",
    )
    fields = meta.fields(Counter({"pnl: late": 2}))
    raw = {
        k.encode(): v.encode()
        for k, v in zip(fields[::2], fields[1::2], strict=True)
    }
    assert (meta, Counter({"pnl: late": 2})) == Meta.read(raw)
    junk = {
        b"cursor": b"x",
        b"ordinal": b"?",
        b"tables": b"{",
        b"errors": b"1",
    }
    assert (Meta(), Counter()) == Meta.read(junk)


def test_a_state_written_as_the_keeper_writes_it_reads_back_the_same() -> None:
    state = FloorState(FLOOR)
    pending = Pending()
    for event in (
        ev("agent_started", agent="a", mode="paper", capital=5.5),
        ev("agent_started", T0 + 1, agent="b", mode="live", capital=1),
        ev("position_opened", agent="a", market="M", side="y", size=1,
           entry_price=0.5),
        ev("position_closed", agent="a", market="M", pnl=2.25),
        ev("trade_executed", fees=0.1),
        ev("health_check", components={"db": {"ok": True}}),
    ):  # fmt: skip
        pending.add(state.feed(event).changes)
    hashes: dict[str, dict[bytes, bytes]] = {}
    for key, held in pending.fields.items():
        hashes[key] = {
            k.encode(): v.encode() for k, v in held.items() if v is not None
        }
    hashes[Keys.floor_rows + "agents"][b"broken"] = b"[1"
    hashes[Keys.floor_sums + "pnl"][b"month|2026-02"] = b"{}"
    raws = [hashes.get(key, {}) for key in floor_keys(FLOOR)]
    view = decode_floor(FLOOR, raws)
    assert state.tables == view.state.tables
    assert state.totals == view.state.totals
    assert ["a", "b"] == list(view.state.tables["agents"])  # oldest first
    assert {"agents: unreadable": 1} == dict(view.state.errors)
    assert {Keys.floor_sums + "pnl": ["month|2026-02"]} == view.stale
    assert json.loads(json.dumps(view.state.totals)) == view.state.totals


def test_a_state_kept_by_another_spec_is_told() -> None:
    state = FloorState(StateSpec(fingerprint="ours"))

    def view(cursor: str, made_by: str) -> FloorView:
        meta = Meta(cursor=cursor, fingerprint=made_by)
        return FloorView(state, meta, state.spec.fingerprint)

    assert view("1-0", "ours").other_spec() == ""
    assert view("", "theirs").other_spec() == ""  # nothing kept yet
    told = view("1-0", "theirs").other_spec()
    assert told.startswith("the relay keeps this state by another state:")
