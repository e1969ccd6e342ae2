"""
Tests for polybot_loghandler._env: ``${VAR}`` interpolation.
"""

from __future__ import annotations

import pytest

from polybot_loghandler._env import (
    InterpolationError,
    expand_traced,
    interpolate,
)

ENVIRON = {
    "HOOK": "https://discord.com/api/webhooks/1/token",
    "ROLE": "123456",
    "EMPTY": "",
    "OTHER": "other",
}


class TestInterpolate:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param("plain text", "plain text", id="no-reference"),
            pytest.param("", "", id="empty-text"),
            pytest.param("${ROLE}", "123456", id="set"),
            pytest.param("role:${ROLE}", "role:123456", id="set-in-text"),
            pytest.param(
                "${OTHER}/${ROLE}", "other/123456", id="two-references"
            ),
            pytest.param("${UNSET}", "", id="unset"),
            pytest.param("a${UNSET}b", "ab", id="unset-in-text"),
            pytest.param("${EMPTY}", "", id="empty"),
            pytest.param(
                "${UNSET:-fallback}", "fallback", id="unset-fallback"
            ),
            pytest.param(
                "${EMPTY:-fallback}", "fallback", id="empty-fallback"
            ),
            pytest.param("${ROLE:-fallback}", "123456", id="set-fallback"),
            pytest.param("${UNSET:-}", "", id="empty-fallback-text"),
            pytest.param(
                "${UNSET:-a b:c/d}", "a b:c/d", id="fallback-with-punctuation"
            ),
            pytest.param("${UNSET:-${HOOK}}", ENVIRON["HOOK"], id="nested"),
            pytest.param("${UNSET:-${EMPTY}}", "", id="nested-empty"),
            pytest.param(
                "${UNSET:-${NOPE:-deep}}", "deep", id="nested-fallback"
            ),
            pytest.param(
                "${UNSET:-x${OTHER}y}", "xothery", id="nested-in-text"
            ),
            pytest.param(
                "${ROLE:-${UNSET:-unused}}", "123456", id="nested-unused"
            ),
            pytest.param("$$", "$", id="escaped-dollar"),
            pytest.param("$${ROLE}", "${ROLE}", id="escaped-reference"),
            pytest.param("cost: $$5", "cost: $5", id="escaped-in-text"),
            pytest.param("${UNSET:-$$}", "$", id="escaped-in-fallback"),
            pytest.param("$ROLE", "$ROLE", id="bare-dollar-name"),
            pytest.param("a $ b", "a $ b", id="lone-dollar"),
            pytest.param("trailing $", "trailing $", id="trailing-dollar"),
            pytest.param("a}b{c", "a}b{c", id="stray-braces"),
            pytest.param("${UNSET:-a}b}", "ab}", id="brace-after-reference"),
        ],
    )
    def test_expands(self, text: str, expected: str) -> None:
        """References expand from the environment, as the shell would."""
        assert expected == interpolate(text, ENVIRON)

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            pytest.param(
                "${ROLE", "'${ROLE' must end with '}'", id="unclosed"
            ),
            pytest.param(
                "https://x/${HOOK", "'${HOOK' must end", id="unclosed-in-text"
            ),
            pytest.param(
                "${UNSET:-fallback",
                "'${' is not closed",
                id="unclosed-fallback",
            ),
            pytest.param(
                "${UNSET:-${OTHER}", "'${' is not closed", id="unclosed-nested"
            ),
            pytest.param(
                "${}", "must be followed by a variable name", id="no-name"
            ),
            pytest.param(
                "${:-fallback}",
                "must be followed by a variable name",
                id="fallback-without-name",
            ),
            pytest.param(
                "${ ROLE }",
                "must be followed by a variable name",
                id="space-before-name",
            ),
            pytest.param(
                "${ROLE-x}", "'${ROLE' must end", id="dash-without-colon"
            ),
            pytest.param("${A.B}", "'${A' must end", id="dot-in-name"),
            pytest.param(
                "${", "must be followed by a variable name", id="bare"
            ),
        ],
    )
    def test_rejects(self, text: str, message: str) -> None:
        """A reference that is not closed or has no name is an error."""
        with pytest.raises(InterpolationError) as info:
            interpolate(text, ENVIRON)

        assert message in str(info.value)

    def test_error_is_a_value_error(self) -> None:
        """Callers may catch interpolation problems as ValueError."""
        assert issubclass(InterpolationError, ValueError)

    def test_environ_values_are_not_expanded_again(self) -> None:
        """A value that itself contains ``${...}`` is used as it is."""
        environ = {"A": "${B}", "B": "secret"}

        assert interpolate("${A}", environ) == "${B}"


class TestExpandTraced:
    @pytest.mark.parametrize(
        "text",
        [
            "plain",
            "${ROLE}",
            "role:${ROLE}",
            "${UNSET:-${HOOK}}",
            "${EMPTY:-${NOPE:-deep}}",
            "${ROLE:-${UNSET:-unused}}",
            "$${ROLE}",
            "${OTHER}/${ROLE}",
        ],
    )
    def test_same_value_as_interpolate(self, text: str) -> None:
        """Tracing never changes the result."""
        assert interpolate(text, ENVIRON) == expand_traced(text, ENVIRON).value

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param("plain", [], id="no-reference"),
            pytest.param("$${ROLE}", [], id="escaped"),
            pytest.param("${ROLE}", [("ROLE", True, True, True)], id="set"),
            pytest.param(
                "${UNSET}", [("UNSET", False, True, False)], id="unset"
            ),
            pytest.param(
                "${EMPTY}", [("EMPTY", False, True, False)], id="empty"
            ),
            pytest.param(
                "${UNSET:-${HOOK}}",
                [("UNSET", False, True, False), ("HOOK", True, True, True)],
                id="fallback-used",
            ),
            pytest.param(
                "${ROLE:-${UNSET}}",
                [("ROLE", True, True, True), ("UNSET", False, False, False)],
                id="fallback-not-consulted",
            ),
            pytest.param(
                "${ROLE:-${HOOK}}",
                [("ROLE", True, True, True), ("HOOK", True, False, False)],
                id="set-fallback-not-used",
            ),
            pytest.param(
                "${A:-${B:-${ROLE}}}",
                [
                    ("A", False, True, False),
                    ("B", False, True, False),
                    ("ROLE", True, True, True),
                ],
                id="nested-twice",
            ),
            pytest.param(
                "${OTHER}/${UNSET}",
                [("OTHER", True, True, True), ("UNSET", False, True, False)],
                id="two-references",
            ),
        ],
    )
    def test_references(
        self, text: str, expected: list[tuple[str, bool, bool, bool]]
    ) -> None:
        """Each reference says if it was set, looked at and used."""
        found = expand_traced(text, ENVIRON).references

        assert [
            (r.name, r.is_set, r.consulted, r.used) for r in found
        ] == expected

    def test_supplied_by_and_unset(self) -> None:
        """The expansion names who supplied it and who was missing."""
        expansion = expand_traced("${UNSET:-${EMPTY:-${HOOK}}}", ENVIRON)

        assert expansion.supplied_by == ("HOOK",)
        assert expansion.unset == ("UNSET", "EMPTY")

    def test_repr_hides_value(self) -> None:
        """The value may be a webhook URL, so repr leaves it out."""
        expansion = expand_traced("${HOOK}", ENVIRON)

        assert "token" not in repr(expansion)
        assert "HOOK" in repr(expansion)

    def test_rejects_like_interpolate(self) -> None:
        """A broken reference is the same error."""
        with pytest.raises(InterpolationError):
            expand_traced("${ROLE", ENVIRON)
