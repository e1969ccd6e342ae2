"""
Tests for sending into threads and boards (``_delivery/placing.py``).

:meth:`Placer.aim` says how a placed lane's batch is sent, and
:meth:`Placer.learn` what Discord's answer taught. Both are pure: the
wall-clock time is passed in, the places are kept in memory, and the
warnings are noted by a recorder.
"""

from __future__ import annotations

from typing import Any

import pytest

from polybot_loghandler._delivery.lanes import Lanes, LaneState
from polybot_loghandler._delivery.placing import EDIT_KEYS, Aim, Placer
from polybot_loghandler._discord import Outcome
from polybot_loghandler._limits import MAX_AUTHOR_NAME
from polybot_loghandler._message import Place
from polybot_loghandler._model import (
    BotChannelDestination,
    Channel,
    WebhookDestination,
)
from polybot_loghandler._places import BOARD, THREAD, Places, Posted

WALL = 1_790_000_000.0
HOOK = "111111111111111111"
URL = f"https://discord.com/api/webhooks/{HOOK}/SeCrEtWeBhOoKtOkEn"
DEST = f"webhook:{HOOK}"
THREAD_ID = "555555555555555555"
BOARD_ID = "888888888888888888"
MADE_ID = "999999999999999999"
TARGET = Channel(
    key="health",
    name="health",
    destination=WebhookDestination(url=URL, webhook_id=HOOK),
)


class Warnings:
    """The placer's warnings, as the ledger would be told them."""

    def __init__(self) -> None:
        self.said: list[tuple[str, str]] = []

    def __call__(self, key: str, text: str) -> None:
        self.said.append((key, text))


def _payload(author: str | None = None) -> dict[str, Any]:
    embed: dict[str, Any] = {"title": "db", "color": 0x2ECC71}
    if author is not None:
        embed["author"] = {"name": author}
    return {
        "content": "<@&123456789012345678>",
        "allowed_mentions": {"parse": [], "roles": ["123456789012345678"]},
        "embeds": [embed, {"title": "second"}],
        "username": "Health",
        "avatar_url": "https://example.com/a.png",
    }


def _setup(place: Place, *known: Posted) -> tuple[Placer, LaneState, Warnings]:
    places = Places()
    for posted in known:
        places.put(posted, WALL)
    warnings = Warnings()
    state = Lanes(gather=1.0, window=60.0, bound=100).of(TARGET, place)
    return Placer(places, warnings), state, warnings


def _thread(name: str = "BTC", id_: str = THREAD_ID) -> Posted:
    return Posted(THREAD, DEST, name, id_, "", WALL, WALL)


def _board(key: str = "db", thread: str = "") -> Posted:
    return Posted(BOARD, DEST, key, BOARD_ID, thread, WALL, WALL)


def _sent(body: Any = None) -> Outcome:
    return Outcome("sent", 200, body=body)


def _refused(status: int, code: int | None, kind: str = "gone") -> Outcome:
    body = None if code is None else {"message": "no", "code": code}
    return Outcome(kind, status, body=body)


# -- aim ---------------------------------------------------------------------


class TestAim:
    @pytest.mark.parametrize(
        ("place", "known", "thread_id", "edit", "making"),
        [
            pytest.param(Place(thread="BTC"), (), None, None, True, id="new"),
            pytest.param(
                Place(thread="BTC"),
                (_thread(),),
                THREAD_ID,
                None,
                False,
                id="known-thread",
            ),
            pytest.param(
                Place(thread_id="777777777777777777"),
                (),
                "777777777777777777",
                None,
                False,
                id="thread-id",
            ),
            pytest.param(Place(board="db"), (), None, None, False, id="new"),
            pytest.param(
                Place(board="db"),
                (_board(),),
                None,
                BOARD_ID,
                False,
                id="known-board",
            ),
            pytest.param(
                Place(thread="BTC", board="db"),
                (_thread(), _board("BTC\x00db", thread=THREAD_ID)),
                THREAD_ID,
                BOARD_ID,
                False,
                id="board-in-thread",
            ),
            pytest.param(
                Place(thread_id="777777777777777777", board="db"),
                (_board("777777777777777777\x00db", "777777777777777777"),),
                "777777777777777777",
                BOARD_ID,
                False,
                id="board-in-thread-id",
            ),
            pytest.param(
                Place(thread="ETH", board="db"),
                (_board(),),  # the board outside the thread: another one
                None,
                None,
                True,
                id="board-elsewhere",
            ),
        ],
    )
    def test_how_a_batch_is_sent(
        self,
        place: Place,
        known: tuple[Posted, ...],
        thread_id: str | None,
        edit: str | None,
        making: bool,
    ) -> None:
        placer, state, _ = _setup(place, *known)

        aim = placer.aim(state, _payload(), WALL)

        assert thread_id == aim.thread_id
        assert edit == aim.edit
        assert making == aim.making
        assert making == ("thread_name" in aim.payload)
        if making:
            assert place.thread == aim.payload["thread_name"]
        if edit is None:
            assert state.key == aim.key
            assert state.channel == aim.channel
            assert {**_payload(), **aim.payload} == aim.payload

    def test_an_edit_has_its_own_body_route_and_window(self) -> None:
        placer, state, _ = _setup(Place(board="db"), _board())

        aim = placer.aim(state, _payload(), WALL)

        assert set(EDIT_KEYS) >= set(aim.payload)
        assert "username" not in aim.payload
        assert "avatar_url" not in aim.payload
        assert _payload()["embeds"] == aim.payload["embeds"]
        assert f"webhook:{URL}/messages?board=db" == aim.key
        assert f"{state.channel}#edits?board=db" == aim.channel
        assert aim.key != state.key
        assert aim.channel != state.channel

    def test_an_expired_board_is_posted_again(self) -> None:
        placer, state, _ = _setup(Place(board="db"), _board())

        aim = placer.aim(state, _payload(), WALL + 8 * 86_400.0)

        assert aim.edit is None
        assert "username" in aim.payload


