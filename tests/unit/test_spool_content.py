"""
Tests for where a message goes, who it is from and its files, as the
spool keeps them (``_spool/content.py``) and reads them back.

What is read back is a draft, never orders: a thread's name, a username
and a file's text are redacted again, ids are kept only if they are
ids, names Discord refuses and links that are not http(s) are left out,
and a file's name is a plain name, never a path.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import pytest

from polybot_loghandler._config import parse_config
from polybot_loghandler._events import LogEvent
from polybot_loghandler._files import MAX_FILE_BYTES
from polybot_loghandler._limits import clamp
from polybot_loghandler._message import Attachment, Place, RoutedMessage
from polybot_loghandler._model import Config
from polybot_loghandler._payload import build_payload
from polybot_loghandler._spool.content import (
    files_of,
    files_read,
    identity_of,
    identity_read,
    place_of,
    place_read,
)
from polybot_loghandler._spool.keeper import decode, encode
from polybot_loghandler._spool.store import SpoolEntry
from polybot_loghandler._text import REDACTED

LOGGED = 1_790_000_000.0
KEY = b"k" * 32
WEBHOOK_TOKEN = "Zq3xWebhookTokenSecretPart_0123456789abcdefABCDEF"
WEBHOOK_URL = (
    f"https://discord.com/api/webhooks/123456789012345678/{WEBHOOK_TOKEN}"
)
BOT_TOKEN = (
    "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789"
)
SECRETS = (WEBHOOK_TOKEN, BOT_TOKEN)
THREAD_ID = "123456789012345678"
ROUTING = f"""
version: 1
channels:
  trades: {WEBHOOK_URL}
routes:
  - {{name: pager, to: trades, mention: "role:123456789012345678"}}
