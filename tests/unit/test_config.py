"""
Tests for polybot_loghandler._config: routing.yaml to validated config.

Error cases build a file from HEADER (lines 1-6) and route lines that
start at line 7, so each expected ``routing.yaml:N:`` can be counted.
"""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from polybot_loghandler._config import (
    MAX_PROBLEMS,
    load_config,
    parse_config,
    size_bytes,
)
from polybot_loghandler._config.checker import is_off, positive_int
from polybot_loghandler._events import LogEvent
from polybot_loghandler._model import (
    BotChannelDestination,
    Coalesce,
    Config,
    DeliverySettings,
    Mention,
    WebhookDestination,
)
from polybot_loghandler._yaml import MAX_CHARS
from polybot_loghandler.exceptions import ConfigError
from tests.conftest import MINIMAL_ROUTING, SHIPPED_ROUTING
from tests.support.hostile_yaml import HOSTILE_PARAMS, MAX_MESSAGE, Hostile

TOKEN = "SeCrEtToKeN-abc123"
HOOK = f"https://discord.com/api/webhooks/123456/{TOKEN}"
REDACTED_HOOK = "https://discord.com/api/webhooks/123456/(redacted)"
ROLE_ID = "345678901234567890"

HEADER = """\
version: 1
channels:
  alerts: ""
  trades: ""
  market_btc: ""
routes:
"""
FIRST_ROUTE_LINE = 7


def _routes(*lines: str) -> str:
    """
    Return HEADER followed by route *lines*, indented under ``routes:``.
    """
    return HEADER + "".join(f"  {line}\n" for line in lines)


def _config(text: str, environ: Mapping[str, str] | None = None) -> Config:
    """
    Parse *text* as ``routing.yaml`` with *environ* (empty by default).
    """
    return parse_config(text, "routing.yaml", environ=environ or {})


def _error(text: str, environ: Mapping[str, str] | None = None) -> ConfigError:
    """
    Return the ConfigError that parsing *text* raises.
    """
    with pytest.raises(ConfigError) as info:
        _config(text, environ)
    return info.value


def _locations(error: ConfigError) -> list[str]:
    """
    Return each problem's ``file:line: key.path`` part, in reported order.
    """
    return [": ".join(p.split(": ", 2)[:2]) for p in error.problems]


def _single(text: str, environ: Mapping[str, str] | None = None) -> Any:
    """
    Return the value of ``routes[0]`` parsed from route *text*.
    """
    return _config(text, environ).routes[0]


def _event(name: str, level: str = "info", **fields: Any) -> LogEvent:
    """
    Return a LogEvent named *name* at *level* with *fields*.
    """
    levels = {"debug": 10, "info": 20, "warning": 30, "error": 40}
    return LogEvent(event=name, level=levels[level], fields=fields)


class TestMinimalForm:
    @pytest.mark.parametrize(
        "text",
        [
            pytest.param(MINIMAL_ROUTING, id="conftest-minimal"),
            pytest.param(
                "version: 1\n"
                "channels:\n"
                f"  alerts: {HOOK}\n"
                "routes:\n"
                "  - name: everything\n"
                "    match: {}\n"
                "    to: alerts\n",
                id="match-empty",
            ),
            pytest.param(
                "version: 1\n"
                "channels:\n"
                f"  alerts: {HOOK}\n"
                "routes:\n"
                "  - name: everything\n"
                "    to: alerts\n",
                id="no-match",
            ),
            pytest.param(
                "version: 1\n"
                "channels:\n"
                f"  alerts: {HOOK}\n"
                "  trades: ''\n"
                "routes:\n"
                "  - name: big_trades\n"
                "    match:\n"
                "      event: trade_executed\n"
                "      level: warning\n"
                "      fields: {market: BTC, is_paper: false, size: 5}\n"
                "    to: [alerts, trades]\n"
                "    mention: here\n"
                "    coalesce: false\n",
                id="all-minimal-keys",
            ),
            pytest.param(
                "version: 1\n"
                "channels:\n"
                "  alerts: https://discord.com/api/webhooks/1/a\n"
                "routes:\n"
                "  - name: r\n"
                "    match: {event: x}\n"
                "    to: alerts\n"
                "    mention: everyone\n"
                "    coalesce: true\n",
                id="mention-everyone-coalesce-true",
            ),
            pytest.param(
                "version: 1\nchannels: {}\nroutes: []\n", id="nothing-routed"
            ),
        ],
    )
    def test_loads(self, text: str) -> None:
        """Each variant of the minimal form is valid."""
        config = _config(text)

        assert config.version == 1
        assert config.notes == ()

    def test_minimal_values(self) -> None:
        """The minimal form's keys reach the route as written."""
        route = _single(
            _routes(
                "- name: big_trades",
                "  match:",
                "    event: trade_executed",
                "    level: warning",
                "    fields: {market: BTC}",
                "  to: [alerts, trades]",
                "  mention: here",
                "  coalesce: false",
            )
        )

        assert route.name == "big_trades"
        assert route.index == 0
        assert route.line == FIRST_ROUTE_LINE
        assert tuple(t.source for t in route.to) == ("alerts", "trades")
        assert Mention(kind="here") == route.mention
        assert Coalesce(enabled=False) == route.coalesce
        assert not route.continue_
        assert route.embed is None

    @pytest.mark.parametrize(
        "match",
        [
            pytest.param("  match: {}", id="empty-mapping"),
            pytest.param("  match:", id="null"),
        ],
    )
    @pytest.mark.parametrize(
        "event",
        [
            pytest.param(_event("anything", "debug"), id="debug"),
            pytest.param(_event("trade_executed", amount=5), id="fields"),
            pytest.param(_event("x", "error"), id="error"),
        ],
    )
    def test_empty_match_matches_everything(
        self, match: str, event: LogEvent
    ) -> None:
        """An empty match: matches every event at every level."""
        route = _single(_routes("- name: all", match, "  to: alerts"))

        assert route.matcher.matches(event, event.context())

    def test_fields_equality(self) -> None:
        """A plain value under fields: is an equality test."""
        route = _single(
            _routes(
                "- name: btc",
                "  match: {fields: {market: BTC}}",
                "  to: alerts",
            )
        )
        btc, eth = _event("x", market="BTC"), _event("x", market="ETH")

        assert route.matcher.matches(btc, btc.context())
        assert not route.matcher.matches(eth, eth.context())

    def test_url_string_channel(self) -> None:
        """A channel given as a URL string executes that webhook."""
        config = _config(
            f"version: 1\nchannels:\n  alerts: {HOOK}\nroutes: []\n"
        )

        channel = config.channels["alerts"]
        assert WebhookDestination(url=HOOK, webhook_id="123456") == (
            channel.destination
        )
        assert channel.name == "alerts"
        assert config.console_channels == ()


class TestShippedRouting:
    def test_loads_37_channels(self) -> None:
        """The shipped routing.yaml declares the 37 Polybot channels."""
        config = load_config(SHIPPED_ROUTING, environ={})

        assert len(config.channels) == 37

    def test_every_channel_has_a_category(self) -> None:
        """Every shipped channel records its Discord category."""
        config = load_config(SHIPPED_ROUTING, environ={})

        missing = [k for k, c in config.channels.items() if not c.category]
        assert missing == []

    def test_nine_categories(self) -> None:
        """The shipped channels fall into the nine Polybot categories."""
        config = load_config(SHIPPED_ROUTING, environ={})

        categories = {c.category for c in config.channels.values()}
        assert len(categories) == 9

    def test_without_environment_everything_is_console(self) -> None:
        """With no DISCORD_* variables every channel renders on the console."""
        config = load_config(SHIPPED_ROUTING, environ={})

        assert tuple(config.channels) == config.console_channels

    def test_one_webhook_for_everything(self) -> None:
        """DISCORD_WEBHOOK_URL gives every channel a destination."""
        config = load_config(
            SHIPPED_ROUTING, environ={"DISCORD_WEBHOOK_URL": HOOK}
        )

        assert config.console_channels == ()
        assert TOKEN not in repr(config)

    def test_per_channel_webhook_wins(self) -> None:
        """DISCORD_WEBHOOK_<KEY> overrides DISCORD_WEBHOOK_URL."""
        own = "https://discord.com/api/webhooks/999/own"
        config = load_config(
            SHIPPED_ROUTING,
            environ={
                "DISCORD_WEBHOOK_URL": HOOK,
                "DISCORD_WEBHOOK_TRADES_PAPER": own,
            },
        )

        assert own == config.channels["trades_paper"].destination.url
        assert config.channels["trades_live"].destination.url == HOOK

    def test_routes_have_unique_names(self) -> None:
        """The shipped routes load with unique names and known channels."""
        config = load_config(SHIPPED_ROUTING, environ={})

        names = [r.name for r in config.routes]
        assert len(names) == len(set(names))
        assert names

    def test_admin_role_from_environment(self) -> None:
        """The admin role id comes from DISCORD_ADMIN_ROLE_ID."""
        config = load_config(
            SHIPPED_ROUTING, environ={"DISCORD_ADMIN_ROLE_ID": ROLE_ID}
        )

        roles = {r.mention for r in config.routes if r.mention}
        assert Mention(kind="role", id=ROLE_ID) in roles
        assert config.notes == ()

    @pytest.mark.slow
    def test_unset_admin_role_is_a_note(self) -> None:
        """
        Without DISCORD_ADMIN_ROLE_ID the role routes ping no one, and
        neither do the heartbeat watches' alerts.
        """
        config = load_config(SHIPPED_ROUTING, environ={})

        endings = [note.rsplit(", so ", 1)[-1] for note in config.notes]
        assert ["this route pings no one"] * 2 + [
            "this watch's alerts ping no one"
        ] * 3 == endings