# -- learn -------------------------------------------------------------------


class TestLearnFromASentAnswer:
    def test_a_new_thread_and_board_are_kept(self) -> None:
        placer, state, _ = _setup(Place(thread="BTC", board="db"))
        aim = placer.aim(state, _payload(), WALL)

        again = placer.learn(
            state, aim, _sent({"id": MADE_ID, "channel_id": THREAD_ID}), WALL
        )

        assert again is False
        thread = placer.places.get(THREAD, DEST, "BTC", WALL)
        board = placer.places.get(BOARD, DEST, "BTC\x00db", WALL)
        assert thread is not None
        assert THREAD_ID == thread.id
        assert board is not None
        assert (MADE_ID, THREAD_ID) == (board.id, board.thread)
        later = placer.aim(state, _payload(), WALL + 1.0)
        assert (THREAD_ID, MADE_ID) == (later.thread_id, later.edit)

    @pytest.mark.parametrize(
        "body",
        [
            None,
            [],
            "ok",
            {},
            {"id": 12, "channel_id": 34},
            {"id": "12a", "channel_id": "-1"},
            {"id": "1" * 21, "channel_id": "1" * 21},
            {"id": "", "channel_id": " 1"},
        ],
    )
    def test_ids_that_are_not_snowflakes_are_ignored(self, body: Any) -> None:
        placer, state, _ = _setup(Place(thread="BTC", board="db"))
        aim = placer.aim(state, _payload(), WALL)

        assert placer.learn(state, aim, _sent(body), WALL) is False
        assert 0 == len(placer.places)

    def test_a_post_into_a_known_thread_uses_it(self) -> None:
        placer, state, _ = _setup(Place(thread="BTC"), _thread())
        aim = placer.aim(state, _payload(), WALL + 10.0)

        placer.learn(state, aim, _sent({"id": MADE_ID}), WALL + 10.0)

        thread = placer.places.get(THREAD, DEST, "BTC", WALL + 10.0)
        assert thread is not None
        assert (THREAD_ID, WALL + 10.0) == (thread.id, thread.used)

    def test_an_edit_uses_the_board(self) -> None:
        placer, state, _ = _setup(Place(board="db"), _board())
        aim = placer.aim(state, _payload(), WALL + 10.0)

        placer.learn(state, aim, _sent({"id": BOARD_ID}), WALL + 10.0)

        board = placer.places.get(BOARD, DEST, "db", WALL + 10.0)
        assert board is not None
        assert (BOARD_ID, WALL, WALL + 10.0) == (
            board.id,
            board.at,
            board.used,
        )


class TestLearnFromARefusal:
    @pytest.mark.parametrize(
        ("outcome", "again"),
        [
            (_refused(404, 10008), True),  # the message was deleted
            (_refused(400, 30046, "rejected"), True),  # too old to edit
            (_refused(404, None), True),  # a bare 404
            (_refused(404, 10015), False),  # the webhook is gone
            (_refused(403, 50013), False),
            (_refused(400, 50035, "rejected"), False),
            (_refused(500, None, "retry"), False),
            (_refused(429, None, "rate_limited"), False),
        ],
    )
    def test_an_edit_refused(self, outcome: Outcome, again: bool) -> None:
        placer, state, _ = _setup(Place(board="db"), _board())
        aim = placer.aim(state, _payload(), WALL)

        assert again is placer.learn(state, aim, outcome, WALL)

        gone = placer.places.get(BOARD, DEST, "db", WALL) is None
        assert again == gone
        if again:
            assert placer.aim(state, _payload(), WALL).edit is None

    @pytest.mark.parametrize(
        "outcome",
        [_refused(404, 10008), _refused(400, 30046, "rejected")],
    )
    def test_a_post_is_not_an_edit(self, outcome: Outcome) -> None:
        placer, state, _ = _setup(Place(board="db"))
        aim = placer.aim(state, _payload(), WALL)

        assert placer.learn(state, aim, outcome, WALL) is False

    def test_a_known_thread_gone_is_made_again(self) -> None:
        placer, state, warnings = _setup(Place(thread="BTC"), _thread())
        aim = placer.aim(state, _payload(), WALL)

        assert placer.learn(state, aim, _refused(404, 10003), WALL) is True

        assert placer.places.get(THREAD, DEST, "BTC", WALL) is None
        again = placer.aim(state, _payload(), WALL)
        assert again.making
        assert "BTC" == again.payload["thread_name"]
        assert [] == warnings.said

    def test_a_thread_named_by_id_gone_stands(self) -> None:
        """Not one we made: nothing to make again."""
        placer, state, _ = _setup(Place(thread_id=THREAD_ID))
        aim = placer.aim(state, _payload(), WALL)

        assert placer.learn(state, aim, _refused(404, 10003), WALL) is False

    @pytest.mark.parametrize(
        "code", [10003, 220003, 10008, 30046, 50035, None]
    )
    def test_other_refusals_of_a_post_stand(self, code: int | None) -> None:
        placer, state, warnings = _setup(Place(thread_id=THREAD_ID))
        aim = placer.aim(state, _payload(), WALL)

        assert placer.learn(state, aim, _refused(400, code), WALL) is False
        assert [] == warnings.said


