"""
Tests for polybot_loghandler._yaml: YAML with a line for every key path.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from polybot_loghandler._yaml import (
    MAX_ALIAS_VALUES,
    MAX_CHARS,
    MAX_DEPTH,
    KeyPath,
    load_yaml,
    path_to_str,
)
from polybot_loghandler.exceptions import ConfigError

# Line numbers are noted on the right; keep them in step with the text.
DOCUMENT = """\
version: 1
channels:
  alerts: ""
  trades: {webhook: "https://example.com/hook", category: Trading}
routes:
  - name: first
    match: {event: trade_executed, level: info}
    to: [alerts, trades]
    embed:
      description: |
        line one
        {{ amount }}
      title: >-
        folded
        title
      footer: |-

        after a blank line
      color: red
  - name: second
    to: alerts
"""
# version 1, channels 2, alerts 3, trades 4, routes 5, first 6, match 7,
# to 8, embed 9, description 10 (text 11), title 13 (text 14),
# footer 16 (text 17), color 19, second 20, to 21.


def _located(text: str) -> ConfigError:
    """
    Return the error that loading *text* raises.
    """
    with pytest.raises(ConfigError) as info:
        load_yaml(text, "routing.yaml")
    return info.value


class TestPathToStr:
    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            pytest.param((), "(top level)", id="empty"),
            pytest.param(("version",), "version", id="one-key"),
            pytest.param(
                ("routes", 3, "match", "level"),
                "routes[3].match.level",
                id="index-in-the-middle",
            ),
            pytest.param((0, "a"), "[0].a", id="leading-index"),
            pytest.param(
                ("routes", 0, "to", 1), "routes[0].to[1]", id="trailing-index"
            ),
        ],
    )
    def test_spelling(self, path: KeyPath, expected: str) -> None:
        """A key path has dots between keys and brackets round indexes."""
        assert expected == path_to_str(path)


class TestValues:
    def test_data(self) -> None:
        """The data is the plain Python value PyYAML would build."""
        data, _ = load_yaml(DOCUMENT, "routing.yaml")

        route = data["routes"][0]
        assert data["version"] == 1
        assert data["channels"]["trades"] == {
            "webhook": "https://example.com/hook",
            "category": "Trading",
        }
        assert route["to"] == ["alerts", "trades"]
        assert route["embed"]["description"] == "line one\n{{ amount }}\n"
        assert route["embed"]["title"] == "folded title"
        assert route["embed"]["footer"] == "\nafter a blank line"

    @pytest.mark.parametrize(
        "text",
        [
            pytest.param("", id="empty"),
            pytest.param("# only a comment\n", id="comment"),
        ],
    )
    def test_empty_document(self, text: str) -> None:
        """An empty document is None, with no lines."""
        assert load_yaml(text, "routing.yaml") == (None, {})

    def test_non_string_keys(self) -> None:
        """Scalar keys that are not strings become strings."""
        data, _ = load_yaml("1: a\ntrue: b\n", "routing.yaml")

        assert data == {"1": "a", "True": "b"}

    def test_merge_key(self) -> None:
        """A merge key brings in the anchored mapping's keys."""
        data, _ = load_yaml(
            "base: &base {a: 1}\nx:\n  <<: *base\n  c: 2\n", "routing.yaml"
        )

        assert data["x"] == {"a": 1, "c": 2}

    def test_merge_key_override(self) -> None:
        """A key beside a merge key overrides the merged one, as YAML says."""
        text = "base: &base {a: 1, c: 3}\nx:\n  <<: *base\n  a: 2\n"

        data, _ = load_yaml(text, "routing.yaml")

        assert data["x"] == {"a": 2, "c": 3}


