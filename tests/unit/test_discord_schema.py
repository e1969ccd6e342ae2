"""
Tests for the Discord webhook payload oracle in tests/support.

The oracle checks every request body the other tests see, so these tests
prove it can fail: each known-bad payload must be rejected, by the layer
expected to catch it, and payloads at the limits must still pass. What
Discord rejects and what only our own rules forbid are kept apart, and
the ping table pins who Discord would notify.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fakes import extract_openapi_subset
from fakes.discord_schema import (
    EMPTY_MESSAGE,
    SUBSET_PATH,
    Pings,
    assert_valid_payload,
    discord_errors,
    limit_errors,
    payload_errors,
    pings,
    rule_errors,
    schema_errors,
)


def _embed(**overrides: Any) -> dict[str, Any]:
    """
    Return a typical valid embed, with *overrides* applied.
    """
    embed: dict[str, Any] = {
        "title": "Order filled",
        "description": "BUY 10 YES @ 0.54",
        "color": 0x2ECC71,
        "timestamp": "2025-01-01T12:00:00.000Z",
        "fields": [{"name": "Market", "value": "BTC > 100k", "inline": True}],
        "footer": {"text": "polybot"},
        "author": {"name": "agent-1"},
    }
    embed.update(overrides)
    return embed


def _payload(
    *, drop: tuple[str, ...] = (), **overrides: Any
) -> dict[str, Any]:
    """
    Return a typical valid webhook body, with *overrides* and keys dropped.
    """
    payload: dict[str, Any] = {
        "content": "Trade update",
        "username": "polybot",
        "avatar_url": "https://example.com/avatar.png",
        "embeds": [_embed()],
        "allowed_mentions": {"parse": []},
    }
    payload.update(overrides)
    for key in drop:
        del payload[key]
    return payload


def _where(errors: list[str]) -> list[str]:
    """
    Return the location each error names, e.g. ``embeds[0].title``.
    """
    return [error.split(": ", 2)[1] for error in errors]


class TestAccepted:
    """
    Payloads Discord accepts pass both layers.
    """

    @pytest.mark.parametrize(
        "payload",
        [
            pytest.param(_payload(), id="typical"),
            pytest.param(
                _payload(drop=("embeds", "username", "avatar_url")),
                id="content-only",
            ),
            pytest.param(_payload(drop=("content",)), id="embeds-only"),
            pytest.param(
                _payload(
                    content="<@&123> paged",
                    allowed_mentions={"parse": [], "roles": ["123"]},
                ),
                id="explicit-role-ping",
            ),
            pytest.param(
                _payload(allowed_mentions={"parse": ["everyone"]}),
                id="parse-everyone",
            ),
            pytest.param(
                _payload(
                    content="x" * 2000,
                    embeds=[_embed(fields=[]) for _ in range(10)],
                ),
                id="content-2000-and-10-embeds",
            ),
            pytest.param(
                _payload(
                    embeds=[
                        _embed(
                            title="t" * 256,
                            description="d" * 4096,
                            fields=[{"name": "n" * 256, "value": "v" * 1024}],
                            footer={"text": "f" * 206},
                            author={"name": "a" * 162},
                            color=0xFFFFFF,
                        )
                    ]
                ),
                id="every-limit-reached-total-exactly-6000",
            ),
            pytest.param(
                _payload(
                    embeds=[
                        _embed(
                            fields=[
                                {"name": f"n{i}", "value": "v"}
                                for i in range(25)
                            ],
                            color=0,
                        )
                    ]
                ),
                id="25-fields-color-0",
            ),
        ],
    )
    def test_payload_has_no_errors(self, payload: dict[str, Any]) -> None:
        """
        A body within every limit yields no schema or limit errors.
        """
        assert not payload_errors(payload)
        assert_valid_payload(payload)

    def test_limits_count_text_after_trimming(self) -> None:
        """
        Leading and trailing whitespace does not count toward a limit.
        """
        payload = _payload(
            content="\n" + "c" * 2000 + "  ",
            embeds=[_embed(title="  " + "t" * 256 + "\n")],
        )

        assert not limit_errors(payload)


class TestRejected:
    """
    Each known-bad payload is caught, by the layer that should catch it.
    """

    @pytest.mark.parametrize(
        ("payload", "expected_schema", "expected_limits"),
        [
            pytest.param(
                _payload(embeds=[_embed() for _ in range(11)]),
                ["embeds"],
                ["embeds"],
                id="11-embeds",
            ),
            pytest.param(
                _payload(embeds=[_embed(title="t" * 300)]),
                ["embeds[0].title"],
                ["embeds[0].title"],
                id="title-300",
            ),
            pytest.param(
                _payload(embeds=[_embed(description="d" * 4097)]),
                ["embeds[0].description"],
                ["embeds[0].description"],
                id="description-4097",
            ),
            pytest.param(
                _payload(
                    embeds=[
                        _embed(
                            fields=[
                                {"name": f"n{i}", "value": "v"}
                                for i in range(26)
                            ]
                        )
                    ]
                ),
                ["embeds[0].fields"],
                ["embeds[0].fields"],
                id="26-fields",
            ),
            pytest.param(
                _payload(
                    embeds=[
                        _embed(fields=[{"name": "n", "value": "v" * 1025}])
                    ]
                ),
                ["embeds[0].fields[0].value"],
                ["embeds[0].fields[0].value"],
                id="field-value-1025",
            ),
            pytest.param(
                _payload(embeds=[_embed(fields=[{"name": "n"}])]),
                ["embeds[0].fields[0]"],
                ["embeds[0].fields[0].value"],
                id="field-without-value",
            ),
            pytest.param(
                _payload(
                    embeds=[_embed(fields=[{"name": " ", "value": "v"}])]
                ),
                [],
                ["embeds[0].fields[0].name"],
                id="field-name-blank",
            ),
            pytest.param(
                _payload(embeds=[_embed(footer={"text": "f" * 2049})]),
                ["embeds[0].footer.text"],
                ["embeds[0].footer.text"],
                id="footer-2049",
            ),
            pytest.param(
                _payload(embeds=[_embed(author={"name": "a" * 257})]),
                ["embeds[0].author.name"],
                ["embeds[0].author.name"],
                id="author-name-257",
            ),
            pytest.param(
                _payload(embeds=[_embed(color=16777216)]),
                ["embeds[0].color"],
                ["embeds[0].color"],
                id="color-16777216",
            ),
            pytest.param(
                _payload(embeds=[_embed(color="#ff0000")]),
                ["embeds[0].color"],
                ["embeds[0].color"],
                id="color-hex-string",
            ),
            pytest.param(
                _payload(embeds=[_embed(color=True)]),
                ["embeds[0].color"],
                ["embeds[0].color"],
                id="color-bool",
            ),
            pytest.param(
                _payload(content="c" * 2001),
                ["content"],
                ["content"],
                id="content-2001",
            ),
            pytest.param(
                _payload(allowed_mentions={"parse": ["here"]}),
                ["allowed_mentions.parse[0]"],
                [],
                id="parse-here",
            ),
            pytest.param(
                _payload(embeds=[_embed(timestamp="yesterday")]),
                ["embeds[0].timestamp"],
                [],
                id="timestamp-yesterday",
            ),
            pytest.param(
                _payload(username="u" * 81),
                ["username"],
                [],
                id="username-81",
            ),
            pytest.param(
                _payload(embeds=[{"description": "d" * 700}] * 10),
                [],
                ["embeds"],
                id="ten-700-char-descriptions-over-6000",
            ),
            pytest.param(
                _payload(
                    embeds=[
                        _embed(title="t" * 256, description="d" * 4096),
                        _embed(description="d" * 1700),
                    ]
                ),
                [],
                ["embeds"],
                id="total-over-6000-across-two-embeds",
            ),
            pytest.param(
                _payload(
                    allowed_mentions={"parse": ["roles"], "roles": ["1"]}
                ),
                [],
                ["allowed_mentions"],
                id="parse-roles-with-roles-list",
            ),
            pytest.param(
                _payload(
                    allowed_mentions={"parse": ["users"], "users": ["1"]}
                ),
                [],
                ["allowed_mentions"],
                id="parse-users-with-users-list",
            ),
            pytest.param(
                _payload(content="  \n", drop=("embeds",)),
                [],
                ["<root>"],
                id="blank-content-no-embeds",
            ),
            pytest.param(
                _payload(drop=("content", "embeds")),
                [],
                ["<root>"],
                id="no-content-no-embeds",
            ),
            pytest.param(
                _payload(content="", embeds=[], components=[], poll=None),
                [],
                ["<root>"],
                id="every-part-empty",
            ),
        ],
    )
    def test_payload_is_rejected(
        self,
        payload: dict[str, Any],
        expected_schema: list[str],
        expected_limits: list[str],
    ) -> None:
        """
        The schema and limit layers each report exactly the expected spots.
        """
        actual_schema = _where(schema_errors(payload))
        actual_limits = _where(limit_errors(payload))

        assert expected_schema == actual_schema
        assert expected_limits == actual_limits
        assert discord_errors(payload)
        with pytest.raises(AssertionError):
            assert_valid_payload(payload)

    def test_an_empty_message_gives_its_own_line(self) -> None:
        """
        The fake tells an empty message (50006) by this exact line.
        """
        errors = discord_errors(_payload(content=" ", drop=("embeds",)))

        assert [EMPTY_MESSAGE] == errors

    def test_assert_valid_payload_lists_every_problem(self) -> None:
        """
        The AssertionError names each problem, from both layers.
        """
        payload = _payload(
            content="c" * 2001,
            embeds=[_embed(title="t" * 300)],
            drop=("allowed_mentions",),
        )

        with pytest.raises(AssertionError) as excinfo:
            assert_valid_payload(payload)

        message = str(excinfo.value)
        assert "5 problems" in message
        for error in payload_errors(payload):
            assert error in message

    def test_schema_errors_abbreviate_long_values(self) -> None:
        """
        A too-long value is shortened in the message and its length stated.
        """
        errors = schema_errors(_payload(content="c" * 2001))

        assert len(errors) == 1
        assert "(length 2001, maxLength 2000)" in errors[0]
        assert len(errors[0]) < 200


_NULL_PARTS = {
    "description": None,
    "url": None,
    "footer": None,
    "image": None,
    "thumbnail": None,
    "video": None,
    "provider": None,
    "author": None,
}


class TestOurRules:
    """
    Bodies Discord accepts that our own rules forbid: the fake takes them
    and records them; payload_errors() and assert_valid_payload() refuse.
    """

    @pytest.mark.parametrize(
        ("payload", "expected"),
        [
            pytest.param(
                _payload(drop=("allowed_mentions",)),
                ["allowed_mentions"],
                id="allowed-mentions-missing",
            ),
            pytest.param(
                _payload(allowed_mentions=None),
                ["allowed_mentions", "allowed_mentions"],
                id="allowed-mentions-null",
            ),
            pytest.param(
                _payload(allowed_mentions={"roles": ["1"]}),
                ["allowed_mentions.parse"],
                id="allowed-mentions-without-parse",
            ),
            pytest.param(
                _payload(allowed_mentions={"parse": None}),
                ["allowed_mentions.parse", "allowed_mentions.parse"],
                id="parse-null",
            ),
            pytest.param(
                _payload(allowed_mentions={"parse": ["users"], "users": []}),
                ["allowed_mentions"],
                id="parse-users-beside-an-empty-users-list",
            ),
            pytest.param(
                _payload(embeds=[_embed(**_NULL_PARTS)]),
                [f"embeds[0].{part}" for part in _NULL_PARTS],
                id="null-embed-parts",
            ),
            pytest.param(
                _payload(content=None, username=None),
                ["content", "username"],
                id="null-top-level-parts",
            ),
        ],
    )
    def test_discord_accepts_what_our_rules_refuse(
        self, payload: dict[str, Any], expected: list[str]
    ) -> None:
        """
        No Discord error, and exactly the expected rule errors.
        """
        assert [] == discord_errors(payload)
        assert sorted(expected) == sorted(_where(rule_errors(payload)))
        assert rule_errors(payload) == payload_errors(payload)
        with pytest.raises(AssertionError):
            assert_valid_payload(payload)

    def test_a_valid_body_breaks_no_rule(self) -> None:
        """
        The typical body of ours passes both layers.
        """
        assert [] == rule_errors(_payload())


USER = "123456789012345678"
ROLE = "223456789012345678"


class TestPings:
    """
    Who Discord would notify, by its allowed_mentions rules.
    """

    @pytest.mark.parametrize(
        ("payload", "webhook", "expected"),
        [
            pytest.param(
                {"content": f"@everyone @here <@{USER}> <@&{ROLE}>"},
                True,
                Pings(users=(USER,)),
                id="webhook-default-users-only",
            ),
            pytest.param(
                {"content": f"@everyone <@{USER}> <@&{ROLE}>"},
                False,
                Pings(everyone=True, users=(USER,), roles=(ROLE,)),
                id="bot-default-every-type",
            ),
            pytest.param(
                {"content": f"<@{USER}>", "allowed_mentions": None},
                True,
                Pings(users=(USER,)),
                id="null-is-the-default",
            ),
            pytest.param(
                {
                    "content": f"@everyone <@{USER}> <@&{ROLE}>",
                    "allowed_mentions": {"parse": []},
                },
                False,
                Pings(),
                id="parse-empty",
            ),
            pytest.param(
                {
                    "content": f"@everyone <@{USER}>",
                    "allowed_mentions": {},
                },
                True,
                Pings(),
                id="object-without-parse-parses-nothing",
            ),
            pytest.param(
                {
                    "content": "@here",
                    "allowed_mentions": {"parse": ["everyone"]},
                },
                True,
                Pings(everyone=True),
                id="here-counts-as-everyone",
            ),
            pytest.param(
                {
                    "content": f"<@&{ROLE}> <@&9> <@{USER}> <@8>",
                    "allowed_mentions": {
                        "parse": ["roles"],
                        "users": [USER, "7"],
                    },
                },
                True,
                Pings(users=(USER,), roles=(ROLE, "9")),
                id="parse-roles-and-listed-users",
            ),
            pytest.param(
                {
                    "content": f"<@!{USER}> <@{USER}>",
                    "allowed_mentions": {"parse": ["users"]},
                },
                True,
                Pings(users=(USER,)),
                id="nickname-form-counted-once",
            ),
            pytest.param(
                {"embeds": [{"title": f"<@{USER}>", "description": "@here"}]},
                False,
                Pings(),
                id="embeds-are-no-source",
            ),
            pytest.param(
                {"content": f"`<@{USER}>` ``<@{USER}>``\n```\n<@{USER}>\n```"},
                True,
                Pings(),
                id="code-spans-and-blocks",
            ),
            pytest.param(
                {"content": f"```trade ``` <@{USER}>```"},
                True,
                Pings(users=(USER,)),
                id="value-closes-the-block",
            ),
            pytest.param(
                {"content": f"<#{USER}> </cmd:{USER}> @everyone"},
                True,
                Pings(),
                id="channels-and-commands-are-no-pings",
            ),
            pytest.param(
                {
                    "content": f"<@{USER}>",
                    "allowed_mentions": {"parse": [None, {"x": 1}, "users"]},
                },
                True,
                Pings(users=(USER,)),
                id="junk-in-parse-is-ignored",
            ),
            pytest.param(
                {"content": 5, "allowed_mentions": {"parse": ["everyone"]}},
                True,
                Pings(),
                id="content-not-text",
            ),
        ],
    )
    def test_pings(
        self, payload: dict[str, Any], webhook: bool, expected: Pings
    ) -> None:
        """
        Each case notifies exactly whom the table says.
        """
        assert expected == pings(payload, webhook=webhook)
        assert bool(expected) == bool(pings(payload, webhook=webhook))


class TestSubset:
    """
    The vendored spec subset is complete and matches its generator.
    """

    def test_every_ref_resolves_inside_the_subset(self) -> None:
        """
        Each ``$ref`` in the subset names a schema the subset holds.
        """
        subset = json.loads(SUBSET_PATH.read_text(encoding="utf-8"))
        schemas = subset["components"]["schemas"]
        refs = set(extract_openapi_subset.iter_refs(schemas))
        prefix = extract_openapi_subset.REF_PREFIX

        assert all(ref.startswith(prefix) for ref in refs)
        assert {ref.removeprefix(prefix) for ref in refs} <= set(schemas)
        assert "IncomingWebhookRequestPartial" in schemas

    def test_subset_holds_only_the_closure(self) -> None:
        """
        The subset holds no schema the root does not reach.
        """
        subset = json.loads(SUBSET_PATH.read_text(encoding="utf-8"))
        schemas = subset["components"]["schemas"]

        closure = extract_openapi_subset.schema_closure(schemas)

        assert sorted(schemas) == sorted(closure)

    def test_subset_matches_the_shared_spec(self) -> None:
        """
        Regenerating from the shared spec reproduces the file byte for byte.
        """
        spec = Path(extract_openapi_subset.DEFAULT_SPEC)
        if not spec.is_file():
            pytest.skip(f"shared spec not available at {spec}")

        expected = SUBSET_PATH.read_text(encoding="utf-8")
        actual = extract_openapi_subset.extract(spec)

        assert expected == actual