class TestSingleErrors:
    @pytest.mark.parametrize(
        ("lines", "location", "detail"),
        [
            pytest.param(
                ("- name: r", "  match:", "    level: warnn", "  to: alerts"),
                "routing.yaml:9: routes[0].match.level",
                "unknown level 'warnn' (did you mean 'warning'?)",
                id="bad-level",
            ),
            pytest.param(
                ("- name: r", "  match: {level: 5}", "  to: alerts"),
                "routing.yaml:8: routes[0].match.level",
                "unknown level 5",
                id="numeric-level",
            ),
            pytest.param(
                ("- name: r", "  to: alerts", "  mentoin: here"),
                "routing.yaml:9: routes[0].mentoin",
                "unknown key (did you mean 'mention'?)",
                id="unknown-route-key",
            ),
            pytest.param(
                ("- name: r", "  match: {evnt: x}", "  to: alerts"),
                "routing.yaml:8: routes[0].match.evnt",
                "unknown key (did you mean 'event'?)",
                id="unknown-match-key",
            ),
            pytest.param(
                ("- name: r", "  to: alerts", "  embed: {colour: red}"),
                "routing.yaml:9: routes[0].embed.colour",
                "unknown key (did you mean 'color'?)",
                id="unknown-embed-key",
            ),
            pytest.param(
                ("- name: r", "  to: alertz"),
                "routing.yaml:8: routes[0].to",
                "unknown channel 'alertz' (did you mean 'alerts'?)",
                id="unknown-channel",
            ),
            pytest.param(
                ("- name: r", "  to: [alerts, tradez]"),
                "routing.yaml:8: routes[0].to[1]",
                "unknown channel 'tradez' (did you mean 'trades'?)",
                id="unknown-channel-in-list",
            ),
            pytest.param(
                ("- name: r", "  to: []"),
                "routing.yaml:8: routes[0].to",
                "name at least one channel",
                id="empty-to",
            ),
            pytest.param(
                (
                    "- name: r",
                    "  match: {event: {regex: '('}}",
                    "  to: alerts",
                ),
                "routing.yaml:8: routes[0].match.event.regex",
                "invalid regex '('",
                id="bad-event-regex",
            ),
            pytest.param(
                (
                    "- name: r",
                    "  match: {event: [a, {regex: '[a'}]}",
                    "  to: alerts",
                ),
                "routing.yaml:8: routes[0].match.event[1].regex",
                "invalid regex '[a'",
                id="bad-event-regex-in-list",
            ),
            pytest.param(
                ("- name: r", "  match: {event: {regexp: x}}", "  to: alerts"),
                "routing.yaml:8: routes[0].match.event",
                "{regex: PATTERN}",
                id="bad-event-pattern",
            ),
            pytest.param(
                (
                    "- name: r",
                    "  match:",
                    "    fields:",
                    "      market: {regex: '[a'}",
                    "  to: alerts",
                ),
                "routing.yaml:10: routes[0].match.fields.market.regex",
                "invalid regex '[a'",
                id="bad-field-regex",
            ),
            pytest.param(
                (
                    "- name: r",
                    "  match: {fields: {n: {gtt: 5}}}",
                    "  to: alerts",
                ),
                "routing.yaml:8: routes[0].match.fields.n.gtt",
                "unknown test (did you mean 'gt'?)",
                id="unknown-field-test",
            ),
            pytest.param(
                (
                    "- name: r",
                    "  match: {fields: {n: {gt: x}}}",
                    "  to: alerts",
                ),
                "routing.yaml:8: routes[0].match.fields.n.gt",
                "'gt' takes a number",
                id="comparison-not-a-number",
            ),
            pytest.param(
                (
                    "- name: r",
                    "  match: {fields: {n: {in: 3}}}",
                    "  to: alerts",
                ),
                "routing.yaml:8: routes[0].match.fields.n.in",
                "'in' takes a list",
                id="in-not-a-list",
            ),
            pytest.param(
                (
                    "- name: r",
                    "  match: {fields: {n: {exists: 1}}}",
                    "  to: alerts",
                ),
                "routing.yaml:8: routes[0].match.fields.n.exists",
                "'exists' takes true or false",
                id="exists-not-a-bool",
            ),
            pytest.param(
                ("- name: r", "  match: {logger: [1]}", "  to: alerts"),
                "routing.yaml:8: routes[0].match.logger",
                "a logger pattern is a name or glob",
                id="bad-logger",
            ),
            pytest.param(
                ("- name: r", "  match: {when: 'amount >'}", "  to: alerts"),
                "routing.yaml:8: routes[0].match.when",
                "template error",
                id="bad-when",
            ),
            pytest.param(
                ("- name: r", "  to: alerts", "  embed: {color: reed}"),
                "routing.yaml:9: routes[0].embed.color",
                "invalid color 'reed'",
                id="bad-color",
            ),
            pytest.param(
                ("- name: r", "  to: alerts", "  embed: {title: '{{ x'}"),
                "routing.yaml:9: routes[0].embed.title",
                "template error: unexpected end of template",
                id="template-syntax",
            ),
            pytest.param(
                (
                    "- name: r",
                    "  to: alerts",
                    "  embed:",
                    "    description: |",
                    "      first line",
                    "      second line",
                    "      {% if x %}",
                ),
                "routing.yaml:13: routes[0].embed.description",
                "template error",
                id="template-syntax-in-block-scalar",
            ),
            pytest.param(
                (
                    "- name: r",
                    "  to: alerts",
                    "  embed:",
                    "    description: |",
                    "      first line",
                    "      {{ amount | nosuch }}",
                    "      last line",
                ),
                "routing.yaml:12: routes[0].embed.description",
                "template error: unknown filter 'nosuch'",
                id="unknown-filter-in-block-scalar",
            ),
            pytest.param(
                (
                    "- name: r",
                    "  to: alerts",
                    "  embed: {title: '{{ x | lowerr }}'}",
                ),
                "routing.yaml:9: routes[0].embed.title",
                "unknown filter 'lowerr' (did you mean 'lower'?)",
                id="unknown-filter",
            ),
            pytest.param(
                ("- name: r", "  to: 'market_{{ asset | lowr }}'"),
                "routing.yaml:8: routes[0].to",
                "unknown filter 'lowr' (did you mean 'lower'?)",
                id="unknown-filter-in-to",
            ),
            pytest.param(
                (
                    "- name: r",
                    "  to: alerts",
                    "  embed:",
                    "    fields:",
                    "      - {name: A, value: '{{ a }}'}",
                    "      - {name: B, value: '{{ b | nope }}'}",
                ),
                "routing.yaml:12: routes[0].embed.fields[1].value",
                "unknown filter 'nope'",
                id="unknown-filter-in-field",
            ),
            pytest.param(
                (
                    "- name: r",
                    "  to: alerts",
                    "  embed: {fields: [{name: A}]}",
                ),
                "routing.yaml:9: routes[0].embed.fields[0]",
                "missing required key 'value'",
                id="field-without-value",
            ),
            pytest.param(
                ("- name: r", "  to: alerts", "- name: r", "  to: trades"),
                "routing.yaml:9: routes[1].name",
                "duplicate route name 'r' (first used by routes[0]",
                id="duplicate-route-name",
            ),
            pytest.param(
                ("- to: alerts",),
                "routing.yaml:7: routes[0]",
                "missing required key 'name'",
                id="missing-name",
            ),
            pytest.param(
                ("- name: r",),
                "routing.yaml:7: routes[0]",
                "missing required key 'to'",
                id="missing-to",
            ),
            pytest.param(
                ("- name: 5", "  to: alerts"),
                "routing.yaml:7: routes[0].name",
                "name must be a string",
                id="name-not-a-string",
            ),
            pytest.param(
                ("- name: r", "  to: alerts", "  continue: maybe"),
                "routing.yaml:9: routes[0].continue",
                "must be true or false",
                id="continue-not-a-bool",
            ),
            pytest.param(
                ("- name: r", "  to: alerts", "  mention: someone"),
                "routing.yaml:9: routes[0].mention",
                "unknown mention 'someone'",
                id="unknown-mention",
            ),
            pytest.param(
                ("- name: r", "  to: alerts", "  mention: role:admins"),
                "routing.yaml:9: routes[0].mention",
                "a role id is a number, not 'role:admins'",
                id="role-not-a-number",
            ),
            pytest.param(
                (
                    "- name: r",
                    "  to: alerts",
                    "  coalesce: {by: [a], windw: 5}",
                ),
                "routing.yaml:9: routes[0].coalesce.windw",
                "unknown key (did you mean 'window'?)",
                id="unknown-coalesce-key",
            ),
            pytest.param(
                (
                    "- name: r",
                    "  to: alerts",
                    "  coalesce: {by: [], window: 5}",
                ),
                "routing.yaml:9: routes[0].coalesce.by",
                "'by' takes a list of field names",
                id="coalesce-by-empty",
            ),
            pytest.param(
                ("- name: r", "  to: alerts", "  coalesce: sometimes"),
                "routing.yaml:9: routes[0].coalesce",
                "must be a mapping",
                id="coalesce-not-a-mapping",
            ),
            pytest.param(
                ("- name: r", "  to: alerts", "  match: [a]"),
                "routing.yaml:9: routes[0].match",
                "match must be a mapping, not a list",
                id="match-not-a-mapping",
            ),
        ],
    )
    def test_located(
        self, lines: tuple[str, ...], location: str, detail: str
    ) -> None:
        """One mistake gives one problem, at its line and key path."""
        error = _error(_routes(*lines))

        assert [location] == _locations(error)
        assert detail in error.problems[0]

    @pytest.mark.parametrize(
        ("text", "location", "detail"),
        [
            pytest.param(
                "version: 1\nchanels: {}\nchannels: {}\nroutes: []\n",
                "routing.yaml:2: chanels",
                "unknown key (did you mean 'channels'?)",
                id="unknown-top-level-key",
            ),
            pytest.param(
                "version: 2\nchannels: {}\nroutes: []\n",
                "routing.yaml:1: version",
                "unsupported version 2",
                id="unsupported-version",
            ),
            pytest.param(
                "channels: {}\nroutes: []\n",
                "routing.yaml:1: (top level)",
                "missing required key 'version'",
                id="missing-version",
            ),
            pytest.param(
                "",
                "routing.yaml:1: (top level)",
                "the routing file is empty",
                id="empty-file",
            ),
            pytest.param(
                "- version: 1\n",
                "routing.yaml:1: (top level)",
                "must be a mapping, not a list",
                id="not-a-mapping",
            ),
            pytest.param(
                "version: 1\nchannels: {}\nroutes: {a: 1}\n",
                "routing.yaml:3: routes",
                "routes must be a list",
                id="routes-not-a-list",
            ),
            pytest.param(
                "version: 1\nchannels:\n  bad key: ''\nroutes: []\n",
                "routing.yaml:3: channels.bad key",
                "channel keys use letters, digits",
                id="bad-channel-key",
            ),
            pytest.param(
                "version: 1\nchannels:\n  a: {webhok: x}\nroutes: []\n",
                "routing.yaml:3: channels.a.webhok",
                "unknown key (did you mean 'webhook'?)",
                id="unknown-channel-key",
            ),
            pytest.param(
                "version: 1\nchannels:\n  a: {webhook: x, id: 1}\n"
                "routes: []\n",
                "routing.yaml:3: channels.a",
                "give either 'webhook' or 'id', not both",
                id="webhook-and-id",
            ),
            pytest.param(
                "version: 1\nchannels:\n  a: [x]\nroutes: []\n",
                "routing.yaml:3: channels.a",
                "must be a mapping",
                id="channel-is-a-list",
            ),
            pytest.param(
                "version: 1\nchannels:\n  a: {webhook: 5}\nroutes: []\n",
                "routing.yaml:3: channels.a.webhook",
                "webhook must be a string",
                id="webhook-not-a-string",
            ),
            pytest.param(
                "version: 1\nchannels:\n  a: '${HOOK'\nroutes: []\n",
                "routing.yaml:3: channels.a",
                "'${HOOK' must end with '}'",
                id="unclosed-interpolation",
            ),
            pytest.param(
                "version: 1\nchannels:\n  a: '${}'\nroutes: []\n",
                "routing.yaml:3: channels.a",
                "must be followed by a variable name",
                id="interpolation-without-name",
            ),
        ],
    )
    def test_located_outside_routes(
        self, text: str, location: str, detail: str
    ) -> None:
        """Mistakes outside routes: are located the same way."""
        error = _error(text)

        assert [location] == _locations(error)
        assert detail in error.problems[0]

    @pytest.mark.parametrize(
        "text",
        [
            pytest.param("version: 1\nroutes: [\n", id="yaml-syntax"),
            pytest.param(
                _routes("- name: r", "  to: alerts", "  embed: {title: '{{'}"),
                id="jinja-syntax",
            ),
            pytest.param(
                _routes("- name: r", "  match: {when: '1 +'}", "  to: alerts"),
                id="jinja-expression",
            ),
            pytest.param(
                _routes(
                    "- name: r",
                    "  match: {event: {regex: '('}}",
                    "  to: alerts",
                ),
                id="regex",
            ),
        ],
    )
    def test_no_traceback(self, text: str) -> None:
        """PyYAML, Jinja2 and re errors reach the user as one line each."""
        error = _error(text)

        message = str(error)
        assert error.__cause__ is None
        assert error.__suppress_context__ or error.__context__ is None
        assert "Traceback" not in message
        assert all(p.startswith("routing.yaml:") for p in error.problems)
        assert len(error.problems) == len(message.splitlines())

    @pytest.mark.parametrize(
        ("lines", "location"),
        [
            pytest.param(
                ("- name: r", "  to: alerts", "  embedd:", "    title: x"),
                "routing.yaml:9: routes[0].embedd",
                id="unknown-key-with-block-mapping",
            ),
            pytest.param(
                ("- name: r", "  to: alerts", "  match:", "    - event: x"),
                "routing.yaml:9: routes[0].match",
                id="block-list-for-mapping",
            ),
        ],
    )
    def test_key_with_block_value_at_its_own_line(
        self, lines: tuple[str, ...], location: str
    ) -> None:
        """A problem with a key whose value is a block is at the key's line."""
        error = _error(_routes(*lines))

        assert [location] == _locations(error)

    @pytest.mark.parametrize(
        ("lines", "location", "detail"),
        [
            pytest.param(
                ("- name: ''", "  to: alerts"),
                "routing.yaml:7: routes[0].name",
                "",
                id="empty-name",
            ),
            pytest.param(
                ("- name: r", "  to:"),
                "routing.yaml:8: routes[0].to",
                "",
                id="null-to",
            ),
            pytest.param(
                ("- name: r", "  to: 'market_{asset}'"),
                "routing.yaml:8: routes[0].to",
                "unknown channel 'market_{asset}'",
                id="single-braces-are-not-a-template",
            ),
        ],
    )
    def test_route_is_never_silently_dropped(
        self, lines: tuple[str, ...], location: str, detail: str
    ) -> None:
        """A route that cannot route anywhere is an error, not ignored."""
        error = _error(_routes(*lines))

        assert [location] == _locations(error)
        assert detail in error.problems[0]


