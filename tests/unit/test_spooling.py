"""
What the engine keeps in the spool, what it trusts of it, and how late
messages say so.

The keeper's tests use real directories under ``tmp_path``; the tests run
as root, so a directory of another user is made with ``os.chown``.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakes.discord_schema import assert_valid_payload
from polybot_loghandler._batching import coalesce_key
from polybot_loghandler._config import parse_config
from polybot_loghandler._events import LogEvent
from polybot_loghandler._message import RoutedMessage
from polybot_loghandler._model import Channel, Coalesce, Config
from polybot_loghandler._payload import (
    DELAY_NOTE_AFTER,
    build_payload,
    with_delay,
)
from polybot_loghandler._spool.content import (
    by_digest,
    repr_of,
    sanitize_embed,
)
from polybot_loghandler._spool.directory import (
    KEY_NAME,
    UntrustedSpoolError,
    check_directory,
    load_key,
)
from polybot_loghandler._spool.keeper import SpoolKeeper, decode, encode
from polybot_loghandler._spool.status import status
from polybot_loghandler._spool.store import Spool, SpoolEntry
from tests.support.delivery import T0, routing
from tests.support.delivery import message as delivery_message

LOGGED = 1_790_000_000.0
KEY = b"k" * 32
NOBODY = 65534
WEBHOOK_TOKEN = "Zq3xWebhookTokenSecretPart_0123456789abcdefABCDEF"
WEBHOOK_URL = (
    f"https://discord.com/api/webhooks/123456789012345678/{WEBHOOK_TOKEN}"
)
BOT_TOKEN = (
    "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789"
)
ROUTING = f"""
version: 1
channels:
  trades: {WEBHOOK_URL}
routes:
  - name: trades
    to: trades
    coalesce: {{by: [component, api_key]}}
  - {{name: pager, to: trades, mention: "role:123456789012345678"}}
  - {{name: loud, to: trades, mention: everyone}}
"""


def _config() -> Config:
    return parse_config(ROUTING)


def _message(
    route: str = "trades", payload: dict[str, Any] | None = None, **fields: Any
) -> RoutedMessage:
    embed = {"title": "Trade", "footer": {"text": "trader · INFO"}}
    return RoutedMessage(
        channel="trades",
        route=route,
        payload=payload or build_payload([embed], None),
        embed=embed,
        event=LogEvent(
            event="trade_executed",
            level=logging.WARNING,
            logger="trader",
            time=LOGGED,
            fields=fields,
        ),
        target=Channel(key="trades", name="trades", destination=None),
        coalesce=Coalesce(by=("component", "api_key"), window=300.0),
    )


ENTRY = SpoolEntry(
    ref=(1, 1),
    channel="trades",
    level=logging.WARNING,
    time=LOGGED,
    size=100,
)


def _decode(body: dict[str, Any]) -> RoutedMessage:
    config = _config()
    routes = {route.name: route for route in config.routes}
    return decode(body, ENTRY, config.channels["trades"], routes)


class TestWithDelay:
    def test_on_time_is_unchanged(self) -> None:
        embed = {"title": "x"}

        assert embed is with_delay(embed, LOGGED, LOGGED + 5)

    def test_late_says_so_and_keeps_its_time(self) -> None:
        embed = {"title": "x", "footer": {"text": "trader · INFO"}}

        late = with_delay(embed, LOGGED, LOGGED + 12 * 60)

        assert "trader · INFO · delayed 12m" == late["footer"]["text"]
        assert "2026-09-21T14:13:20+00:00" == late["timestamp"]
        assert "footer" in embed
        assert "trader · INFO" == embed["footer"]["text"], "not mutated"
        assert_valid_payload(build_payload([late], None))

    def test_a_chosen_timestamp_stays(self) -> None:
        embed = {"title": "x", "timestamp": "2026-01-01T00:00:00+00:00"}

        late = with_delay(embed, LOGGED, LOGGED + DELAY_NOTE_AFTER)

        assert "2026-01-01T00:00:00+00:00" == late["timestamp"]
        assert "delayed 2m" == late["footer"]["text"]

    def test_a_full_embed_still_fits(self) -> None:
        embed = {
            "title": "t" * 256,
            "description": "d" * 4096,
            "fields": [{"name": "n" * 256, "value": "v" * 1024}] * 2,
            "footer": {"text": "f" * 2048},
        }

        late = with_delay(embed, LOGGED, LOGGED + 3600)

        assert_valid_payload(build_payload([late], None))
        assert late["footer"]["text"].endswith("…")


class TestRoundTrip:
    def test_what_is_kept_sends_the_same_message(self) -> None:
        message = _message(component="risk", secret_note="x")

        again = _decode(encode(message, KEY))

        assert message.payload == again.payload
        assert message.embed == again.embed
        assert _config().routes[0].coalesce == again.coalesce
        assert (message.route, message.channel) == (
            again.route,
            again.channel,
        )
        assert LOGGED == again.event.time
        assert logging.WARNING == again.event.level

    def test_only_the_route_the_embed_and_hashes_are_kept(self) -> None:
        """The event's fields are in the embed, as rendered."""
        body = encode(_message(component="risk", api_key="hunter2"), KEY)

        assert {"route", "event", "embed", "by"} == set(body)
        assert {"component", "api_key"} == set(body["by"])
        assert "hunter2" not in json.dumps(body)
        assert "risk" not in json.dumps(body)