class TestLines:
    @pytest.mark.parametrize(
        ("path", "line"),
        [
            pytest.param((), 1, id="top-level"),
            pytest.param(("version",), 1, id="first-key"),
            pytest.param(("channels", "alerts"), 3, id="nested-scalar"),
            pytest.param(("channels", "trades"), 4, id="flow-mapping"),
            pytest.param(
                ("channels", "trades", "category"), 4, id="inside-flow-mapping"
            ),
            pytest.param(("routes", 0), 6, id="sequence-item"),
            pytest.param(("routes", 0, "name"), 6, id="first-key-of-item"),
            pytest.param(("routes", 0, "match", "level"), 7, id="flow-key"),
            pytest.param(("routes", 0, "to", 1), 8, id="flow-list-item"),
            pytest.param(
                ("routes", 0, "embed", "description"),
                10,
                id="literal-block-scalar",
            ),
            pytest.param(
                ("routes", 0, "embed", "title"), 13, id="folded-block-scalar"
            ),
            pytest.param(
                ("routes", 0, "embed", "footer"),
                16,
                id="block-scalar-leading-blank-line",
            ),
            pytest.param(
                ("routes", 0, "embed", "color"), 19, id="after-block-scalar"
            ),
            pytest.param(("routes", 1), 20, id="second-item"),
            pytest.param(("routes", 1, "to"), 21, id="last-key"),
        ],
    )
    def test_line_of_key_path(self, path: KeyPath, line: int) -> None:
        """Each key path maps to the line its key stands on."""
        _, lines = load_yaml(DOCUMENT, "routing.yaml")

        assert line == lines[path]

    @pytest.mark.parametrize(
        ("path", "line"),
        [
            pytest.param(
                ("routes", 0, "embed", "description"), 11, id="literal"
            ),
            pytest.param(("routes", 0, "embed", "title"), 14, id="folded"),
            pytest.param(
                ("routes", 0, "embed", "footer"), 17, id="leading-blank-line"
            ),
            pytest.param(("routes", 0, "embed", "color"), 19, id="plain"),
        ],
    )
    def test_line_where_text_starts(self, path: KeyPath, line: int) -> None:
        """A block scalar's text starts on the line after its indicator."""
        _, lines = load_yaml(DOCUMENT, "routing.yaml")

        assert line == lines.text_start[path]

    @pytest.mark.parametrize(
        ("path", "line"),
        [
            pytest.param(("channels",), 2, id="block-mapping"),
            pytest.param(("routes",), 5, id="block-sequence"),
            pytest.param(("routes", 0, "embed"), 9, id="nested-block-mapping"),
        ],
    )
    def test_line_of_key_with_block_value(
        self, path: KeyPath, line: int
    ) -> None:
        """A key whose value is a block mapping or list maps to its line."""
        _, lines = load_yaml(DOCUMENT, "routing.yaml")

        assert line == lines[path]

    def test_every_path_has_a_line(self) -> None:
        """Every key and item in the data has a line."""
        data, lines = load_yaml(DOCUMENT, "routing.yaml")

        def paths(value: object, path: KeyPath) -> list[KeyPath]:
            found = [path]
            if isinstance(value, dict):
                for key, item in value.items():
                    found += paths(item, (*path, key))
            elif isinstance(value, list):
                for index, item in enumerate(value):
                    found += paths(item, (*path, index))
            return found

        assert sorted(map(str, paths(data, ()))) == sorted(map(str, lines))


class TestDuplicateKeys:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param(
                "version: 1\nchannels: {}\nversion: 2\n",
                "routing.yaml:3: version: duplicate key",
                id="top-level",
            ),
            pytest.param(
                "channels:\n  a: ''\n  b: ''\n  a: x\n",
                "routing.yaml:4: channels.a: duplicate key",
                id="nested",
            ),
            pytest.param(
                "channels: {a: '', a: x}\n",
                "routing.yaml:1: channels.a: duplicate key",
                id="flow-mapping",
            ),
            pytest.param(
                "routes:\n  - name: a\n  - name: b\n    to: x\n    name: c\n",
                "routing.yaml:5: routes[1].name: duplicate key",
                id="in-sequence-item",
            ),
            pytest.param(
                "1: a\n'1': b\n",
                "routing.yaml:2: 1: duplicate key",
                id="same-after-stringifying",
            ),
        ],
    )
    def test_duplicate_key_is_located(self, text: str, expected: str) -> None:
        """A repeated key is an error at the repeat's line, naming its path."""
        error = _located(text)

        assert len(error.problems) == 1
        assert expected == error.problems[0][: len(expected)]