class TestSeveralErrors:
    def test_reported_together(self) -> None:
        """Every problem in a file is reported at once, each located."""
        text = (
            "version: 1\n"  # 1
            "channels:\n"  # 2
            "  alerts: ''\n"  # 3
            "  broken: not-a-url\n"  # 4
            "routes:\n"  # 5
            "  - name: a\n"  # 6
            "    match: {level: loud}\n"  # 7
            "    to: alertz\n"  # 8
            "  - name: b\n"  # 9
            "    to: alerts\n"  # 10
            "    embed: {color: reed, title: '{{ x | nope }}'}\n"  # 11
            "  - name: b\n"  # 12
            "    to: alerts\n"  # 13
            "delivery:\n"  # 14
            "  consol: stdout\n"  # 15
        )

        error = _error(text)

        assert _locations(error) == [
            "routing.yaml:4: channels.broken",
            "routing.yaml:7: routes[0].match.level",
            "routing.yaml:8: routes[0].to",
            "routing.yaml:11: routes[1].embed.title",
            "routing.yaml:11: routes[1].embed.color",
            "routing.yaml:12: routes[2].name",
            "routing.yaml:15: delivery.consol",
        ]
        assert str(error) == "\n".join(error.problems)

    def test_duplicate_name_reported_beside_other_problems(self) -> None:
        """A duplicate name is reported even when the first route is broken."""
        text = _routes(
            "- name: r",  # 7
            "  match: {level: loud}",  # 8
            "  to: alerts",  # 9
            "- name: r",  # 10
            "  to: alerts",  # 11
        )

        error = _error(text)

        assert _locations(error) == [
            "routing.yaml:8: routes[0].match.level",
            "routing.yaml:10: routes[1].name",
        ]


class TestInterpolation:
    @pytest.mark.parametrize(
        ("spec", "environ", "expected"),
        [
            pytest.param("${HOOK}", {"HOOK": HOOK}, HOOK, id="url-string"),
            pytest.param(
                "{webhook: '${HOOK}'}", {"HOOK": HOOK}, HOOK, id="webhook-key"
            ),
            pytest.param(
                "'${OWN:-${HOOK}}'", {"HOOK": HOOK}, HOOK, id="nested-fallback"
            ),
            pytest.param(
                "'${OWN:-${HOOK}}'",
                {
                    "OWN": "https://discord.com/api/webhooks/7/own",
                    "HOOK": HOOK,
                },
                "https://discord.com/api/webhooks/7/own",
                id="own-wins",
            ),
            pytest.param(
                "'${OWN:-${HOOK}}'",
                {"OWN": "", "HOOK": HOOK},
                HOOK,
                id="empty-own-falls-back",
            ),
            pytest.param(
                "' ${HOOK} '", {"HOOK": HOOK}, HOOK, id="whitespace-trimmed"
            ),
            pytest.param(
                "'${HOOK:-https://discord.com/api/webhooks/1/x}'",
                {},
                "https://discord.com/api/webhooks/1/x",
                id="literal-fallback",
            ),
        ],
    )
    def test_channel_webhook(
        self, spec: str, environ: dict[str, str], expected: str
    ) -> None:
        """Channel webhooks interpolate ${VAR} and ${VAR:-fallback}."""
        config = _config(
            f"version: 1\nchannels:\n  alerts: {spec}\nroutes: []\n", environ
        )

        assert expected == config.channels["alerts"].destination.url

    @pytest.mark.parametrize(
        "spec",
        [
            pytest.param("''", id="empty-string"),
            pytest.param("", id="null"),
            pytest.param("${UNSET}", id="unset"),
            pytest.param("'${UNSET:-}'", id="unset-empty-fallback"),
            pytest.param("'${UNSET:-${ALSO_UNSET:-}}'", id="nested-unset"),
            pytest.param("{webhook: ''}", id="empty-webhook-key"),
            pytest.param("{category: Ops}", id="no-destination-key"),
            pytest.param("{id: '${UNSET}'}", id="unset-id"),
        ],
    )
    def test_empty_destination_is_console(self, spec: str) -> None:
        """A channel whose destination is empty renders on the console."""
        config = _config(
            f"version: 1\nchannels:\n  alerts: {spec}\nroutes: []\n"
        )

        assert config.channels["alerts"].destination is None
        assert config.console_channels == ("alerts",)

    @pytest.mark.parametrize(
        ("mention", "environ", "expected"),
        [
            pytest.param(
                "role:${ROLE}",
                {"ROLE": "123"},
                Mention(kind="role", id="123"),
                id="role-from-env",
            ),
            pytest.param(
                "'role:${ROLE:-456}'",
                {},
                Mention(kind="role", id="456"),
                id="role-fallback",
            ),
            pytest.param(
                "user:${USER_ID}",
                {"USER_ID": "789"},
                Mention(kind="user", id="789"),
                id="user-from-env",
            ),
            pytest.param(
                "${WHO}", {"WHO": "here"}, Mention(kind="here"), id="whole"
            ),
            pytest.param(
                "everyone", {}, Mention(kind="everyone"), id="everyone"
            ),
            pytest.param("here", {}, Mention(kind="here"), id="here"),
            pytest.param("false", {}, None, id="false"),
        ],
    )
    def test_mention(
        self,
        mention: str,
        environ: dict[str, str],
        expected: Mention | None,
    ) -> None:
        """Mentions interpolate ids from the environment."""
        route = _single(
            _routes("- name: r", "  to: alerts", f"  mention: {mention}"),
            environ,
        )

        assert expected == route.mention

    @pytest.mark.parametrize(
        "mention",
        [
            pytest.param("role:${ROLE}", id="unset"),
            pytest.param("'role:${ROLE:-}'", id="unset-empty-fallback"),
            pytest.param("user:${ROLE}", id="unset-user"),
        ],
    )
    def test_unset_role_is_a_note(self, mention: str) -> None:
        """An unset role id means no mention and a located note, no error."""
        config = _config(
            _routes("- name: r", "  to: alerts", f"  mention: {mention}")
        )

        assert config.routes[0].mention is None
        assert len(config.notes) == 1
        assert config.notes[0].startswith("routing.yaml:9: routes[0].mention:")

    def test_mention_content(self) -> None:
        """A role mention pings that role and allows only that role."""
        route = _single(
            _routes("- name: r", "  to: alerts", "  mention: role:${ROLE}"),
            {"ROLE": "123"},
        )

        assert route.mention.content == "<@&123>"
        assert (route.mention.allowed_mentions) == {
            "parse": [],
            "roles": ["123"],
        }

    def test_templates_are_not_interpolated(self) -> None:
        """Embed templates never see the environment."""
        route = _single(
            _routes(
                "- name: r", "  to: alerts", "  embed: {title: '${HOOK}'}"
            ),
            {"HOOK": HOOK},
        )

        assert route.embed.title.render({}) == "${HOOK}"


