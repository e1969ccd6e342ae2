"""
The control stream's wire: a command and an acknowledgement, to and from
a stream entry's fields (``polybot_loghandler/_control/wire.py``).

Without Redis. Redis hands back bytes (redis-py's default) or text
(``decode_responses=True``); both read the same. A version, command,
mode, status or time this version does not know is :class:`Malformed`,
with the reason; a field it does not know is ignored.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from polybot_loghandler._control.wire import (
    MAX_ERROR,
    Ack,
    Command,
    Malformed,
    acks_stream,
)

ID = "1733489700123-0"

#: A command's fields as the bot writes them.
PAUSE = {
    "v": "1",
    "command": "pause",
    "agent": "Momentum_BTC_v1",
    "mode": "",
    "requested_by": "alice",
    "requested_by_id": "4242",
    "requested_at": "1733489700.123",
    "via": "slash",
}

#: The command those fields are.
PAUSE_COMMAND = Command(
    id=ID,
    command="pause",
    agent="Momentum_BTC_v1",
    requested_by="alice",
    requested_by_id="4242",
    requested_at=1733489700.123,
    via="slash",
)


def as_bytes(fields: dict[str, str]) -> dict[bytes, bytes]:
    """*fields* as redis-py answers them by default."""
    return {k.encode(): v.encode() for k, v in fields.items()}


class Read(NamedTuple):
    """Fields in; the command out, or the words the reason holds."""

    fields: dict[Any, Any]
    want: Command | str


COMMAND_CASES = {
    "str keys": Read(PAUSE, PAUSE_COMMAND),
    "bytes keys and values": Read(as_bytes(PAUSE), PAUSE_COMMAND),
    "unknown extra fields ignored": Read(
        {**PAUSE, "colour": "blue", "v2_only": "x"}, PAUSE_COMMAND
    ),
    "switch to live": Read(
        {**PAUSE, "command": "switch", "agent": "", "mode": "live"},
        Command(
            id=ID,
            command="switch",
            mode="live",
            requested_by="alice",
            requested_by_id="4242",
            requested_at=1733489700.123,
        ),
    ),
    "resume, from a prefix command": Read(
        {**PAUSE, "command": "resume", "via": "prefix"},
        Command(
            id=ID,
            command="resume",
            agent="Momentum_BTC_v1",
            requested_by="alice",
            requested_by_id="4242",
            requested_at=1733489700.123,
            via="prefix",
        ),
    ),
    "unknown version": Read({**PAUSE, "v": "2"}, "version '2'"),
    "no version": Read({k: v for k, v in PAUSE.items() if k != "v"}, "''"),
    "unknown command": Read({**PAUSE, "command": "halt"}, "command 'halt'"),
    "no command": Read({**PAUSE, "command": ""}, "unknown command"),
    "command in capitals": Read({**PAUSE, "command": "PAUSE"}, "'PAUSE'"),
    "switch without a mode": Read(
        {**PAUSE, "command": "switch"}, "unknown mode ''"
    ),
    "switch to an unknown mode": Read(
        {**PAUSE, "command": "switch", "mode": "demo"}, "mode 'demo'"
    ),
    "a time that is no number": Read(
        {**PAUSE, "requested_at": "soon"}, "'soon'"
    ),
    "a NaN time": Read({**PAUSE, "requested_at": "nan"}, "'nan'"),
    "an infinite time": Read({**PAUSE, "requested_at": "inf"}, "'inf'"),
    "no time": Read(
        {k: v for k, v in PAUSE.items() if k != "requested_at"},
        "not a time",
    ),
}


@pytest.mark.parametrize(
    "case", COMMAND_CASES.values(), ids=COMMAND_CASES.keys()
)
def test_command_from_entry(case: Read) -> None:
    if isinstance(case.want, Command):
        assert case.want == Command.from_entry(ID, case.fields)
        assert case.want == Command.from_entry(ID.encode(), case.fields)
        return
    with pytest.raises(Malformed) as caught:
        Command.from_entry(ID, case.fields)
    assert case.want in str(caught.value)


def test_a_mode_is_read_only_for_switch() -> None:
    """``pause`` with a mode is still ``pause``: the mode is not checked."""
    command = Command.from_entry(ID, {**PAUSE, "mode": "demo"})
    assert ("pause", "demo") == (command.command, command.mode)


@pytest.mark.parametrize(
    "command",
    [
        PAUSE_COMMAND,
        Command(command="switch", mode="paper", id=ID, requested_at=1.5),
        Command(command="resume", agent="a b", via="prefix", id=ID),
    ],
    ids=["pause", "switch", "resume"],
)
def test_command_round_trip(command: Command) -> None:
    fields = command.fields()
    assert all(isinstance(v, str) for v in fields.values())
    assert command == Command.from_entry(command.id, fields)
    assert command == Command.from_entry(command.id, as_bytes(fields))


def test_a_command_has_no_id_until_sent() -> None:
    assert "id" not in PAUSE_COMMAND.fields()
    assert "" == Command(command="pause").id


class Addressed(NamedTuple):
    agent: str
    name: str
    obeys: bool


ADDRESSED = {
    "its own": Addressed("Momentum_BTC_v1", "Momentum_BTC_v1", True),
    "everyone's": Addressed("", "Momentum_BTC_v1", True),
    "another's": Addressed("MeanRevert_ETH", "Momentum_BTC_v1", False),
    "names differ by case": Addressed(
        "momentum_btc_v1", "Momentum_BTC_v1", False
    ),
    "a prefix is not the name": Addressed(
        "Momentum", "Momentum_BTC_v1", False
    ),
}


@pytest.mark.parametrize("case", ADDRESSED.values(), ids=ADDRESSED.keys())
def test_for_agent(case: Addressed) -> None:
    command = Command(command="pause", agent=case.agent)
    assert case.obeys == command.for_agent(case.name)


DONE = {
    "v": "1",
    "command_id": ID,
    "agent": "Momentum_BTC_v1",
    "status": "done",
    "error": "",
    "acked_at": "1733489701.500",
}
DONE_ACK = Ack(
    command_id=ID,
    agent="Momentum_BTC_v1",
    status="done",
    acked_at=1733489701.5,
)


class ReadAck(NamedTuple):
    fields: dict[Any, Any]
    want: Ack | str


ACK_CASES = {
    "done, str keys": ReadAck(DONE, DONE_ACK),
    "done, bytes": ReadAck(as_bytes(DONE), DONE_ACK),
    "failed, with its error": ReadAck(
        {**DONE, "status": "failed", "error": "ValueError: no"},
        Ack(
            command_id=ID,
            agent="Momentum_BTC_v1",
            status="failed",
            error="ValueError: no",
            acked_at=1733489701.5,
        ),
    ),
    "unknown extra fields ignored": ReadAck(
        {**DONE, "took_ms": "3"}, DONE_ACK
    ),
    "unknown status": ReadAck({**DONE, "status": "ok"}, "status 'ok'"),
    "no status": ReadAck(
        {k: v for k, v in DONE.items() if k != "status"}, "status ''"
    ),
    "no command id": ReadAck({**DONE, "command_id": ""}, "no command_id"),
    "a time that is no number": ReadAck(
        {**DONE, "acked_at": "later"}, "'later'"
    ),
    "a NaN time": ReadAck({**DONE, "acked_at": "NaN"}, "'NaN'"),
}


@pytest.mark.parametrize("case", ACK_CASES.values(), ids=ACK_CASES.keys())
def test_ack_from_entry(case: ReadAck) -> None:
    if isinstance(case.want, Ack):
        assert case.want == Ack.from_entry(case.fields)
        return
    with pytest.raises(Malformed) as caught:
        Ack.from_entry(case.fields)
    assert case.want in str(caught.value)


@pytest.mark.parametrize(
    "ack",
    [
        DONE_ACK,
        Ack(
            command_id=ID, agent="a", status="failed", error="E: x", acked_at=2
        ),
    ],
    ids=["done", "failed"],
)
def test_ack_round_trip(ack: Ack) -> None:
    assert ack == Ack.from_entry(ack.fields())
    assert ack == Ack.from_entry(as_bytes(ack.fields()))


def test_an_acks_error_is_one_line_and_cut() -> None:
    ack = Ack(command_id=ID, agent="a", status="failed", error="E:\n  x\ty")
    assert "E: x y" == ack.fields()["error"]
    long = Ack(command_id=ID, agent="a", status="failed", error="x" * 1000)
    assert MAX_ERROR == len(long.fields()["error"])


def test_acks_stream() -> None:
    assert "polybot:control:acks" == acks_stream("polybot:control")
    assert "ctl:acks" == acks_stream("ctl")


def test_bytes_that_are_not_utf8_read_as_replacement() -> None:
    """Anything may write to the stream: bad bytes never raise."""
    fields = {k.encode(): v.encode() for k, v in PAUSE.items()}
    fields[b"agent"] = b"Mom\xffentum"
    fields[b"requested_by"] = b"\xc3\x28"

    command = Command.from_entry(b"1-0", fields)

    assert command.agent == "Mom\ufffdentum"
    assert command.requested_by == "\ufffd("