class TestSyntaxErrors:
    @pytest.mark.parametrize(
        ("text", "line"),
        [
            pytest.param(
                "version: 1\nroutes:\n  - name: a: b\n", 3, id="colon-in-value"
            ),
            pytest.param(
                "version: 1\nchannels:\n\talerts: ''\n", 3, id="tab-indent"
            ),
            pytest.param(
                "version: 1\nchannels:\n  a: ''\n routes: []\n",
                4,
                id="bad-indent",
            ),
            pytest.param(
                "routes:\n  - name: a\n    to: [alerts\n  - name: b\n",
                4,
                id="unclosed-flow-list",
            ),
            pytest.param('a: "x\\q"\n', 1, id="bad-escape"),
            pytest.param("a: *nope\n", 1, id="undefined-alias"),
            pytest.param(
                "a: !!python/object:os.system x\n", 1, id="unsafe-tag"
            ),
            pytest.param("--- a\n--- b\n", 2, id="two-documents"),
        ],
    )
    def test_syntax_error_is_located(self, text: str, line: int) -> None:
        """A YAML syntax error names the file and line, without a traceback."""
        error = _located(text)

        expected = f"routing.yaml:{line}: YAML syntax error: "
        assert len(error.problems) == 1
        assert expected == error.problems[0][: len(expected)]
        assert error.__cause__ is None
        assert error.__suppress_context__

    def test_non_scalar_key(self) -> None:
        """A mapping used as a key (an unquoted template) is located."""
        error = _located("routes:\n  - name: a\n    to: {{ x }}\n")

        expected = (
            "routing.yaml:3: routes[0].to: keys must be plain scalars (a "
            "template written as a value must be quoted: '{{ ... }}')"
        )
        assert (expected,) == error.problems


def _nested_lists(depth: int, style: str) -> str:
    """A value nested *depth* lists deep, in flow or block style."""
    if style == "flow":
        return "x: " + "[" * depth + "]" * depth + "\n"
    return "x:\n" + "- " * depth + "lol\n"


def _nested_mappings(depth: int, style: str) -> str:
    """A value nested *depth* mappings deep, in flow or block style."""
    if style == "flow":
        return "x: " + "{a: " * depth + "1" + "}" * depth + "\n"
    lines = [f"{'  ' * n}k{n}:" for n in range(depth)]
    return "\n".join(lines) + " 1\n"


def _shared(uses: int, size: int) -> str:
    """One anchored list of *size* items, aliased *uses* times."""
    items = ", ".join(["1"] * size)
    return (
        f"base: &b [{items}]\n" + "uses: [" + ", ".join(["*b"] * uses) + "]\n"
    )