class TestWebhookRedaction:
    def test_repr_hides_token(self) -> None:
        """A webhook destination's repr never shows its token."""
        dest = WebhookDestination(url=HOOK, webhook_id="123456")

        assert TOKEN not in repr(dest)
        assert TOKEN not in str(dest)
        assert REDACTED_HOOK in repr(dest)

    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            pytest.param(HOOK, REDACTED_HOOK, id="discord"),
            pytest.param(
                f"{HOOK}?thread_id=5", REDACTED_HOOK, id="with-query"
            ),
            pytest.param(
                f"https://discordapp.com/api/v10/webhooks/1/{TOKEN}/",
                "https://discordapp.com/api/v10/webhooks/1/(redacted)",
                id="versioned",
            ),
            pytest.param(
                f"http://127.0.0.1:8080/hook/{TOKEN}",
                "http://127.0.0.1:8080/(redacted)",
                id="unrecognised-path",
            ),
        ],
    )
    def test_redacted_url(self, url: str, expected: str) -> None:
        """The redacted URL keeps the host and webhook id, never the token."""
        dest = WebhookDestination(url=url)

        assert expected == dest.redacted_url

    def test_config_repr_hides_tokens(self) -> None:
        """Neither a channel's nor a config's repr shows the token."""
        config = _config(
            "version: 1\nchannels:\n  a: ${HOOK}\n  b: {webhook: '${HOOK}'}\n"
            "routes: [{name: r, to: a}]\n",
            {"HOOK": HOOK},
        )

        assert TOKEN not in repr(config.channels["a"])
        assert TOKEN not in repr(config)


class TestDestinations:
    @pytest.mark.parametrize(
        ("url", "webhook_id"),
        [
            pytest.param(HOOK, "123456", id="https"),
            pytest.param(
                "http://127.0.0.1:8123/api/webhooks/42/tok",
                "42",
                id="loopback",
            ),
            pytest.param(
                "http://127.0.0.1:8123/hook", None, id="loopback-path"
            ),
            pytest.param(
                "https://discord.com/api/webhooks/42/tok?wait=true",
                "42",
                id="with-query",
            ),
        ],
    )
    def test_webhook_accepted(self, url: str, webhook_id: str | None) -> None:
        """http(s) URLs are webhooks; plain http serves local test servers."""
        config = _config(f"version: 1\nchannels:\n  a: '{url}'\nroutes: []\n")

        assert WebhookDestination(url=url, webhook_id=webhook_id) == (
            config.channels["a"].destination
        )

    @pytest.mark.parametrize(
        ("spec", "environ"),
        [
            pytest.param(
                f"discord.com/api/webhooks/9/{TOKEN}", {}, id="no-scheme"
            ),
            pytest.param(
                f"ftp://discord.com/api/webhooks/9/{TOKEN}", {}, id="ftp"
            ),
            pytest.param(TOKEN, {}, id="bare-token"),
            pytest.param(f"token {TOKEN}", {}, id="words"),
            pytest.param(
                "${HOOK}",
                {"HOOK": f"discord.com/api/webhooks/9/{TOKEN}"},
                id="from-env",
            ),
            pytest.param(
                "{webhook: 'https:/${HOOK}'}",
                {"HOOK": TOKEN},
                id="webhook-key",
            ),
        ],
    )
    def test_non_url_rejected_and_redacted(
        self, spec: str, environ: dict[str, str]
    ) -> None:
        """A destination that is not a URL is an error that hides the token."""
        error = _error(
            f"version: 1\nchannels:\n  a: {spec}\nroutes: []\n", environ
        )

        assert len(error.problems) == 1
        assert error.problems[0].startswith("routing.yaml:3: channels.a")
        assert "not a webhook URL" in str(error)
        assert TOKEN not in str(error)

    @pytest.mark.parametrize(
        ("value", "shown", "why"),
        [
            pytest.param(
                f"discord.com/api/webhooks/1/{TOKEN}",
                "'discord.com/api/webhooks/1/(redacted)'",
                "it has no scheme",
                id="no-scheme",
            ),
            pytest.param("https://", "'https://'", "no host", id="no-host"),
            pytest.param(
                ":///x", "':/(redacted)'", "no scheme", id="empty-scheme"
            ),
            pytest.param(TOKEN, "'(redacted)'", "no scheme", id="bare-token"),
            pytest.param(
                "https://discord.com/api/webhooks/1",
                "'https://discord.com/api/webhooks/1'",
                "no /api/webhooks/ID/TOKEN",
                id="no-token",
            ),
            pytest.param(
                "https://discord.com/channels/5",
                "'https://discord.com/(redacted)'",
                "no /api/webhooks/ID/TOKEN",
                id="channel-link",
            ),
            pytest.param(
                f"https://discord.com/api/webhooks/1/{TOKEN} x",
                "'https://discord.com/api/webhooks/1/(redacted)'",
                "it has a space",
                id="space",
            ),
            pytest.param(
                f"ftp://example.com/api/webhooks/1/{TOKEN}",
                "'ftp://example.com/api/webhooks/1/(redacted)'",
                "its scheme is 'ftp'",
                id="ftp",
            ),
            pytest.param(
                f"ftp://me:{TOKEN}@example.com/h/{TOKEN}",
                "'ftp://example.com/(redacted)'",
                "its scheme is 'ftp'",
                id="password",
            ),
            pytest.param(
                f"http://localhost:8080/h/{TOKEN}", "", None, id="any-host"
            ),
        ],
    )
    def test_bad_variable_said_once(
        self, value: str, shown: str, why: str | None
    ) -> None:
        """
        A variable that is not a webhook URL is one problem, named.

        It is quoted with its scheme and host, never its token, and the
        rule given is the one applied: any http(s) URL with a host, and
        on Discord's hosts a webhook path.
        """
        text = (
            "version: 1\nchannels:\n  a: ${HOOK}\n  b: ${B:-${HOOK}}\n"
            "  c: {webhook: '${C:-${HOOK:-}}'}\nroutes: []\n"
        )
        if why is None:  # accepted: any host, with http(s)
            assert _config(text, {"HOOK": value}).channels["a"].destination
            return
        error = _error(text, {"HOOK": value})

        assert len(error.problems) == 1, error.problems
        problem = error.problems[0]
        assert problem.startswith(
            f"routing.yaml:3: channels.a: $HOOK is not a webhook URL: {shown} "
        )
        assert why in problem
        assert "http:// or https:// with a host" in problem
        assert problem.endswith("it is the webhook of 3 channels")
        assert TOKEN not in str(error)

    def test_bad_fallback_url_is_one_error_with_shipped_routing(
        self,
    ) -> None:
        """DISCORD_WEBHOOK_URL, every channel's fallback, is one problem."""
        for value in ("discord.com/api/webhooks/1/abc", "https://", "x y"):
            with pytest.raises(ConfigError) as caught:
                load_config(
                    SHIPPED_ROUTING, environ={"DISCORD_WEBHOOK_URL": value}
                )

            (problem,) = caught.value.problems
            assert "$DISCORD_WEBHOOK_URL is not a webhook URL" in problem
            assert "it is the webhook of 37 channels" in problem

    @pytest.mark.parametrize(
        ("spec", "environ", "expected"),
        [
            pytest.param(
                "{id: 123456789012345678}", {}, "123456789012345678", id="int"
            ),
            pytest.param("{id: '42'}", {}, "42", id="string"),
            pytest.param("{id: '${CHAN}'}", {"CHAN": "77"}, "77", id="env"),
            pytest.param(
                "{id: '${CHAN:-88}', category: Ops}", {}, "88", id="fallback"
            ),
        ],
    )
    def test_bot_channel(
        self, spec: str, environ: dict[str, str], expected: str
    ) -> None:
        """``{id: CHANNEL_ID}`` posts to that channel with the bot token."""
        config = _config(
            f"version: 1\nchannels:\n  a: {spec}\nroutes: []\n", environ
        )

        assert BotChannelDestination(channel_id=expected) == (
            config.channels["a"].destination
        )

    @pytest.mark.parametrize(
        ("spec", "detail"),
        [
            pytest.param(
                "{id: abc}", "a channel id is a number, not 'abc'", id="word"
            ),
            pytest.param(
                "{id: 1.5}", "a channel id must be a string", id="float"
            ),
            pytest.param(
                "{id: '12 34'}", "a channel id is a number", id="space"
            ),
        ],
    )
    def test_bad_bot_channel(self, spec: str, detail: str) -> None:
        """A channel id that is not a snowflake is located."""
        error = _error(f"version: 1\nchannels:\n  a: {spec}\nroutes: []\n")

        assert _locations(error) == ["routing.yaml:3: channels.a.id"]
        assert detail in error.problems[0]

    def test_channel_metadata(self) -> None:
        """name, category and topic are kept; name defaults from the key."""
        config = _config(
            "version: 1\nchannels:\n"
            "  trades_paper: {category: Trading, topic: Paper only}\n"
            "  x: {name: custom-name}\n"
            "routes: []\n"
        )

        paper = config.channels["trades_paper"]
        assert (
            paper.name,
            paper.category,
            paper.topic,
        ) == ("trades-paper", "Trading", "Paper only")
        assert config.channels["x"].name == "custom-name"