class TestNotAForum:
    def _flat(self, author: str | None = None) -> tuple[Placer, Warnings]:
        placer, state, warnings = _setup(Place(thread="BTC"))
        aim = placer.aim(state, _payload(author), WALL)
        refused = _refused(400, 220003, "rejected")

        assert placer.learn(state, aim, refused, WALL) is True

        return placer, warnings

    def test_threads_go_into_the_author_line(self) -> None:
        placer, _ = self._flat()
        state = Lanes(gather=1.0, window=60.0, bound=10).of(
            TARGET, Place(thread="BTC")
        )

        aim = placer.aim(state, _payload("floor_boss"), WALL)

        assert not aim.making
        assert "thread_name" not in aim.payload
        assert aim.thread_id is None
        authors = [e["author"]["name"] for e in aim.payload["embeds"]]
        assert ["BTC · floor_boss", "BTC"] == authors

    def test_every_thread_of_the_destination(self) -> None:
        placer, _ = self._flat()
        state = Lanes(gather=1.0, window=60.0, bound=10).of(
            TARGET, Place(thread="ETH")
        )

        aim = placer.aim(state, _payload(), WALL)

        assert not aim.making
        assert "ETH" == aim.payload["embeds"][0]["author"]["name"]

    def test_the_author_line_is_clamped(self) -> None:
        placer, _ = self._flat()
        state = Lanes(gather=1.0, window=60.0, bound=10).of(
            TARGET, Place(thread="BTC")
        )

        aim = placer.aim(state, _payload("x" * 300), WALL)

        for embed in aim.payload["embeds"]:
            assert len(embed["author"]["name"]) <= MAX_AUTHOR_NAME
            assert embed["author"]["name"].startswith("BTC")

    def test_said_once(self) -> None:
        placer, warnings = self._flat()
        state = Lanes(gather=1.0, window=60.0, bound=10).of(
            TARGET, Place(thread="BTC")
        )
        for n in range(3):
            aim = placer.aim(state, _payload(), WALL + n)
            refused = _refused(400, 220003, "rejected")
            assert placer.learn(state, aim, refused, WALL + n) is False

        assert 1 == len(warnings.said)
        key, text = warnings.said[0]
        assert f"flat:{DEST}" == key
        assert "forum" in text
        assert "SeCrEtWeBhOoKtOkEn" not in text
        assert "thread" not in text.partition(" is not")[0]

    def test_a_known_thread_is_still_posted_into(self) -> None:
        placer, _ = self._flat()
        placer.places.put(_thread("ETH"), WALL)
        state = Lanes(gather=1.0, window=60.0, bound=10).of(
            TARGET, Place(thread="ETH")
        )

        aim = placer.aim(state, _payload(), WALL)

        assert THREAD_ID == aim.thread_id
        assert "author" not in aim.payload["embeds"][0]


def test_aim_is_a_value() -> None:
    aim = Aim({"embeds": []})

    assert (None, None, "", "", False) == (
        aim.thread_id,
        aim.edit,
        aim.key,
        aim.channel,
        aim.making,
    )


def test_a_bot_channel_names_its_thread_in_the_author_line() -> None:
    """A bot makes no thread by name here: no thread_name, no warning."""
    bot = Channel(
        key="ops",
        name="ops",
        destination=BotChannelDestination(channel_id="222222222222222222"),
    )
    warnings = Warnings()
    placer = Placer(Places(), warnings)
    state = Lanes(gather=1.0, window=60.0, bound=10).of(
        bot, Place(thread="BTC")
    )

    aim = placer.aim(state, _payload(), WALL)

    assert not aim.making
    assert "thread_name" not in aim.payload
    assert "BTC" == aim.payload["embeds"][1]["author"]["name"]
    assert [] == warnings.said