class TestNesting:
    @pytest.mark.parametrize("style", ["flow", "block"])
    @pytest.mark.parametrize("nest", [_nested_lists, _nested_mappings])
    def test_the_deepest_allowed_loads(self, nest: Any, style: str) -> None:
        """Values nested MAX_DEPTH levels below the top load."""
        data, _ = load_yaml(nest(MAX_DEPTH - 1, style), "routing.yaml")

        depth = 0
        while isinstance(data, (dict, list)) and data:
            data = (
                next(iter(data.values()))
                if isinstance(data, dict)
                else data[0]
            )
            depth += 1
        assert depth >= MAX_DEPTH - 1

    @pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 10_000])
    @pytest.mark.parametrize("style", ["flow", "block"])
    @pytest.mark.parametrize("nest", [_nested_lists, _nested_mappings])
    def test_deeper_is_a_located_error(
        self, nest: Any, style: str, depth: int
    ) -> None:
        """Deeper nesting is refused with its line, not a RecursionError."""
        if style == "block" and nest is _nested_mappings and depth > 1000:
            depth = 1000  # indentation makes the file grow as depth²

        error = _located(nest(depth, style))

        assert len(error.problems) == 1
        assert re.match(r"routing\.yaml:\d+: ", error.problems[0])
        assert f"more than {MAX_DEPTH} levels deep" in error.problems[0]
        assert len(error.problems[0]) < 300

    def test_aliases_cannot_nest_deeper(self) -> None:
        """An alias placing a deep value deep is refused like the text."""
        half = MAX_DEPTH // 2 + 1
        text = (
            "a: &a " + "[" * half + "]" * half + "\n"
            "b: " + "[" * half + "*a" + "]" * half + "\n"
        )

        error = _located(text)

        assert error.problems[0].startswith("routing.yaml:2: b[0][0]")
        assert f"more than {MAX_DEPTH} levels deep" in error.problems[0]