class TestDurations:
    @pytest.mark.parametrize(
        ("value", "seconds"),
        [
            pytest.param('"1s"', 1.0, id="seconds"),
            pytest.param('"500ms"', 0.5, id="milliseconds"),
            pytest.param('"2m"', 120.0, id="minutes"),
            pytest.param('"1h"', 3600.0, id="hours"),
            pytest.param('"1d"', 86400.0, id="days"),
            pytest.param('"1w"', 604800.0, id="weeks"),
            pytest.param("3", 3.0, id="int"),
            pytest.param("2.5", 2.5, id="float"),
            pytest.param('"1.5s"', 1.5, id="decimal-with-unit"),
            pytest.param('"7"', 7.0, id="string-without-unit"),
            pytest.param('" 2 m "', 120.0, id="spaces"),
            pytest.param("0", 0.0, id="zero"),
        ],
    )
    def test_coalesce_window(self, value: str, seconds: float) -> None:
        """A coalesce window is seconds, or a number with a unit."""
        route = _single(
            _routes(
                "- name: r",
                "  to: alerts",
                f"  coalesce: {{by: [api], window: {value}}}",
            )
        )

        assert Coalesce(enabled=True, by=("api",), window=seconds) == (
            route.coalesce
        )

    @pytest.mark.parametrize(
        ("value", "seconds"),
        [
            pytest.param('"250ms"', 0.25, id="milliseconds"),
            pytest.param("5", 5.0, id="int"),
        ],
    )
    def test_delivery_durations(self, value: str, seconds: float) -> None:
        """Delivery timeouts take the same durations."""
        config = _config(
            "version: 1\nchannels: {}\nroutes: []\n"
            f"delivery: {{flush_timeout: {value}, batch_window: {value}}}\n"
        )

        assert (seconds, seconds) == (
            config.delivery.flush_timeout,
            config.delivery.batch_window,
        )

    @pytest.mark.parametrize(
        "value",
        [
            pytest.param('"5x"', id="bad-unit"),
            pytest.param('"31d"', id="over-30-days"),
            pytest.param('"5w"', id="over-30-days-in-weeks"),
            pytest.param('"ms"', id="no-number"),
            pytest.param('""', id="empty"),
            pytest.param("-1", id="negative"),
            pytest.param("true", id="bool"),
            pytest.param("[1]", id="list"),
        ],
    )
    def test_invalid(self, value: str) -> None:
        """A duration that is not one is located."""
        error = _error(
            _routes(
                "- name: r",
                "  to: alerts",
                f"  coalesce: {{window: {value}}}",
            )
        )

        assert (_locations(error)) == [
            "routing.yaml:9: routes[0].coalesce.window"
        ]
        assert "invalid duration" in error.problems[0]

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param("false", Coalesce(enabled=False), id="false"),
            pytest.param("true", Coalesce(), id="true"),
            pytest.param(
                "{by: [a, b]}", Coalesce(by=("a", "b")), id="by-only"
            ),
            pytest.param("{by: a}", Coalesce(by=("a",)), id="by-one-name"),
            pytest.param(
                "{window: 2s}", Coalesce(window=2.0), id="window-only"
            ),
        ],
    )
    def test_coalesce_forms(self, value: str, expected: Coalesce) -> None:
        """coalesce takes false, true or {by, window}."""
        route = _single(
            _routes("- name: r", "  to: alerts", f"  coalesce: {value}")
        )

        assert expected == route.coalesce

    def test_coalesce_default(self) -> None:
        """Without coalesce: duplicates merge with the delivery defaults."""
        route = _single(_routes("- name: r", "  to: alerts"))

        assert Coalesce() == route.coalesce


class TestColors:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param("red", 0xED4245, id="name"),
            pytest.param("RED", 0xED4245, id="upper-case-name"),
            pytest.param("Blurple", 0x5865F2, id="mixed-case-name"),
            pytest.param("profit", 0x57F287, id="meaningful-name"),
            pytest.param("dark_grey", 0x607D8B, id="underscore-name"),
            pytest.param('"#ff0000"', 0xFF0000, id="hex"),
            pytest.param('"#00FF7f"', 0x00FF7F, id="hex-mixed-case"),
            pytest.param("16711680", 0xFF0000, id="int"),
            pytest.param("0xff0000", 0xFF0000, id="yaml-hex-int"),
            pytest.param("0", 0, id="zero"),
            pytest.param("16777215", 0xFFFFFF, id="max"),
            pytest.param('"123"', 123, id="decimal-string"),
        ],
    )
    def test_valid(self, value: str, expected: int) -> None:
        """Colours are names, '#rrggbb' or integers up to 0xFFFFFF."""
        route = _single(
            _routes(
                "- name: r", "  to: alerts", f"  embed: {{color: {value}}}"
            )
        )

        assert expected == route.embed.color

    def test_template(self) -> None:
        """A colour may be a template that renders to a colour."""
        source = "{{ 'profit' if pnl > 0 else 'loss' }}"
        route = _single(
            _routes(
                "- name: r", "  to: alerts", f'  embed: {{color: "{source}"}}'
            )
        )

        assert source == route.embed.color.source
        assert route.embed.color.render({"pnl": 1}) == "profit"

    @pytest.mark.parametrize(
        ("value", "suggestion"),
        [
            pytest.param("reed", " (did you mean 'red'?)", id="typo"),
            pytest.param("gren", " (did you mean 'green'?)", id="other-typo"),
            pytest.param('"#fff"', "", id="short-hex"),
            pytest.param('"#gg0000"', "", id="bad-hex"),
            pytest.param("16777216", "", id="too-big"),
            pytest.param("-1", "", id="negative"),
            pytest.param("true", "", id="bool"),
            pytest.param("[1, 2, 3]", "", id="list"),
        ],
    )
    def test_invalid(self, value: str, suggestion: str) -> None:
        """An invalid colour is located, with a suggestion if one is close."""
        error = _error(
            _routes(
                "- name: r", "  to: alerts", f"  embed: {{color: {value}}}"
            )
        )

        assert _locations(error) == ["routing.yaml:9: routes[0].embed.color"]
        assert "invalid color" in error.problems[0]
        assert error.problems[0].endswith(suggestion)
        assert ("did you mean" in error.problems[0]) == bool(suggestion)


class TestAutoFields:
    @pytest.mark.parametrize(
        ("value", "exclude"),
        [
            pytest.param("auto", frozenset(), id="auto"),
            pytest.param("{auto: true}", frozenset(), id="mapping"),
            pytest.param(
                "{auto: true, exclude: [title, secret]}",
                frozenset({"title", "secret"}),
                id="exclude",
            ),
        ],
    )
    def test_auto(self, value: str, exclude: frozenset[str]) -> None:
        """fields: auto shows every field, less those excluded."""
        route = _single(
            _routes(
                "- name: r", "  to: alerts", f"  embed: {{fields: {value}}}"
            )
        )

        assert route.embed.fields is None
        assert exclude == route.embed.auto_exclude

    def test_listed_fields(self) -> None:
        """Listed fields keep their order and inline flag."""
        route = _single(
            _routes(
                "- name: r",
                "  to: alerts",
                "  embed:",
                "    fields:",
                "      - {name: A, value: '{{ a }}'}",
                "      - {name: B, value: b, inline: false}",
            )
        )

        fields = route.embed.fields
        assert [(f.name.source, f.value.source, f.inline) for f in fields] == [
            ("A", "{{ a }}", True),
            ("B", "b", False),
        ]

    @pytest.mark.parametrize(
        ("value", "location", "detail"),
        [
            pytest.param(
                "{auto: false}",
                "routing.yaml:9: routes[0].embed.fields.auto",
                "use 'auto: true'",
                id="auto-false",
            ),
            pytest.param(
                "{auto: true, exclude: title}",
                "routing.yaml:9: routes[0].embed.fields.exclude",
                "'exclude' takes a list of field names",
                id="exclude-not-a-list",
            ),
            pytest.param(
                "{auto: true, excluded: [a]}",
                "routing.yaml:9: routes[0].embed.fields.excluded",
                "unknown key (did you mean 'exclude'?)",
                id="unknown-key",
            ),
            pytest.param(
                "automatic",
                "routing.yaml:9: routes[0].embed.fields",
                "fields must be a list",
                id="not-auto",
            ),
        ],
    )
    def test_invalid(self, value: str, location: str, detail: str) -> None:
        """A malformed fields: is located."""
        error = _error(
            _routes(
                "- name: r", "  to: alerts", f"  embed: {{fields: {value}}}"
            )
        )

        assert [location] == _locations(error)
        assert detail in error.problems[0]


@pytest.mark.parametrize(
    ("part", "url", "ok"),
    [
        pytest.param("footer", "https://x.io/f.png", True, id="footer-ok"),
        pytest.param(
            "footer", "https://x.io/a b.png", False, id="footer-space"
        ),
        pytest.param("author", "http://", False, id="author-no-host"),
        pytest.param(
            "author", "https://x.io/\u00e9", False, id="author-ascii"
        ),
        pytest.param("author", "https://x.io/a", True, id="author-ok"),
    ],
)
def test_icon_urls_are_uris(part: str, url: str, ok: bool) -> None:
    """A static icon or author URL is one Discord takes, or an error."""
    key = "text" if part == "footer" else "name"
    text = _routes(
        "- name: r",
        "  to: alerts",
        f"  embed: {{{part}: {{{key}: x, icon_url: '{url}'}}}}",
    )
    if ok:
        _config(text)
        return
    error = _error(text)
    assert [f"routing.yaml:9: routes[0].embed.{part}.icon_url"] == _locations(
        error
    )
    assert "must be an http(s) URL" in error.problems[0]