"""
ENTRY = SpoolEntry(
    ref=(1, 1),
    channel="trades",
    level=logging.WARNING,
    time=LOGGED,
    size=100,
)


def _config() -> Config:
    return parse_config(ROUTING)


def _message(
    place: Place | None = None,
    identity: dict[str, str] | None = None,
    files: tuple[Attachment, ...] = (),
) -> RoutedMessage:
    config = _config()
    route = config.routes[0]
    embed = {"title": "Health", "footer": {"text": "watch · WARNING"}}
    payload = build_payload([embed], route.mention)
    payload.update(identity or {})
    return RoutedMessage(
        channel="trades",
        route=route.name,
        payload=payload,
        embed=embed,
        event=LogEvent(
            event="system_health",
            level=logging.WARNING,
            logger="watch",
            time=LOGGED,
            fields={},
        ),
        target=config.channels["trades"],
        coalesce=route.coalesce,
        place=place,
        files=files,
    )


def _decode(body: dict[str, Any]) -> RoutedMessage:
    config = _config()
    routes = {route.name: route for route in config.routes}
    return decode(body, ENTRY, config.channels["trades"], routes)


NOT_MAPPINGS = [None, 7, "thread", ["thread", "BTC"], b"{}", 1.5]


class TestPlaceRead:
    @pytest.mark.parametrize("raw", NOT_MAPPINGS)
    def test_not_a_mapping(self, raw: Any) -> None:
        assert place_read(raw) is None

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ({}, None),
            ({"thread": "BTC"}, Place(thread="BTC")),
            ({"board": "db"}, Place(board="db")),
            ({"thread_id": THREAD_ID}, Place(thread_id=THREAD_ID)),
            (
                {"thread": "BTC", "board": "db"},
                Place(thread="BTC", board="db"),
            ),
            # wrong types are left out
            ({"thread": 7}, None),
            ({"thread": ["BTC"]}, None),
            ({"board": {"db": 1}}, None),
            ({"thread_id": int(THREAD_ID)}, None),
            ({"thread": 7, "board": "db"}, Place(board="db")),
            # an id only if it is one
            ({"thread_id": "abc"}, None),
            ({"thread_id": "-123456789012345678"}, None),
            ({"thread_id": "1"}, None),
            ({"thread_id": "9" * 30}, None),
            ({"thread_id": f" {THREAD_ID}"}, None),
            ({"thread_id": "abc", "board": "db"}, Place(board="db")),
            # both: the thread wins
            (
                {"thread": "BTC", "thread_id": THREAD_ID},
                Place(thread="BTC"),
            ),
            # one line, cut to Discord's 100
            ({"thread": "a\nb"}, Place(thread="a b")),
            ({"thread": "x" * 300}, Place(thread=clamp("x" * 300, 100))),
            ({"thread": ""}, None),
        ],
    )
    def test_read_back(self, raw: dict[str, Any], expected: Place) -> None:
        assert expected == place_read(raw)

    @pytest.mark.parametrize("secret", [WEBHOOK_URL, BOT_TOKEN])
    @pytest.mark.parametrize("part", ["thread", "board"])
    def test_a_token_in_a_name_is_redacted(
        self, secret: str, part: str
    ) -> None:
        place = place_read({part: f"leak {secret}"})

        assert place is not None
        name = place.thread if part == "thread" else place.board
        assert name is not None
        assert name.startswith("leak ")
        assert REDACTED in name
        for token in SECRETS:
            assert token not in name

    def test_what_place_of_keeps(self) -> None:
        place = Place(thread="BTC", board="db")

        assert {"thread": "BTC", "board": "db"} == place_of(place)
        assert {} == place_of(None)
        assert place == place_read(place_of(place))


class TestIdentityRead:
    @pytest.mark.parametrize("raw", NOT_MAPPINGS)
    def test_not_a_mapping(self, raw: Any) -> None:
        assert {} == identity_read(raw)

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ({}, {}),
            ({"username": "Risk"}, {"username": "Risk"}),
            (
                {
                    "username": "Risk",
                    "avatar_url": "https://example.com/a.png",
                },
                {
                    "username": "Risk",
                    "avatar_url": "https://example.com/a.png",
                },
            ),
            ({"username": 7}, {}),
            ({"username": ["Risk"]}, {}),
            ({"username": ""}, {}),
            ({"username": "x" * 200}, {"username": clamp("x" * 200, 80)}),
            ({"username": "Risk\nDesk"}, {"username": "Risk Desk"}),
            # names Discord refuses
            ({"username": "Discord"}, {}),
            ({"username": "Official DISCORD Staff"}, {}),
            ({"username": "clyde"}, {}),
            ({"username": "Clyde bot"}, {}),
            # pictures: http(s) only, hiding no token
            (
                {"avatar_url": "http://example.com/a.png"},
                {"avatar_url": "http://example.com/a.png"},
            ),
            ({"avatar_url": "javascript:alert(1)"}, {}),
            ({"avatar_url": "file:///etc/passwd"}, {}),
            ({"avatar_url": "ftp://example.com/a.png"}, {}),
            ({"avatar_url": "data:image/png;base64,AAAA"}, {}),
            ({"avatar_url": 7}, {}),
            ({"avatar_url": WEBHOOK_URL}, {}),
            ({"avatar_url": f"https://x.example/?t={BOT_TOKEN}"}, {}),
            ({"avatar_url": "https://example.com/a b\n.png"}, {}),
            ({"avatar_url": "https://example.com/" + "a" * 3000}, {}),
        ],
    )
    def test_read_back(
        self, raw: dict[str, Any], expected: dict[str, str]
    ) -> None:
        assert expected == identity_read(raw)

    def test_a_token_in_a_username_is_redacted(self) -> None:
        name = identity_read({"username": f"x {BOT_TOKEN}"})["username"]

        assert name.startswith("x ")
        assert REDACTED in name
        assert BOT_TOKEN not in name

    def test_a_webhook_url_as_a_username_is_dropped(self) -> None:
        """It names Discord (discord.com): refused whole."""
        assert {} == identity_read({"username": f"x {WEBHOOK_URL}"})

    def test_what_identity_of_keeps(self) -> None:
        payload = {
            "username": "Risk",
            "avatar_url": "https://example.com/a.png",
            "content": "@everyone",
            "embeds": [],
            "thread_name": "BTC",
        }

        kept = identity_of(payload)

        assert {"username", "avatar_url"} == set(kept)
        assert kept == identity_read(kept)
        assert {} == identity_of({"username": 7})


def _file(name: Any = "traceback.txt", text: Any = "Traceback ...") -> Any:
    return {"name": name, "text": text}


class TestFilesRead:
    @pytest.mark.parametrize(
        "raw",
        [None, 7, "traceback.txt", {"name": "a.txt", "text": "x"}, b"[]"],
    )
    def test_not_a_list(self, raw: Any) -> None:
        assert () == files_read(raw)

    @pytest.mark.parametrize(
        "item",
        [
            _file("../x"),
            _file("/etc/passwd"),
            _file("a/b.txt"),
            _file("a\\b.txt"),
            _file("..\\x"),
            _file(".hidden"),
            _file("-rf"),
            _file(""),
            _file("x" * 65),
            _file("trace back.txt"),
            _file("trace\nback.txt"),
            _file("tracé.txt"),
            _file(7),
            _file(None),
            _file(text=7),
            _file(text=None),
            _file(text=b"bytes"),
            {"name": "traceback.txt"},
            {"text": "x"},
            "traceback.txt",
            ["traceback.txt", "x"],
            None,
        ],
    )
    def test_refused(self, item: Any) -> None:
        assert () == files_read([item, _file("kept.txt")])[:-1]
        assert [Attachment("kept.txt", "Traceback ...")] == list(
            files_read([item, _file("kept.txt")])
        )

    @pytest.mark.parametrize(
        "name", ["traceback.txt", "a", "x" * 64, "A-b_c.d.log", "0.txt"]
    )
    def test_plain_names_are_kept(self, name: str) -> None:
        assert (Attachment(name, "Traceback ..."),) == files_read(
            [_file(name)]
        )

    def test_at_most_ten(self) -> None:
        files = files_read([_file(f"f{n}.txt") for n in range(12)])

        assert [f"f{n}.txt" for n in range(10)] == [f.name for f in files]

    @pytest.mark.parametrize("secret", [WEBHOOK_URL, BOT_TOKEN])
    def test_a_token_in_the_text_is_redacted(self, secret: str) -> None:
        (got,) = files_read([_file(text=f"line 1\nkey={secret}\nline 3")])

        assert got.text.startswith("line 1\n")
        assert got.text.endswith("\nline 3")
        assert REDACTED in got.text
        for token in SECRETS:
            assert token not in got.text

    def test_a_huge_text_is_capped(self) -> None:
        (got,) = files_read([_file(text="x\n" * MAX_FILE_BYTES)])

        assert len(got.text.encode()) <= MAX_FILE_BYTES

    def test_what_files_of_keeps(self) -> None:
        files = (Attachment("a.txt", "one"), Attachment("b.txt", "two"))

        assert files == files_read(files_of(files))


class TestRoundTrip:
    IDENTITY: ClassVar[dict[str, str]] = {
        "username": "Risk",
        "avatar_url": "https://example.com/a.png",
    }
    FILES = (Attachment("traceback.txt", "Traceback (most recent call)"),)

    @pytest.mark.parametrize(
        "place",
        [
            None,
            Place(thread="BTC"),
            Place(thread_id=THREAD_ID),
            Place(thread="BTC", board="db"),
        ],
    )
    def test_place_identity_and_files_are_kept(
        self, place: Place | None
    ) -> None:
        message = _message(place, self.IDENTITY, self.FILES)

        again = _decode(encode(message, KEY))

        assert place == again.place
        assert self.FILES == again.files
        for key, value in self.IDENTITY.items():
            assert value == again.payload[key]

    def test_nothing_extra_is_kept(self) -> None:
        body = encode(_message(), KEY)

        assert not {"place", "as", "files"} & set(body)
        again = _decode(body)
        assert again.place is None
        assert () == again.files
        assert "username" not in again.payload

    def test_an_ordinary_message_pings_as_its_route_says(self) -> None:
        again = _decode(encode(_message(Place(thread="BTC")), KEY))

        assert "<@&123456789012345678>" == again.payload["content"]

    @pytest.mark.parametrize(
        "place", [Place(board="db"), Place(thread="BTC", board="db")]
    )
    def test_a_board_never_pings(self, place: Place) -> None:
        message = _message(place, self.IDENTITY)
        assert "content" in message.payload  # its route has a mention

        again = _decode(encode(message, KEY))

        assert "content" not in again.payload
        assert {"parse": []} == again.payload["allowed_mentions"]
        assert "Risk" == again.payload["username"]
        assert place == again.place
        assert again.coalesce is None

    def test_planted_values_are_made_safe(self) -> None:
        body = encode(_message(), KEY)
        body["place"] = {
            "thread": f"BTC {BOT_TOKEN}",
            "thread_id": "not-an-id",
            "board": 7,
        }
        body["as"] = {"username": "Discord", "avatar_url": "javascript:x"}
        body["files"] = [
            _file("../../etc/cron.d/x", "* * * * * root sh"),
            _file("ok.txt", f"url={WEBHOOK_URL}"),
        ]

        again = _decode(body)

        assert again.place is not None
        assert again.place.thread is not None
        assert BOT_TOKEN not in again.place.thread
        assert (None, None) == (again.place.thread_id, again.place.board)
        assert "username" not in again.payload
        assert "avatar_url" not in again.payload
        assert ["ok.txt"] == [f.name for f in again.files]
        assert WEBHOOK_TOKEN not in again.files[0].text