class TestAliases:
    def test_shared_values_within_the_budget_load(self) -> None:
        """Aliases adding up to MAX_ALIAS_VALUES values load."""
        uses = 99  # each use adds the list and its items
        size = MAX_ALIAS_VALUES // (uses + 1) - 1

        data, _ = load_yaml(_shared(uses, size), "routing.yaml")

        assert len(data["uses"]) == uses
        assert all(len(use) == size for use in data["uses"])

    def test_more_than_the_budget_is_a_located_error(self) -> None:
        """One alias more than the budget is refused, naming where."""
        error = _located(_shared(2, MAX_ALIAS_VALUES // 2))

        assert 1 == len(error.problems)
        assert error.problems[0].startswith("routing.yaml:2: uses[1]")
        assert (
            f"aliases add more than {MAX_ALIAS_VALUES:,} values"
            in error.problems[0]
        )

    @pytest.mark.parametrize("levels", [5, 9, 30])
    def test_billion_laughs_builds_a_bounded_number_of_values(
        self, levels: int, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Nested aliases stop at the budget however far they would go."""
        lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        lines += [
            f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]"
            for n in range(1, levels)
        ]
        built = []
        original = yaml.SafeLoader.construct_object

        def counting(self: Any, node: Any, deep: bool = False) -> Any:
            built.append(node)
            return original(self, node, deep)

        monkeypatch.setattr(yaml.SafeLoader, "construct_object", counting)

        with pytest.raises(ConfigError, match="aliases add more than"):
            load_yaml("\n".join(lines) + "\n", "routing.yaml")
        assert len(built) <= 2 * MAX_ALIAS_VALUES

    @pytest.mark.parametrize(
        ("text", "line", "path"),
        [
            pytest.param("x: &a [1, *a]\n", 1, "x[1]", id="list"),
            pytest.param("x: &a\n  y: *a\n", 2, "x.y", id="mapping"),
            pytest.param(
                "x: &a\n  - y: [*a]\n", 2, "x[0].y[0]", id="deeper-down"
            ),
        ],
    )
    def test_recursive_anchor_is_a_located_error(
        self, text: str, line: int, path: str
    ) -> None:
        """An alias inside the value it names is refused, not followed."""
        error = _located(text)

        assert 1 == len(error.problems)
        assert error.problems[0].startswith(f"routing.yaml:{line}: {path}: ")
        assert "recursive anchor" in error.problems[0]

    @pytest.mark.parametrize(
        "text",
        [
            pytest.param("x: &a {k: 1, <<: *a}\n", id="itself"),
            pytest.param("x: &a {k: 1, <<: [{j: 2}, *a]}\n", id="in-a-list"),
            pytest.param(
                "x: &a {k: 1, <<: {y: 2, <<: *a}}\n", id="through-another"
            ),
        ],
    )
    def test_recursive_merge_is_a_located_error(self, text: str) -> None:
        """A mapping merged into itself is refused, not flattened forever."""
        error = _located(text)

        assert 1 == len(error.problems)
        assert error.problems[0].startswith("routing.yaml:1: x: ")
        assert "recursive merge" in error.problems[0]

    def test_merge_of_non_mappings_is_a_located_error(self) -> None:
        error = _located("a: &a [1]\nx:\n  <<: *a\n")

        assert error.problems[0].startswith("routing.yaml:2: x: ")
        assert "takes a mapping or a list of mappings" in error.problems[0]

    def test_merges_of_merges_are_counted_as_they_flatten(self) -> None:
        """Merge lists of merge lists stop at the budget too."""
        lines = ["a0: &a0 {k0: 0, k1: 1, k2: 2, k3: 3, k4: 4}"]
        lines += [
            f"a{n}: &a{n} {{<<: [" + ", ".join([f"*a{n - 1}"] * 9) + "]}"
            for n in range(1, 12)
        ]

        error = _located("\n".join(lines) + "\n")

        assert "aliases add more than" in error.problems[0]

    def test_aliased_mapping_with_a_merge_reads_the_same_each_time(
        self,
    ) -> None:
        """A mapping that merges and overrides reads the same at each use."""
        text = (
            "base: &base {a: 1, b: 2}\n"
            "tmpl: &t {<<: *base, a: 3}\n"
            "x: *t\n"
            "y: *t\n"
        )

        data, _ = load_yaml(text, "routing.yaml")

        assert data["tmpl"] == data["x"] == data["y"] == {"a": 3, "b": 2}

    def test_first_listed_merge_wins(self) -> None:
        """With a list of merged mappings the first one listed wins."""
        text = "a: &a {k: 1}\nb: &b {k: 2, j: 3}\nx: {<<: [*a, *b]}\n"

        data, _ = load_yaml(text, "routing.yaml")

        assert data["x"] == yaml.safe_load(text)["x"] == {"k": 1, "j": 3}


class TestScalars:
    @pytest.mark.parametrize(
        ("value", "detail"),
        [
            pytest.param("9" * 5000, "as a number", id="int-too-long"),
            pytest.param("2026-02-30", "as a date", id="no-such-day"),
            pytest.param("!!int abc", "as a number", id="int-tag"),
            pytest.param("!!float abc", "as a number", id="float-tag"),
            pytest.param("!!bool maybe", "as true/false", id="bool-tag"),
            pytest.param("!!timestamp soon", "as a date", id="timestamp-tag"),
        ],
    )
    def test_value_that_cannot_be_read_is_located(
        self, value: str, detail: str
    ) -> None:
        """A scalar its type cannot read is a located error, quoted short."""
        error = _located(f"version: 1\nchannels:\n  a: {value}\n")

        assert 1 == len(error.problems)
        assert error.problems[0].startswith("routing.yaml:3: channels.a: ")
        assert detail in error.problems[0]
        assert "quote it" in error.problems[0]
        assert len(error.problems[0]) < 200

    def test_value_key_is_text(self) -> None:
        """YAML's '=' key is read as the text '='."""
        data, _ = load_yaml("=: a\n", "routing.yaml")

        assert data == {"=": "a"}

    def test_long_key_is_shortened_in_messages(self) -> None:
        key = "k" * 1000
        error = _located(f"{key}: 1\n{key}: 2\n")

        assert error.problems[0].startswith(
            f"routing.yaml:2: {'k' * 40}…: duplicate key"
        )

    def test_text_longer_than_a_routing_file_is_refused(self) -> None:
        error = _located("x: '" + "a" * MAX_CHARS + "'\n")

        assert error.problems[0].startswith("routing.yaml:1: the file has ")
        assert "the most a routing file may hold" in error.problems[0]