#: delivery.relay as written (lines under ``delivery:``), the
#: environment, and the URL the settings keep (None: off).
RELAYS = {
    "unset": ("  console: stderr\n", {}, None),
    "empty-by-variable": (
        "  relay: ${POLYBOT_REDIS_URL:-}\n",
        {},
        None,
    ),
    "empty-variable": (
        "  relay: ${POLYBOT_REDIS_URL:-}\n",
        {"POLYBOT_REDIS_URL": ""},
        None,
    ),
    "good-url": (
        "  relay: redis://localhost:6379/0\n",
        {},
        "redis://localhost:6379/0",
    ),
    "good-url-by-variable": (
        "  relay: ${POLYBOT_REDIS_URL:-}\n",
        {"POLYBOT_REDIS_URL": f"rediss://:{TOKEN}@cache:6380/2"},
        f"rediss://:{TOKEN}@cache:6380/2",
    ),
    "unix-socket": (
        "  relay: unix:///tmp/redis.sock?db=2\n",
        {},
        "unix:///tmp/redis.sock?db=2",
    ),
    "off": ("  relay: off\n", {}, None),
    "quoted-off": ("  relay: 'off'\n", {}, None),
    "false": ("  relay: false\n", {}, None),
    "empty": ("  relay: ''\n", {}, None),
    "null": ("  relay: ~\n", {}, None),
    "off-by-variable": ("  relay: ${NOPE:-off}\n", {}, None),
}
#: delivery.relay written wrong (line 5), its environment, and what
#: the problem says.
BAD_RELAYS = {
    "bad-scheme": (
        "relay: http://cache:6379/0",
        {},
        (
            "routing.yaml:5: delivery.relay: not a Redis URL (its scheme "
            "is not redis://, rediss:// or unix://; the relay's URL is "
            "redis://host:port/db, rediss:// for TLS, or "
            "unix:///path/to.sock?db=N, e.g. redis://localhost:6379/0)"
        ),
    ),
    "bad-scheme-by-variable": (
        "relay: ${POLYBOT_REDIS_URL:-}",
        {"POLYBOT_REDIS_URL": f"https://alice:{TOKEN}@cache/0"},
        (
            "routing.yaml:5: delivery.relay: $POLYBOT_REDIS_URL is not a "
            "Redis URL (its scheme is not redis://"
        ),
    ),
    "password-alone": (
        "relay: ${POLYBOT_REDIS_URL}",
        {"POLYBOT_REDIS_URL": TOKEN},
        (
            "routing.yaml:5: delivery.relay: $POLYBOT_REDIS_URL is not a "
            "Redis URL (it has no scheme;"
        ),
    ),
    "raw-slash-in-password": (
        "relay: ${POLYBOT_REDIS_URL}",
        {"POLYBOT_REDIS_URL": f"redis://:{TOKEN}/x@cache:6379/0"},
        (
            "routing.yaml:5: delivery.relay: $POLYBOT_REDIS_URL is not a "
            "Redis URL: 'redis://***@cache:6379/0' (it has an '@' after its "
            "host: a password with '/', '?' or '#' is written with %2F, "
            "%3F, %23;"
        ),
    ),
    "lost-at": (
        f"relay: 'redis://:{TOKEN}'",
        {},
        (
            "routing.yaml:5: delivery.relay: not a Redis URL: "
            "'redis://:***' (its port is not a number from 1 to 65535"
        ),
    ),
    "bad-db": (
        f"relay: 'redis://alice:{TOKEN}@cache/one'",
        {},
        (
            "routing.yaml:5: delivery.relay: not a Redis URL: "
            "'redis://***@cache/one' (its database (/N or ?db=N) is not a "
            "whole number, 0 or more;"
        ),
    ),
    "not-a-string": (
        "relay: 6379",
        {},
        (
            "routing.yaml:5: delivery.relay: relay (a Redis URL, or off) "
            "must be a string, not a number"
        ),
    ),
    "unclosed-variable": (
        "relay: ${POLYBOT_REDIS_URL",
        {},
        (
            "routing.yaml:5: delivery.relay: '${POLYBOT_REDIS_URL' must "
            "end with '}'"
        ),
    ),
}


class TestDelivery:
    def test_defaults(self) -> None:
        """Without delivery: the defaults apply."""
        config = _config("version: 1\nchannels: {}\nroutes: []\n")

        assert DeliverySettings() == config.delivery

    def test_every_key(self) -> None:
        """Each delivery key reaches the settings."""
        config = _config(
            "version: 1\nchannels:\n  ops: ''\nroutes: []\n"
            "delivery:\n"
            "  queue_size: 500\n"
            "  flush_timeout: 5s\n"
            "  batch_window: 250ms\n"
            "  ops_channel: ops\n"
            "  console: stdout\n"
        )

        assert (
            DeliverySettings(
                queue_size=500,
                flush_timeout=5.0,
                batch_window=0.25,
                ops_channel="ops",
                console="stdout",
            )
            == config.delivery
        )

    def test_reload_report_and_spool(self) -> None:
        """The operating keys: reload, report, spool and its size."""
        config = _config(
            "version: 1\nchannels:\n  ops: ''\n  perf: ''\nroutes: []\n"
            "delivery:\n"
            "  ops_channel: ops\n"
            "  reload: 5s\n"
            "  report: {every: 1h, channel: perf}\n"
            "  spool: ${SPOOL_DIR:-./spool}\n"
            "  spool_size: 2MB\n",
            {"SPOOL_DIR": "/var/spool/polybot"},
        )

        assert 5.0 == config.delivery.reload_every
        assert 3600.0 == config.delivery.report_every
        assert "perf" == config.delivery.notice_channel
        assert "/var/spool/polybot" == config.delivery.spool
        assert 2_000_000 == config.delivery.spool_size

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param(52428800, 52_428_800, id="int"),
            pytest.param("1000", 1000, id="digits"),
            pytest.param("512 B", 512, id="B"),
            pytest.param("512b", 512, id="b"),
            pytest.param("512 bytes", 512, id="bytes"),
            pytest.param("100kB", 100_000, id="kB"),
            pytest.param("100KB", 100_000, id="KB"),
            pytest.param("100kb", 100_000, id="kb"),
            pytest.param("100k", 100_000, id="k"),
            pytest.param("100 K", 100_000, id="K"),
            pytest.param("100KiB", 102_400, id="KiB"),
            pytest.param("100 kib", 102_400, id="kib"),
            pytest.param("100Ki", 102_400, id="Ki"),
            pytest.param("50MB", 50_000_000, id="MB"),
            pytest.param("50M", 50_000_000, id="M"),
            pytest.param("50 mb", 50_000_000, id="mb"),
            pytest.param("50MiB", 50 * 1024**2, id="MiB"),
            pytest.param("1.5 GiB", int(1.5 * 1024**3), id="GiB-fraction"),
            pytest.param("2GB", 2_000_000_000, id="GB"),
            pytest.param("2G", 2_000_000_000, id="G"),
            pytest.param("1TB", 10**12, id="TB"),
            pytest.param(" 20MB ", 20_000_000, id="spaces"),
        ],
    )
    def test_size_spellings(self, value: Any, expected: int) -> None:
        """The usual spellings of a size: k, M, G decimal; Ki, Mi binary."""
        assert expected == size_bytes(value)

    @pytest.mark.parametrize(
        "value",
        [
            pytest.param("50 furlongs", id="unknown-unit"),
            pytest.param("MB", id="no-number"),
            pytest.param("", id="empty"),
            pytest.param("0", id="zero"),
            pytest.param("0.5", id="under-a-byte"),
            pytest.param(0, id="int-zero"),
            pytest.param(-5, id="negative-int"),
            pytest.param("-5MB", id="negative"),
            pytest.param(True, id="bool"),
            pytest.param(1.5, id="float"),
            pytest.param("1e3", id="exponent"),
            pytest.param("5 iB", id="i-without-prefix"),
            pytest.param("5 MBB", id="doubled"),
            pytest.param("5 M B ", id="split-unit"),
            pytest.param("٥MB", id="arabic-digit"),
            pytest.param("9" * 300 + "TiB", id="infinite"),
        ],
    )
    def test_not_sizes(self, value: Any) -> None:
        """Anything else is not a size (the caller reports it)."""
        assert size_bytes(value) is None

    @pytest.mark.parametrize(
        ("lines", "expected"),
        [
            pytest.param("", (2.0, None, None), id="defaults"),
            pytest.param(
                "  reload: off\n  spool: off\n",
                (None, None, None),
                id="off",
            ),
            pytest.param(
                "  report: {every: 30m}\n  spool: ''\n",
                (2.0, 1800.0, None),
                id="empty-spool",
            ),
            pytest.param(
                "  spool: ${NOPE:-off}\n  spool_size: 1 MiB\n",
                (2.0, None, None),
                id="spool-off-by-variable",
            ),
        ],
    )
    def test_operating_defaults_and_off(
        self, lines: str, expected: tuple[Any, ...]
    ) -> None:
        """Reload is on by default; report and spool are off."""
        config = _config(
            "version: 1\nchannels: {}\nroutes: []\ndelivery:\n"
            + (lines or "  console: stderr\n"),
            {},
        )
        delivery = config.delivery

        assert expected == (
            delivery.reload_every,
            delivery.report_every,
            delivery.spool,
        )
        assert delivery.notice_channel is None

    @pytest.mark.parametrize(
        ("line", "message"),
        [
            pytest.param(
                "reload: 0.01s",
                "routing.yaml:5: delivery.reload: must be at least 0.1s",
                id="reload-too-often",
            ),
            pytest.param(
                "report: {channel: ops}",
                "routing.yaml:5: delivery.report: missing required key "
                "'every'",
                id="report-without-every",
            ),
            pytest.param(
                "report: {every: 1h, channel: opz}",
                "routing.yaml:5: delivery.report.channel: unknown channel "
                "'opz' (did you mean 'ops'?)",
                id="report-unknown-channel",
            ),
            pytest.param(
                "spool_size: 50 furlongs",
                "routing.yaml:5: delivery.spool_size: invalid size "
                "'50 furlongs' (use a number of bytes, or a number with a "
                "unit: kB, MB, GB (powers of 1000; also k, K, KB, M, G) or "
                "KiB, MiB, GiB (powers of 1024), in any case, e.g. '100kB', "
                "'50MB', '1.5 GiB')",
                id="spool-size",
            ),
            pytest.param(
                "spool: [a, b]",
                "routing.yaml:5: delivery.spool: spool (a directory, or "
                "off) must be a string",
                id="spool-list",
            ),
        ],
    )
    def test_operating_key_errors(self, line: str, message: str) -> None:
        """Each mistake names its line and key, and what is allowed."""
        error = _error(
            "version: 1\nchannels: {ops: ''}\nroutes: []\ndelivery:\n"
            f"  {line}\n"
        )

        assert message in str(error)

    @pytest.mark.parametrize(
        ("lines", "environ", "expected"), RELAYS.values(), ids=RELAYS
    )
    def test_relay(
        self, lines: str, environ: dict[str, str], expected: str | None
    ) -> None:
        """The relay is off unless a URL is given; empty or off is off."""
        config = _config(
            "version: 1\nchannels: {}\nroutes: []\ndelivery:\n" + lines,
            environ,
        )

        assert expected == config.delivery.relay

    @pytest.mark.parametrize(
        ("line", "environ", "message"), BAD_RELAYS.values(), ids=BAD_RELAYS
    )
    def test_relay_errors(
        self, line: str, environ: dict[str, str], message: str
    ) -> None:
        """A relay URL that cannot be used: its line, key, no password."""
        error = _error(
            "version: 1\nchannels: {ops: ''}\nroutes: []\ndelivery:\n"
            f"  {line}\n",
            environ,
        )

        assert 1 == len(error.problems)
        assert error.problems[0].startswith(message)
        assert TOKEN not in str(error)

    def test_relay_repr_is_redacted(self) -> None:
        """The settings' repr shows where the relay is, not its password."""
        delivery = _config(
            "version: 1\nchannels: {}\nroutes: []\n"
            "delivery: {relay: '${POLYBOT_REDIS_URL}'}\n",
            {"POLYBOT_REDIS_URL": f"redis://alice:{TOKEN}@cache:6379/1"},
        ).delivery

        assert "relay='redis://***@cache:6379/1'" in repr(delivery)
        assert TOKEN not in repr(delivery)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param("stderr", "stderr", id="stderr"),
            pytest.param("stdout", "stdout", id="stdout"),
            pytest.param('"off"', "off", id="quoted-off"),
            pytest.param("off", "off", id="plain-off"),
        ],
    )
    def test_console(self, value: str, expected: str) -> None:
        """The console sink is stderr, stdout or off, written plainly."""
        config = _config(
            "version: 1\nchannels: {}\nroutes: []\n"
            f"delivery: {{console: {value}}}\n"
        )

        assert expected == config.delivery.console

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param(None, None, id="unset"),
            pytest.param("~", None, id="null"),
            pytest.param("1", 1, id="one"),
            pytest.param("25", 25, id="many"),
        ],
    )
    def test_console_per_channel(
        self, value: str | None, expected: int | None
    ) -> None:
        """Unset or null shows every message; a number caps each channel."""
        setting = "" if value is None else f"console_per_channel: {value}"
        config = _config(
            "version: 1\nchannels: {}\nroutes: []\n"
            f"delivery: {{{setting}}}\n"
        )

        assert expected == config.delivery.console_per_channel

    @pytest.mark.parametrize(
        ("line", "location", "detail"),
        [
            pytest.param(
                "queue_size: 0",
                "routing.yaml:6: delivery.queue_size",
                "must be a positive whole number",
                id="queue-size-zero",
            ),
            pytest.param(
                "queue_size: many",
                "routing.yaml:6: delivery.queue_size",
                "must be a positive whole number",
                id="queue-size-word",
            ),
            pytest.param(
                "flush_timeout: 2x",
                "routing.yaml:6: delivery.flush_timeout",
                "invalid duration '2x'",
                id="flush-timeout",
            ),
            pytest.param(
                "batch_window: -1",
                "routing.yaml:6: delivery.batch_window",
                "invalid duration -1",
                id="batch-window",
            ),
            pytest.param(
                "ops_channel: opz",
                "routing.yaml:6: delivery.ops_channel",
                "unknown channel 'opz' (did you mean 'ops'?)",
                id="ops-channel",
            ),
            pytest.param(
                "console: stdrr",
                "routing.yaml:6: delivery.console",
                "must be stderr, stdout or off",
                id="console",
            ),
            pytest.param(
                "console_per_channel: 0",
                "routing.yaml:6: delivery.console_per_channel",
                "must be a positive whole number (the messages of each "
                "channel shown on the console), not 0",
                id="console-per-channel-zero",
            ),
            pytest.param(
                "console_per_channel: all",
                "routing.yaml:6: delivery.console_per_channel",
                "must be a positive whole number",
                id="console-per-channel-word",
            ),
            pytest.param(
                "console_per_channel: 1.5",
                "routing.yaml:6: delivery.console_per_channel",
                "must be a positive whole number",
                id="console-per-channel-fraction",
            ),
            pytest.param(
                "console_per_channel: true",
                "routing.yaml:6: delivery.console_per_channel",
                "must be a positive whole number",
                id="console-per-channel-bool",
            ),
            pytest.param(
                "batch_windw: 1s",
                "routing.yaml:6: delivery.batch_windw",
                "unknown key (did you mean 'batch_window'?)",
                id="unknown-key",
            ),
        ],
    )
    def test_invalid(self, line: str, location: str, detail: str) -> None:
        """Each malformed delivery key is located."""
        error = _error(
            "version: 1\nchannels:\n  ops: ''\nroutes: []\n"
            f"delivery:\n  {line}\n"
        )

        assert [location] == _locations(error)
        assert detail in error.problems[0]