# -- item: no event value may break the spool's encoding ----------------------


class _BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("the ORM session is closed")


class _ReprNotText:
    def __repr__(self) -> Any:
        return 42


class _BadName(type):
    @property
    def __name__(cls) -> str:  # type: ignore[override] # a hostile class
        raise RuntimeError("no name")


class _Nameless(metaclass=_BadName):
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def _recursive() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


HOSTILE = [
    pytest.param(10**5000, id="int-too-long-for-repr"),
    pytest.param(_BadRepr(), id="raising-repr"),
    pytest.param(_ReprNotText(), id="repr-not-text"),
    pytest.param(_Nameless(), id="raising-repr-and-name"),
    pytest.param("x" * 5_000_000, id="huge-text"),
    pytest.param("report-\udcff.csv", id="lone-surrogate"),
    pytest.param(_recursive(), id="recursive-list"),
    pytest.param(b"\x00\xff", id="bytes"),
    pytest.param(float("nan"), id="nan"),
]


class TestEncodingNeverRaises:
    @pytest.mark.parametrize("value", HOSTILE)
    def test_encode(self, value: Any) -> None:
        body = encode(_message(component=value, api_key=value), KEY)

        json.dumps(body, ensure_ascii=False).encode()  # storable as it is
        assert body["by"]["component"] == by_digest(KEY, value)

    @pytest.mark.parametrize("value", HOSTILE)
    def test_the_keeper_appends_it(self, tmp_path: Path, value: Any) -> None:
        counts: dict[str, int] = {}
        keeper = _keeper(tmp_path / "spool", counts)

        entry = keeper.append(_message(component=value))
        keeper.commit()

        assert entry is not None
        assert {} == counts
        keeper.close()

    def test_repr_of_is_bounded(self) -> None:
        assert "<_BadRepr>" == repr_of(_BadRepr())
        assert "<object>" == repr_of(_Nameless())
        assert "<int of 16610 bits>" == repr_of(10**5000)
        assert 100_000 == len(repr_of("x" * 1_000_000))

    @settings(max_examples=200, deadline=None)
    @given(
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats()
            | st.text()
            | st.binary()
            | st.builds(_BadRepr)
            | st.builds(_ReprNotText)
            | st.builds(pow, st.just(10), st.integers(4300, 6000)),
            lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
            max_leaves=10,
        )
    )
    @pytest.mark.slow
    def test_any_value(self, value: Any) -> None:
        body = encode(_message(component=value), KEY)

        json.dumps(body, ensure_ascii=False).encode()

    def test_a_path_that_cannot_be_a_directory(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        counts: dict[str, int] = {}
        keeper = _keeper(Path("/tmp/spool\0x"), counts)

        assert keeper.append(_message(component="x")) is None
        assert {"errors.spool": 1} == counts
        assert "cannot use the spool" in capsys.readouterr().err

    def test_a_store_that_fails_keeps_the_message_in_memory(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        counts: dict[str, int] = {}
        keeper = _keeper(tmp_path / "spool", counts)
        assert keeper.usable

        def fail(*args: object) -> None:
            raise TypeError("Object of type X is not JSON serializable")

        monkeypatch.setattr(Spool, "append", fail)

        assert keeper.append(_message(component="risk")) is None
        assert keeper.append(_message(component="risk")) is None
        assert {"errors.spool": 2} == counts
        err = capsys.readouterr().err
        assert 1 == err.count("could not be written to the spool")
        keeper.close()


# -- item: `coalesce: by` values are never on disk ----------------------------


SECRETS = [WEBHOOK_URL, WEBHOOK_TOKEN, BOT_TOKEN, "hunter2", 123456]


class TestByValuesAreHashed:
    @pytest.mark.parametrize("secret", SECRETS)
    def test_the_value_is_not_kept(self, secret: object) -> None:
        body = encode(_message(component="risk", api_key=secret), KEY)

        assert str(secret) not in json.dumps(body)
        assert repr(secret) not in json.dumps(body)

    def test_duplicates_still_merge_after_a_replay(self) -> None:
        """Same secret: one key; another secret: another key."""
        keys = [
            coalesce_key(_decode(encode(_message(api_key=secret), KEY)))
            for secret in ("sk-live-1", "sk-live-1", "sk-live-2")
        ]

        assert keys[0] is not None
        assert keys[0] == keys[1] != keys[2]

    def test_the_key_is_the_directory_s(self, tmp_path: Path) -> None:
        """Processes sharing a directory share the key; it is ours alone."""
        first, second = load_key(tmp_path), load_key(tmp_path)

        assert first == second
        assert 32 == len(first)
        info = (tmp_path / KEY_NAME).stat()
        assert 0o600 == stat.S_IMODE(info.st_mode)
        assert [KEY_NAME] == [p.name for p in tmp_path.iterdir()]
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        assert load_key(elsewhere) != first

    @pytest.mark.parametrize(
        "spoil",
        [
            pytest.param(lambda p: p.chmod(0o644), id="readable-by-others"),
            pytest.param(lambda p: os.chown(p, NOBODY, NOBODY), id="foreign"),
            pytest.param(lambda p: p.write_bytes(b"short"), id="short"),
            pytest.param(
                lambda p: (p.unlink(), p.symlink_to("/etc/hostname")),
                id="symlink",
            ),
        ],
    )
    def test_a_spoilt_key_is_replaced(
        self, tmp_path: Path, spoil: Any
    ) -> None:
        old = load_key(tmp_path)
        spoil(tmp_path / KEY_NAME)

        new = load_key(tmp_path)

        assert new != old
        assert new == load_key(tmp_path)
        info = (tmp_path / KEY_NAME).lstat()
        assert stat.S_ISREG(info.st_mode)
        assert (os.geteuid(), 0o600) == (
            info.st_uid,
            stat.S_IMODE(info.st_mode),
        )


# -- item: the spool directory and what is read back --------------------------


def _keeper(directory: Path, counts: dict[str, int]) -> SpoolKeeper:
    def count(name: str, n: int) -> None:
        counts[name] = counts.get(name, 0) + n

    return SpoolKeeper(str(directory), 2**20, count)


@pytest.fixture
def spool_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "spool"
    directory.mkdir(mode=0o700)
    yield directory
    os.chown(directory, 0, 0)  # so tmp_path can be cleaned


#: mode, owner (None: ours), refused, warned (None: not asked)
Case = tuple[int, int | None, bool, bool | None]
DIRECTORIES = [
    pytest.param((0o700, None, False, False), id="0700-ours"),
    pytest.param((0o755, None, False, False), id="0755-ours"),
    pytest.param((0o750, None, False, False), id="0750-ours"),
    pytest.param((0o770, None, False, True), id="0770-group-writable"),
    pytest.param((0o1777, None, False, True), id="1777-sticky"),
    pytest.param((0o777, None, True, None), id="0777-no-sticky"),
    pytest.param((0o703, None, True, None), id="0703-others-write"),
    pytest.param((0o700, NOBODY, True, None), id="0700-nobody-s"),
    pytest.param((0o1777, NOBODY, True, None), id="1777-nobody-s"),
]


def _make(directory: Path, case: Case) -> tuple[bool, bool | None]:
    mode, owner, refused, warned = case
    directory.chmod(mode)
    if owner is not None:
        os.chown(directory, owner, owner)
    return refused, warned


class TestTheDirectory:
    @pytest.mark.parametrize("case", DIRECTORIES)
    def test_check(self, spool_dir: Path, case: Case) -> None:
        refused, warned = _make(spool_dir, case)

        if refused:
            with pytest.raises(UntrustedSpoolError) as caught:
                check_directory(spool_dir)
            assert "plant messages" in str(caught.value)
        else:
            warning = check_directory(spool_dir)
            assert warned == (warning is not None)

    @pytest.mark.parametrize("case", DIRECTORIES)
    def test_the_keeper_falls_back_to_memory_once(
        self,
        spool_dir: Path,
        capsys: pytest.CaptureFixture[str],
        case: Case,
    ) -> None:
        refused, warned = _make(spool_dir, case)
        counts: dict[str, int] = {}
        keeper = _keeper(spool_dir, counts)

        kept = [keeper.append(_message(component="x")) for _ in range(3)]
        keeper.close()

        err = capsys.readouterr().err
        if refused:
            assert [None] * 3 == kept
            assert {"errors.spool": 1} == counts
            assert 1 == err.count("cannot use the spool")
            assert "kept in memory only" in err
            assert not list(spool_dir.iterdir()), "nothing written there"
        else:
            assert None not in kept
            assert {} == counts
            assert warned == ("written by its group" in err)

    def test_a_parent_anyone_can_write_is_refused(
        self, tmp_path: Path
    ) -> None:
        shared = tmp_path / "shared"
        shared.mkdir()
        shared.chmod(0o777)
        (shared / "spool").mkdir(mode=0o700)

        with pytest.raises(UntrustedSpoolError, match="which holds it"):
            check_directory(shared / "spool")

    def test_created_0700_with_0600_files(self, tmp_path: Path) -> None:
        directory = tmp_path / "new" / "spool"
        keeper = _keeper(directory, {})

        keeper.append(_message(component="x"))
        keeper.commit()

        assert 0o700 == stat.S_IMODE(directory.stat().st_mode)
        files = {p.name: p for p in directory.iterdir()}
        assert {"spool.db", "spool.db-wal", "spool.db-shm", KEY_NAME} == set(
            files
        )
        assert {0o600} == {
            stat.S_IMODE(p.stat().st_mode) for p in files.values()
        }
        keeper.close()

    def test_made_safe_whatever_the_umask(self, tmp_path: Path) -> None:
        """Directories it creates above the spool are not everyone's."""
        old = os.umask(0)
        try:
            keeper = _keeper(tmp_path / "data" / "deep" / "spool", {})
            assert keeper.usable
            keeper.append(_message(component="x"))
            keeper.close()
        finally:
            os.umask(old)

        modes = [
            stat.S_IMODE((tmp_path / part).stat().st_mode)
            for part in ("data", "data/deep", "data/deep/spool")
        ]
        assert [0o755, 0o755, 0o700] == modes
        key = tmp_path / "data" / "deep" / "spool" / KEY_NAME
        assert 0o600 == stat.S_IMODE(key.stat().st_mode)

    @pytest.mark.parametrize(
        "spoil",
        [
            pytest.param(lambda p: os.chown(p, NOBODY, NOBODY), id="foreign"),
            pytest.param(lambda p: p.chmod(0o666), id="others-write"),
            pytest.param(lambda p: p.chmod(0o620), id="group-writes"),
        ],
    )
    def test_a_database_others_could_write_is_refused(
        self,
        spool_dir: Path,
        capsys: pytest.CaptureFixture[str],
        spoil: Any,
    ) -> None:
        spool_dir.chmod(0o1777)  # others may add files, not touch ours
        planted = Spool(spool_dir)
        planted.open()
        planted.append("trades", 40, LOGGED, {"route": "x", "embed": {}})
        planted.commit()
        planted.close()
        spoil(spool_dir / "spool.db")
        counts: dict[str, int] = {}
        keeper = _keeper(spool_dir, counts)

        assert [] == keeper.start()
        assert not keeper.usable
        assert 0 == keeper.pending
        assert {"errors.spool": 1} == counts
        err = capsys.readouterr().err
        assert f"cannot use the spool {spool_dir}" in err
        assert "belongs to another user, or others may write it" in err
        assert "kept in memory only" in err
        keeper.close()
        found = status(spool_dir)
        assert ({}, 1) == (found.pending, found.untrusted)
        assert (spool_dir / "spool.db").exists(), "not ours to delete"

    @pytest.mark.parametrize(
        "spoil",
        [
            pytest.param(lambda p: os.chown(p, NOBODY, NOBODY), id="foreign"),
            pytest.param(lambda p: p.chmod(0o666), id="others-write"),
            pytest.param(lambda p: p.chmod(0o620), id="group-writes"),
        ],
    )
    def test_an_old_segment_others_could_write_is_ignored(
        self,
        spool_dir: Path,
        capsys: pytest.CaptureFixture[str],
        spoil: Any,
    ) -> None:
        spool_dir.chmod(0o1777)
        segment = spool_dir / "7-00ff00ff00ff00ff.spool"
        segment.write_bytes(
            _old_record(
                {"k": "m", "n": 1, "ch": "trades", "lv": 40, "t": LOGGED}
                | {"b": {"route": "x", "embed": {"title": "planted"}}}
            )
        )
        segment.chmod(0o600)
        spoil(segment)
        counts: dict[str, int] = {}
        keeper = _keeper(spool_dir, counts)

        assert [] == keeper.start()
        assert keeper.usable
        assert 0 == keeper.pending
        assert {"errors.spool": 1} == counts
        assert f"ignoring {segment}" in capsys.readouterr().err
        assert [] == keeper.adopt(), "and not again"
        assert {"errors.spool": 1} == counts
        keeper.close()
        found = status(spool_dir)
        assert (0, 1) == (found.legacy, found.untrusted)
        assert segment.exists(), "not ours to delete"


def _old_record(record: dict[str, Any]) -> bytes:
    """A record line of the spool's old format."""
    data = json.dumps(record, separators=(",", ":")).encode()
    return f"{zlib.crc32(data):08x} ".encode() + data + b"\n"


PLANTED_EMBED = {
    "title": "@everyone look",
    "description": f"<@&1> <@!2> @here {WEBHOOK_URL}",
    "url": f"{WEBHOOK_URL}",
    "color": 0xFF0000,
    "fields": [
        {"name": "@everyone", "value": BOT_TOKEN, "inline": True},
        {"name": 3, "value": "not a text name"},
        "not a field",
    ],
    "footer": {"text": f"<@123> {BOT_TOKEN}", "icon_url": "javascript:x"},
    "author": {"name": "@here", "url": WEBHOOK_URL},
    "image": {"url": "https://evil.example/pixel.png"},
    "timestamp": "not a time",
}
PLANTED = {
    "route": "trades",
    "payload": {
        "content": "@everyone",
        "allowed_mentions": {"parse": ["everyone", "roles", "users"]},
        "username": "Discord Staff",
        "thread_id": "1",
    },
    "content": "@everyone",
    "allowed_mentions": {"parse": ["everyone"]},
    "embed": PLANTED_EMBED,
    "coalesce": [True, None, 1e18],
}


def _shown(message: RoutedMessage) -> str:
    return json.dumps(message.payload, ensure_ascii=False)


class TestReadBack:
    def test_the_ping_comes_from_the_route(self) -> None:
        message = _decode(PLANTED)

        assert {"parse": []} == message.payload["allowed_mentions"]
        assert "content" not in message.payload
        assert {"allowed_mentions", "embeds"} == set(message.payload)
        assert_valid_payload(message.payload)

    @pytest.mark.parametrize(
        ("route", "content", "allowed"),
        [
            ("trades", None, {"parse": []}),
            (
                "pager",
                "<@&123456789012345678>",
                {"parse": [], "roles": ["123456789012345678"]},
            ),
            ("loud", "@everyone", {"parse": ["everyone"]}),
            ("gone", None, {"parse": []}),
            (7, None, {"parse": []}),
        ],
    )
    def test_each_route_s_own_ping(
        self, route: Any, content: str | None, allowed: dict[str, Any]
    ) -> None:
        """A route that no longer exists pings no one."""
        message = _decode({**PLANTED, "route": route})

        assert content == message.payload.get("content")
        assert allowed == message.payload["allowed_mentions"]

    def test_the_coalescing_comes_from_the_route(self) -> None:
        assert _config().routes[0].coalesce == _decode(PLANTED).coalesce
        assert _decode({**PLANTED, "route": "gone"}).coalesce is None

    def test_the_embed_is_made_safe_again(self) -> None:
        embed = _decode(PLANTED).embed
        shown = json.dumps(embed, ensure_ascii=False)

        for secret in (WEBHOOK_TOKEN, BOT_TOKEN, "javascript:", "evil"):
            assert secret not in shown
        assert "@everyone" not in shown
        assert "@here" not in shown
        assert "<@&1>" not in shown
        assert "<@123>" not in shown
        assert "\u200b" in embed["title"]
        assert ["@\u200beveryone"] == [f["name"] for f in embed["fields"]]
        assert {"title", "description", "color", "fields"} <= set(embed)
        assert not {"url", "image", "timestamp"} & set(embed)

    @pytest.mark.parametrize(
        ("part", "limit"),
        [("title", 256), ("description", 4096)],
    )
    def test_a_token_across_the_cut_is_redacted_whole(
        self, part: str, limit: int
    ) -> None:
        for at in range(limit - 60, limit + 1, 7):
            text = "x" * at + " " + BOT_TOKEN + " " + "y" * 10_000_000
            embed = sanitize_embed({part: text})

            assert BOT_TOKEN[:5] not in embed[part], at
            assert len(embed[part]) == limit

    @pytest.mark.parametrize(
        "embed",
        [None, "text", [], {}, {"title": ""}, {"color": 1}, {"title": 5}],
    )
    def test_no_embed_is_corrupt(self, embed: Any) -> None:
        with pytest.raises((TypeError, ValueError)):
            _decode({**PLANTED, "embed": embed})

    @settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        st.dictionaries(
            st.sampled_from(
                [
                    "title",
                    "description",
                    "url",
                    "color",
                    "fields",
                    "footer",
                    "author",
                    "timestamp",
                    "thumbnail",
                ]
            ),
            st.recursive(
                st.none()
                | st.booleans()
                | st.integers()
                | st.floats()
                | st.text()
                | st.sampled_from(
                    [
                        "@everyone",
                        "<@&1>",
                        WEBHOOK_URL,
                        BOT_TOKEN,
                        "x" * 7000,
                        "https://ok.example/a",
                        "2026-01-01T00:00:00+00:00",
                    ]
                ),
                lambda inner: (
                    st.lists(inner, max_size=30)
                    | st.dictionaries(
                        st.sampled_from(
                            [
                                "text",
                                "name",
                                "value",
                                "inline",
                                "url",
                                "icon_url",
                            ]
                        ),
                        inner,
                    )
                ),
                max_leaves=40,
            ),
        )
    )
    @pytest.mark.slow
    def test_any_embed_on_disk_is_sent_safely_or_not_at_all(
        self, raw: dict[str, Any]
    ) -> None:
        try:
            embed = sanitize_embed(raw)
        except (TypeError, ValueError):
            return
        payload = build_payload([embed], None)

        assert_valid_payload(payload)
        shown = json.dumps(payload, ensure_ascii=False)
        assert WEBHOOK_TOKEN not in shown
        assert BOT_TOKEN not in shown
        assert "@everyone" not in shown
        assert "<@&1>" not in shown

    def test_take_forgets_a_corrupt_one_and_rebuilds_the_rest(
        self, tmp_path: Path
    ) -> None:
        counts: dict[str, int] = {}
        keeper = _keeper(tmp_path / "spool", counts)
        bad = keeper._spool  # the store under the keeper: plant directly
        assert keeper.usable
        planted = [
            bad.append("trades", 40, LOGGED, body)
            for body in ({**PLANTED, "embed": "x"}, PLANTED)
        ]
        keeper.commit()
        for entry in planted:
            keeper.wait("lane", entry)

        taken = keeper.take("lane", 10, _config())

        assert 1 == len(taken)
        assert {"dropped.spool_corrupt": 1} == counts
        message, _ = taken[0]
        assert {"parse": []} == message.payload["allowed_mentions"]
        assert "content" not in message.payload
        keeper.close()


# -- what waits on disk, and in which order it is read back ---------------

Waits = list[tuple[str, int, float]]  # title, level, time after T0

MIXED: Waits = [
    ("i1", logging.INFO, 0.0),
    ("w1", logging.WARNING, 1.0),
    ("i2", logging.INFO, 2.0),
    ("e1", logging.ERROR, 3.0),
    ("w2", logging.WARNING, 4.0),
]


class TestWaitingOnDisk:
    """
    A lane's messages on disk are read back the highest level first, and
    the oldest first within a level.
    """

    @pytest.fixture
    def keeper(self, tmp_path: Path) -> Iterator[SpoolKeeper]:
        keeper = _keeper(tmp_path / "spool", {})
        yield keeper
        keeper.close()

    def _wait(
        self, keeper: SpoolKeeper, waits: Waits, lane: str = "lane"
    ) -> dict[str, SpoolEntry]:
        """Write *waits* and leave them on disk for *lane*, by title."""
        config = routing()
        entries = {}
        for title, level, after in waits:
            m = delivery_message(config, title, level=level, time=T0 + after)
            entry = keeper.append(m)
            assert entry is not None
            keeper.wait(lane, entry)
            entries[title] = entry
        return entries

    @staticmethod
    def _titles(taken: list[tuple[RoutedMessage, SpoolEntry]]) -> list[str]:
        return [m.embed["title"] for m, _ in taken]

    @pytest.mark.parametrize(
        ("waits", "n", "expected"),
        [
            pytest.param(
                MIXED, 10, ["e1", "w1", "w2", "i1", "i2"], id="mixed"
            ),
            pytest.param(MIXED, 2, ["e1", "w1"], id="a-few"),
            pytest.param(
                [("w", logging.WARNING, 5.0), ("i", logging.INFO, 0.0)],
                10,
                ["w", "i"],
                id="a-newer-warning",
            ),
            pytest.param(
                [
                    ("i2", logging.INFO, 2.0),
                    ("w", logging.WARNING, 9.0),
                    ("i1", logging.INFO, 1.0),
                ],
                10,
                ["w", "i1", "i2"],
                id="left-over-out-of-order",
            ),
        ],
    )
    def test_take_reads_the_highest_level_first(
        self, keeper: SpoolKeeper, waits: Waits, n: int, expected: list[str]
    ) -> None:
        self._wait(keeper, waits)
        left = [e.time - T0 for e in keeper.waiting_entries("lane")]

        taken = keeper.take("lane", n, routing())

        assert expected == self._titles(taken)
        assert len(waits) - len(expected) == keeper.waiting("lane")
        # what is left is read back as waiting_entries said
        assert left[len(expected) :] == [
            e.time - T0 for e in keeper.waiting_entries("lane")
        ]

    @pytest.mark.parametrize(
        ("levels", "level", "expected"),
        [
            ([], None, False),
            ([], logging.DEBUG, False),
            ([logging.INFO], None, True),
            ([logging.INFO], logging.DEBUG, True),
            ([logging.INFO], logging.INFO, True),
            ([logging.INFO], logging.WARNING, False),
            ([logging.INFO, logging.ERROR], logging.WARNING, True),
            ([logging.INFO, logging.ERROR], logging.CRITICAL, False),
        ],
    )
    def test_has_waiting_at_a_level_or_higher(
        self,
        keeper: SpoolKeeper,
        levels: list[int],
        level: int | None,
        expected: bool,
    ) -> None:
        self._wait(keeper, [(f"{n}", lv, n) for n, lv in enumerate(levels)])

        assert expected == keeper.has_waiting("lane", level)
        assert not keeper.has_waiting("other", level)

    def test_has_waiting_passes_by_what_was_read_back(
        self, keeper: SpoolKeeper
    ) -> None:
        self._wait(keeper, MIXED)
        keeper.take("lane", 3, routing())  # e1, w1, w2

        assert not keeper.has_waiting("lane", logging.WARNING)
        assert keeper.has_waiting("lane", logging.INFO)

    def test_waiting_entries_leaves_out_what_the_spool_evicted(
        self, tmp_path: Path
    ) -> None:
        """A full spool evicts the oldest of the lowest level."""
        probe = _keeper(tmp_path / "probe", {})
        size = self._wait(probe, MIXED[:1])["i1"].size
        probe.close()
        counts: dict[str, int] = {}
        keeper = SpoolKeeper(
            str(tmp_path / "spool"),
            4 * size + size // 2,
            lambda name, n: counts.update({name: counts.get(name, 0) + n}),
        )
        entries = self._wait(keeper, MIXED)
        keeper.commit()

        waiting = keeper.waiting_entries("lane")
        taken = keeper.take("lane", 10, routing())
        keeper.close()

        assert {"dropped.spool_full": 1} == counts
        expected = [entries[t] for t in ("e1", "w1", "w2", "i2")]
        assert expected == waiting
        assert ["e1", "w1", "w2", "i2"] == self._titles(taken)

    def test_take_entries_reads_back_exactly_those(
        self, keeper: SpoolKeeper
    ) -> None:
        entries = self._wait(keeper, MIXED)
        other = self._wait(keeper, [("x", logging.ERROR, 5.0)], "other")
        wanted = [entries["i1"], entries["w2"], entries["i1"], other["x"]]

        taken = keeper.take_entries("lane", wanted, routing())

        assert ["i1", "w2"] == self._titles(taken)
        assert [entries["i1"], entries["w2"]] == [e for _, e in taken]
        assert [entries[t] for t in ("e1", "w1", "i2")] == (
            keeper.waiting_entries("lane")
        )
        assert (3, 1) == (keeper.waiting("lane"), keeper.waiting("other"))
        assert ["e1", "w1", "i2"] == self._titles(
            keeper.take("lane", 10, routing())
        )
        assert [] == keeper.take_entries("lane", wanted, routing())
