"""
Tests for polybot_loghandler._yaml: YAML with a line for every key path.
"""

from __future__ import annotations

import pytest

from polybot_loghandler._yaml import KeyPath, load_yaml, path_to_str
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