class TestLoadConfig:
    def test_reads_file(self, make_routing: Any) -> None:
        """load_config reads the file and names errors after it."""
        path = make_routing(_routes("- name: r", "  to: alertz"))

        with pytest.raises(ConfigError) as info:
            load_config(path, environ={})

        assert info.value.problems[0].startswith(f"{path}:8: routes[0].to:")

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file is a ConfigError naming it, not an OSError."""
        path = tmp_path / "nope.yaml"

        with pytest.raises(ConfigError) as info:
            load_config(path, environ={})

        assert info.value.problems[0].startswith(f"{path}:")
        assert "cannot read the routing file" in str(info.value)
        assert info.value.__cause__ is None

    def test_not_utf8(self, tmp_path: Path) -> None:
        """A file that is not UTF-8 is a ConfigError naming it."""
        path = tmp_path / "latin1.yaml"
        path.write_bytes(b"version: 1\nchannels: {caf\xe9: ''}\n")

        with pytest.raises(ConfigError) as info:
            load_config(path, environ={})

        assert info.value.problems[0].startswith(f"{path}:")
        assert "not UTF-8" in str(info.value)

    def test_environ_defaults_to_os_environ(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without environ, ${VAR} reads the process environment."""
        monkeypatch.setenv("POLYBOT_TEST_HOOK", HOOK)

        config = parse_config(
            "version: 1\nchannels:\n  a: ${POLYBOT_TEST_HOOK}\nroutes: []\n"
        )

        assert config.channels["a"].destination.url == HOOK


def _refusal(path: Path) -> tuple[ConfigError, int]:
    """Load *path*; return its refusal and the peak memory loading took."""
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError) as info:
            load_config(path, environ={})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return info.value, peak


class TestHostileFiles:
    @pytest.mark.parametrize("case", HOSTILE_PARAMS)
    @pytest.mark.slow
    def test_refused_located_in_bounded_memory(
        self, case: Hostile, tmp_path: Path
    ) -> None:
        """
        Bombs, recursion, deep nesting and huge values are refused.

        With a located message (file, line, key path), without a
        traceback's cause, in memory that does not grow with the
        expansion the file asks for (a 325-byte bomb once took 1.4 GB).
        """
        path = tmp_path / "routing.yaml"
        path.write_text(case.text, encoding="utf-8")

        error, peak = _refusal(path)

        line = r"\d+" if case.line is None else str(case.line)
        assert re.match(rf"{re.escape(str(path))}:{line}: ", str(error))
        assert case.says in str(error)
        assert len(str(error)) < MAX_MESSAGE + len(str(path))
        assert error.__cause__ is None
        assert peak < 64 * 2**20

    def test_file_that_never_ends_is_read_no_further(self) -> None:
        """A path naming a device is read only as far as a file may be."""
        if not Path("/dev/zero").exists():
            pytest.skip("no /dev/zero here")

        error, peak = _refusal(Path("/dev/zero"))

        assert str(error).startswith("/dev/zero:0: the file is larger than")
        assert peak < 8 * MAX_CHARS


class TestHugeValues:
    @pytest.mark.parametrize(
        ("text", "where"),
        [
            pytest.param(
                "version: 0x" + "f" * 5000 + "\n" + HEADER.split("\n", 1)[1],
                "routing.yaml:1: version",
                id="version",
            ),
            pytest.param(
                _routes(
                    "- {name: r, to: alerts, match: {level: "
                    + "x" * 9000
                    + "}}"
                ),
                "routing.yaml:7: routes[0].match.level",
                id="level-text",
            ),
            pytest.param(
                _routes(
                    "- {name: r, to: alerts, match: {level: 0x"
                    + "f" * 5000
                    + "}}"
                ),
                "routing.yaml:7: routes[0].match.level",
                id="level-number",
            ),
            pytest.param(
                _routes(
                    "- {name: r, to: alerts, embed: {color: 0x"
                    + "f" * 5000
                    + "}}"
                ),
                "routing.yaml:7: routes[0].embed.color",
                id="color",
            ),
            pytest.param(
                _routes(
                    "- {name: r, to: alerts, mention: " + "r" * 9000 + "}"
                ),
                "routing.yaml:7: routes[0].mention",
                id="mention",
            ),
            pytest.param(
                _routes(
                    "- {name: r, to: alerts, continue: " + "y" * 9000 + "}"
                ),
                "routing.yaml:7: routes[0].continue",
                id="continue",
            ),
            pytest.param(
                _routes(
                    "- {name: r, to: alerts, embed: {title: 0x1}}"
                ).replace('alerts: ""', "alerts: {id: 0x" + "f" * 5000 + "}"),
                "routing.yaml:3: channels.alerts.id",
                id="channel-id",
            ),
            pytest.param(
                _routes(
                    "- {name: r, to: alerts, embed: {title: 0x"
                    + "f" * 5000
                    + "}}"
                ),
                "routing.yaml:7: routes[0].embed.title",
                id="number-as-template",
            ),
            pytest.param(
                _routes("- {name: r, to: alerts}")
                + "delivery: {flush_timeout: 1"
                + "0" * 400
                + "}\n",
                "routing.yaml:8: delivery.flush_timeout",
                id="duration-number",
            ),
            pytest.param(
                _routes("- {name: r, to: alerts}")
                + "delivery: {flush_timeout: '1"
                + "0" * 400
                + "s'}\n",
                "routing.yaml:8: delivery.flush_timeout",
                id="duration-text",
            ),
            pytest.param(
                _routes("- {name: r, to: alerts}")
                + "delivery: {reload: .inf}\n",
                "routing.yaml:8: delivery.reload",
                id="duration-infinite",
            ),
            pytest.param(
                _routes("- {name: r, to: alerts}")
                + "delivery: {spool_size: '1"
                + "0" * 400
                + " MB'}\n",
                "routing.yaml:8: delivery.spool_size",
                id="size-text",
            ),
            pytest.param(
                _routes("- {name: r, to: alerts}")
                + "delivery: {queue_size: "
                + "z" * 9000
                + "}\n",
                "routing.yaml:8: delivery.queue_size",
                id="queue-size",
            ),
            pytest.param(
                _routes("- {name: r, to: alerts}")
                + "delivery: {console: "
                + "z" * 9000
                + "}\n",
                "routing.yaml:8: delivery.console",
                id="console",
            ),
            pytest.param(
                _routes(
                    "- {name: r, to: alerts, match: {fields: {a: {regex: '"
                    + "(" * 9000
                    + "'}}}}"
                ),
                "routing.yaml:7: routes[0].match.fields.a.regex",
                id="regex",
            ),
        ],
    )
    def test_quoted_short_and_located(self, text: str, where: str) -> None:
        """A huge value is a located problem quoting at most a line of it."""
        error = _error(text)

        assert where in _locations(error)
        problem = next(p for p in error.problems if p.startswith(where))
        assert len(problem) < 400


