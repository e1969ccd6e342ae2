"""
Event values as text: never raising, never slow twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polybot_loghandler import _values
from polybot_loghandler._format import FILTERS
from polybot_loghandler._values import (
    SLOW_TYPES_LIMIT,
    forget_slow_types,
    report_to,
    repr_of,
    text_of,
)


class FakeClock:
    """A clock that moves only when a conversion says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


CLOCK = FakeClock()


class RaisingStr:
    """A value whose ``__str__`` and ``__repr__`` raise."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class SlowStr:
    """A value whose conversion takes a (fake) second."""

    calls = 0

    def __str__(self) -> str:
        SlowStr.calls += 1
        CLOCK.now += 1.0
        return "slow"

    __repr__ = __str__


class FastStr:
    """A value whose conversion takes no (fake) time."""

    def __str__(self) -> str:
        return "fast"


class BigInt(int):
    """An int subclass, as enums and numpy-like types are."""


class OddText(str):
    """A str subclass whose ``__str__`` is its own."""

    __slots__ = ()

    def __str__(self) -> str:
        return self


class StrIsNotText:
    """A value whose ``__str__`` returns something else than text."""

    def __str__(self) -> Any:
        return 5  # noqa: PLE0307 - the fault under test


@pytest.fixture(autouse=True)
def faults(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Conversions are timed by the fake clock; faults are recorded."""
    monkeypatch.setattr(_values, "_clock", CLOCK)
    forget_slow_types()
    SlowStr.calls = 0
    faults: list[str] = []
    report_to(lambda key, n: faults.extend([key] * n))
    yield faults
    report_to(None)
    forget_slow_types()


class TestTextOf:
    """``text_of`` and ``repr_of`` never raise and always give text."""

    @pytest.mark.parametrize(
        ("value", "text", "shown"),
        [
            pytest.param("plain", "plain", "'plain'", id="str"),
            pytest.param(42, "42", "42", id="int"),
            pytest.param(1.5, "1.5", "1.5", id="float"),
            pytest.param(True, "True", "True", id="bool"),
            pytest.param(None, "None", "None", id="none"),
            pytest.param(
                10**5000,
                "<int of 16610 bits>",
                "<int of 16610 bits>",
                id="huge-int",
            ),
            pytest.param(
                BigInt(10**5000),
                "<BigInt>",
                "<BigInt>",
                id="huge-int-subclass",
            ),
            pytest.param(
                RaisingStr(), "<RaisingStr>", "<RaisingStr>", id="raising"
            ),
            pytest.param([10**5000], "<list>", "<list>", id="huge-in-list"),
            pytest.param(
                {"k": RaisingStr()}, "<dict>", "<dict>", id="raising-in-dict"
            ),
            pytest.param(OddText("odd"), "odd", "'odd'", id="str-subclass"),
            pytest.param(
                StrIsNotText(), "<StrIsNotText>", None, id="str-not-text"
            ),
            pytest.param(FastStr(), "fast", None, id="fast-object"),
        ],
    )
    def test_values(self, value: Any, text: str, shown: str | None) -> None:
        """Each kind of value becomes the expected text."""
        assert text == text_of(value)
        assert text_of(value).__class__ is str
        if shown is not None:
            assert shown == repr_of(value)
        assert repr_of(value).__class__ is str

    def test_a_raising_value_is_counted(self, faults: list[str]) -> None:
        """A conversion that raised is counted as errors.unprintable."""
        text_of(RaisingStr())
        repr_of(RaisingStr())

        assert ["errors.unprintable", "errors.unprintable"] == faults

    @given(
        st.recursive(
            st.one_of(
                st.none(),
                st.booleans(),
                st.integers(),
                st.integers(min_value=10**4400, max_value=10**4500),
                st.floats(),
                st.text(),
                st.binary(),
                st.builds(RaisingStr),
                st.builds(BigInt, st.integers()),
            ),
            lambda inner: st.one_of(
                st.lists(inner, max_size=4),
                st.dictionaries(st.text(max_size=5), inner, max_size=4),
                st.tuples(inner, inner),
            ),
            max_leaves=12,
        )
    )
    @pytest.mark.slow
    def test_any_value_becomes_text(self, value: Any) -> None:
        """Whatever the value, both give text and raise nothing."""
        assert text_of(value).__class__ is str
        assert repr_of(value).__class__ is str


class TestSlowValues:
    """A type that converted slowly once is shown by name after."""

    def test_slow_type_is_converted_once(self, faults: list[str]) -> None:
        """The first value is shown; later ones are not even converted."""
        assert "slow" == text_of(SlowStr())
        assert "<SlowStr>" == text_of(SlowStr())
        assert "<SlowStr>" == repr_of(SlowStr())

        assert 1 == SlowStr.calls
        assert ["errors.slow_value"] * 3 == faults

    def test_fast_types_are_not_remembered(self) -> None:
        """A conversion within SLOW_AFTER leaves the type alone."""
        for _ in range(3):
            assert "fast" == text_of(FastStr())

    def test_memory_is_bounded(self) -> None:
        """However many slow types, at most SLOW_TYPES_LIMIT are kept."""
        kinds = [
            type(f"Slow{n}", (SlowStr,), {})
            for n in range(SLOW_TYPES_LIMIT + 10)
        ]
        for kind in kinds:
            text_of(kind())

        assert SLOW_TYPES_LIMIT == len(_values._slow)
        assert "<Slow265>" == text_of(kinds[-1]())
        assert "slow" == text_of(kinds[0]())  # the oldest was forgotten


class _Hostile:
    """A value whose every conversion to text raises."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    __repr__ = __str__

    def __format__(self, spec: str) -> str:
        raise RuntimeError("no format")


class _HostileInt(int):
    """An int whose conversions to text raise."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    __repr__ = __str__


HOSTILE = [
    pytest.param(_Hostile(), id="raising"),
    pytest.param(10**5000, id="huge-int"),
    pytest.param(-(10**5000), id="huge-negative-int"),
    pytest.param(_HostileInt(5), id="raising-int"),
    pytest.param([_Hostile(), 10**5000], id="list"),
    pytest.param({"a": _Hostile(), "b": 10**5000}, id="mapping"),
    pytest.param({_Hostile(): 1}, id="raising-key"),
    pytest.param(float("nan"), id="nan"),
]


class TestEveryFilter:
    """No template filter raises on a value that cannot become text."""

    @pytest.mark.parametrize("name", sorted(FILTERS))
    @pytest.mark.parametrize("value", HOSTILE)
    def test_filter(self, name: str, value: Any) -> None:
        """The filter gives text (its own or ``<TypeName>``), no error."""
        shown = FILTERS[name](value)

        assert isinstance(text_of(shown), str)