class TestNestedTooDeeply:
    @pytest.mark.parametrize(
        ("route", "where"),
        [
            pytest.param(
                "- {name: r, to: alerts, embed: {title: '{{ "
                + "(" * 3000
                + "x"
                + ")" * 3000
                + " }}'}}",
                "routing.yaml:7: routes[0].embed.title",
                id="template",
            ),
            pytest.param(
                "- {name: r, to: alerts, embed: {title: '"
                + "{% if a %}" * 1000
                + "{% endif %}" * 1000
                + "'}}",
                "routing.yaml:7: routes[0].embed.title",
                id="template-blocks",
            ),
            pytest.param(
                "- {name: r, to: alerts, match: {when: '"
                + "(" * 3000
                + "x"
                + ")" * 3000
                + "'}}",
                "routing.yaml:7: routes[0].match.when",
                id="when",
            ),
            pytest.param(
                "- {name: r, to: alerts, match: {fields: {a: {regex: '"
                + "(" * 3000
                + ")" * 3000
                + "'}}}}",
                "routing.yaml:7: routes[0].match.fields.a.regex",
                id="regex",
            ),
            pytest.param(
                "- {name: r, to: alerts, mention: '"
                + "${A:-" * 3000
                + "x"
                + "}" * 3000
                + "'}",
                "routing.yaml:7: routes[0].mention",
                id="variable-defaults",
            ),
        ],
    )
    def test_located_not_a_recursion_error(
        self, route: str, where: str
    ) -> None:
        """Text nested past Python's stack is a problem at its key."""
        error = _error(_routes(route))

        assert [where] == _locations(error)
        assert "nests too deeply" in error.problems[0]


class TestManyProblems:
    def test_listed_up_to_a_bound(self) -> None:
        """Thousands of problems list the first ones and count the rest."""
        routes = [
            f"- {{name: r{n}, to: nope}}" for n in range(MAX_PROBLEMS + 50)
        ]

        error = _error(_routes(*routes))

        assert MAX_PROBLEMS + 1 == len(error.problems)
        assert error.problems[-1] == (
            "routing.yaml: and 50 more problems (fix these first)"
        )


#: positive_int: value → what it gives.
POSITIVE_INTS: dict[str, tuple[Any, int | None]] = {
    "one": (1, 1),
    "huge": (10**30, 10**30),
    "zero": (0, None),
    "negative": (-3, None),
    "true": (True, None),
    "float": (1.0, None),
    "text": ("5", None),
    "none": (None, None),
}
#: is_off: value → whether it turns a key off.
OFFS: dict[str, tuple[Any, bool]] = {
    "word": ("off", True),
    "false": (False, True),
    "capital": ("Off", False),
    "zero": (0, False),
    "none": (None, False),
    "empty": ("", False),
}
#: delivery keys that take a positive whole number, each with a bad value.
COUNTS = {
    "queue-size": "queue_size: 0",
    "queue-size-null": "queue_size: ~",
    "console-per-channel": "console_per_channel: -1",
}
#: five keys turned off, three ways.
OFF_KEYS = {
    "false": (
        "reload: false, report: false, spool: false, console: false, "
        "relay: false"
    ),
    "quoted-off": (
        "reload: 'off', report: 'off', spool: 'off', console: 'off', "
        "relay: 'off'"
    ),
    "bare-off": (
        "reload: off, report: {every: off}, spool: off, console: off, "
        "relay: off"
    ),
}
#: a route's part with a list of field names that is not one.
NOT_FIELD_NAMES = {
    "by-empty": ("by", "coalesce: {by: []}"),
    "by-blank": ("by", "coalesce: {by: [a, '']}"),
    "by-number": ("by", "coalesce: {by: [a, 1]}"),
    "by-mapping": ("by", "coalesce: {by: {a: 1}}"),
    "exclude-one-name": (
        "exclude",
        "embed: {fields: {auto: true, exclude: a}}",
    ),
    "exclude-blank": (
        "exclude",
        "embed: {fields: {auto: true, exclude: ['']}}",
    ),
    "exclude-nested": (
        "exclude",
        "embed: {fields: {auto: true, exclude: [[b]]}}",
    ),
}


class TestSharedChecks:
    """
    The checks several keys share are one each: a positive whole number,
    ``off``, and a list of field names; every key tells them alike.
    """

    @pytest.mark.parametrize(
        ("value", "expected"), POSITIVE_INTS.values(), ids=POSITIVE_INTS
    )
    def test_positive_int(self, value: Any, expected: int | None) -> None:
        assert expected == positive_int(value)

    @pytest.mark.parametrize(("value", "expected"), OFFS.values(), ids=OFFS)
    def test_is_off(self, value: Any, expected: bool) -> None:
        assert expected == is_off(value)

    @pytest.mark.parametrize("line", COUNTS.values(), ids=COUNTS)
    def test_positive_whole_number_keys(self, line: str) -> None:
        """Every key that counts says so in the same words."""
        text = (
            f"version: 1\nchannels: {{}}\nroutes: []\ndelivery: {{{line}}}\n"
        )

        problems = _error(text).problems

        assert 1 == len(problems)
        assert "must be a positive whole number" in problems[0]

    @pytest.mark.parametrize("keys", OFF_KEYS.values(), ids=OFF_KEYS)
    def test_off_keys(self, keys: str) -> None:
        """``off``, quoted or not, and ``false`` turn each key off."""
        text = (
            f"version: 1\nchannels: {{}}\nroutes: []\ndelivery: {{{keys}}}\n"
        )

        delivery = _config(text, {}).delivery

        assert (None, None, None, "off", None) == (
            delivery.reload_every,
            delivery.report_every,
            delivery.spool,
            delivery.console,
            delivery.relay,
        )

    def test_coalesce_by_one_name_or_a_list(self) -> None:
        one, two = _config(
            _routes(
                "- {name: r, to: alerts, coalesce: {by: agent}}",
                "- {name: s, to: alerts, coalesce: {by: [agent, market]}}",
            )
        ).routes

        assert ("agent",) == one.coalesce.by
        assert ("agent", "market") == two.coalesce.by

    @pytest.mark.parametrize(
        ("key", "part"), NOT_FIELD_NAMES.values(), ids=NOT_FIELD_NAMES
    )
    def test_field_name_lists(self, key: str, part: str) -> None:
        """``by`` and ``exclude`` take field names by the same rule."""
        error = _error(_routes(f"- {{name: r, to: alerts, {part}}}"))

        assert [f"'{key}' takes a list of field names"] == [
            p.rpartition(": ")[2] for p in error.problems
        ]

    def test_exclude_may_be_empty(self) -> None:
        auto = "{fields: {auto: true, exclude: []}}"
        route = _config(
            _routes(f"- {{name: r, to: alerts, embed: {auto}}}")
        ).routes[0]

        assert frozenset() == route.embed.auto_exclude


#: Ids taken as they are: a channel's (``{id: ...}``), or mentioned.
GOOD_IDS = {
    "channel-19-digits": "1234567890123456789",
    "channel-18-digits": "123456789012345678",
    "role": "role:345678901234567890",
    "user": "user:18446744073709551615",
}
#: Ids taken with a note: shorter than any Discord makes.
SHORT_IDS = {
    "channel": "123456",
    "channel-leading-zero": "0123456789012345",
    "role": "role:42",
    "user": "user:7",
}
#: Ids refused, and what the problem says after "a channel id is".
BAD_IDS = {
    "channel-over-64-bits": ("18446744073709551616", "a number no larger"),
    "channel-fullwidth": (
        "１２３４５６７８９０１２３４５６７８",
        "a number, not",
    ),
    "channel-mention-form": ("<#123456789012345678>", "a number, not '<#"),
    "role-too-large": ("role:99999999999999999999", "a number no larger"),
    "user-words": ("user:me", "a number, not 'user:me'"),
}


def _with_id(written: str) -> str:
    """A routing file with *written* as its channel's id, or a mention."""
    kind, _, ident = written.rpartition(":")
    channel = "''" if kind else f"{{id: '{ident}'}}"
    pings = f", mention: '{written}'" if kind else ""
    route = f"{{name: r, to: a{pings}}}"
    return f"version: 1\nchannels:\n  a: {channel}\nroutes:\n  - {route}\n"


class TestDiscordIds:
    """Channel ids and mentioned ids follow ``_discord``'s one rule."""

    @pytest.mark.parametrize("written", GOOD_IDS.values(), ids=GOOD_IDS)
    def test_taken(self, written: str) -> None:
        assert () == _config(_with_id(written)).notes

    @pytest.mark.parametrize("written", SHORT_IDS.values(), ids=SHORT_IDS)
    def test_short_is_a_note(self, written: str) -> None:
        """Likely a typo, but a stand-in for Discord may make such ids."""
        kind = written.partition(":")[0] if ":" in written else "channel"

        (note,) = _config(_with_id(written)).notes

        assert f"the {kind} id from {written!r} has fewer digits" in note
        assert f"Copy {kind.title()} ID" in note

    @pytest.mark.parametrize(
        ("written", "said"), BAD_IDS.values(), ids=BAD_IDS
    )
    def test_refused(self, written: str, said: str) -> None:
        kind = written.partition(":")[0] if ":" in written else "channel"

        (problem,) = _error(_with_id(written)).problems

        assert f": a {kind} id is {said}" in problem
