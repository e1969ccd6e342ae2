"""
Every cache keyed by text from events is bounded in characters.

A cache bounded by count alone holds whatever its keys weigh: 4,096 log
messages of 100 kB each are 400 MB. Each cache below keeps only keys up
to a length, and so at most its count times that length in all.
"""

from __future__ import annotations

import gc
import logging
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from polybot_loghandler import (
    DiscordHandler,
    DiscordProcessor,
    _events,
    _labels,
    _text,
)
from polybot_loghandler._config import parse_config
from polybot_loghandler._matching import CACHE_KEY_CHARS, LoggerPattern
from polybot_loghandler._memo import Memo
from polybot_loghandler._pipeline import _dict_plan
from polybot_loghandler._registry import get_pipeline
from polybot_loghandler._router import Router
from tests.conftest import MINIMAL_ROUTING

#: The most characters any one cache's keys may hold.
BUDGET = 1 << 20


def _text_of(chars: int, n: int) -> str:
    """A distinct text (the *n*-th) of exactly *chars* characters."""
    head = f"{n}-"
    return head + "x" * (chars - len(head))


@dataclass(frozen=True)
class Cache:
    """
    One cache, and how to fill it.

    Attributes:
        entries: The cache itself (a :class:`Memo`).
        ask: Asks what the cache remembers, with a key of *chars*
            characters, the *n*-th distinct one.
        key_chars: How many characters of the key *ask* made count.
    """

    entries: Memo[Any, Any]
    ask: Callable[[int, int], object]
    key_chars: Callable[[Any], int]

    @property
    def max_key(self) -> int:
        """The longest key kept."""
        return self.entries.key_chars

    @property
    def limit(self) -> int:
        """The most keys kept."""
        return self.entries.limit


def _router() -> Router:
    return Router(parse_config(MINIMAL_ROUTING).routes)


def _plans() -> Cache:
    router = _router()
    return Cache(
        router._plans,
        lambda chars, n: router.could_match(
            _text_of(chars - 3, n), logging.INFO, "app", {}
        ),
        lambda key: len(key[0]) + len(key[2]),
    )


def _memo() -> Cache:
    router = _router()

    def ask(chars: int, n: int) -> object:
        event = _text_of(chars - len("info") - len("app"), n)
        return _dict_plan(router, (event, None, "info", "app"), {})

    return Cache(
        router.memo,
        ask,
        lambda key: sum(len(p) for p in key if isinstance(p, str)),
    )


def _ignored() -> Cache:
    router = _router()
    return Cache(
        router._ignored,
        lambda chars, n: router._is_ignored(_text_of(chars, n)),
        len,
    )


def _logger_pattern() -> Cache:
    pattern = LoggerPattern(["app"])
    return Cache(
        pattern._cache,
        lambda chars, n: pattern(_text_of(chars, n)),
        len,
    )


def _secret_answers() -> Cache:
    return Cache(
        _text._SECRET_ANSWERS,
        lambda chars, n: _text.looks_secret(_text_of(chars, n)),
        len,
    )


def _secret_names() -> Cache:
    return Cache(
        _events._SECRETS,
        lambda chars, n: _events._secret_names(
            {"a": 1, _text_of(chars - 1, n): 2}
        ),
        lambda key: sum(map(len, key)),
    )


def _safe_markdown() -> Cache:
    return Cache(
        _text._SAFE_MARKDOWN,
        lambda chars, n: _text.safe_markdown(_text_of(chars, n)),
        len,
    )


def _humanized() -> Cache:
    return Cache(
        _labels._HUMANIZED,
        lambda chars, n: _labels.humanize(_text_of(chars, n)),
        len,
    )


CACHES = [
    pytest.param(_plans, id="router-plans"),
    pytest.param(_memo, id="router-memo"),
    pytest.param(_ignored, id="router-ignored"),
    pytest.param(_logger_pattern, id="logger-pattern"),
    pytest.param(_secret_answers, id="looks-secret"),
    pytest.param(_secret_names, id="secret-field-names"),
    pytest.param(_safe_markdown, id="safe-markdown"),
    pytest.param(_humanized, id="humanize"),
]


@pytest.fixture(autouse=True)
def _empty_module_caches() -> Iterator[None]:
    """The process-wide caches start and end empty."""
    shared = (
        _text._SECRET_ANSWERS,
        _text._SAFE_MARKDOWN,
        _events._SECRETS,
        _labels._HUMANIZED,
    )
    for cache in shared:
        cache.clear()
    yield
    for cache in shared:
        cache.clear()


def _chars(cache: Cache) -> int:
    return sum(cache.key_chars(key) for key in cache.entries)


class TestEveryCache:
    @pytest.mark.parametrize("make", CACHES)
    def test_key_of_the_longest_kept_length_is_kept(
        self, make: Callable[[], Cache]
    ) -> None:
        cache = make()

        cache.ask(cache.max_key, 0)

        assert [cache.max_key] == [cache.key_chars(k) for k in cache.entries]

    @pytest.mark.parametrize("make", CACHES)
    def test_longer_key_is_not_kept(self, make: Callable[[], Cache]) -> None:
        """A key one character longer is answered, and not remembered."""
        cache = make()

        cache.ask(cache.max_key + 1, 0)
        cache.ask(100_000, 1)

        assert {} == cache.entries

    @pytest.mark.parametrize("make", CACHES)
    def test_characters_held_stay_within_the_budget(
        self, make: Callable[[], Cache]
    ) -> None:
        """Twice as many keys as the cache keeps, each the longest kept."""
        cache = make()

        for n in range(2 * cache.limit):
            cache.ask(cache.max_key, n)
            if n % 256 == 0:
                assert len(cache.entries) <= cache.limit
                assert _chars(cache) <= BUDGET
        assert 0 < len(cache.entries) <= cache.limit
        assert _chars(cache) <= cache.limit * cache.max_key <= BUDGET

    def test_long_message_is_still_routed(self) -> None:
        """A message past the bound is decided afresh, the same way."""
        router = _router()
        long = "x" * (CACHE_KEY_CHARS + 1)

        for _ in range(2):
            assert router.could_match(long, logging.WARNING, "app", {})
            assert not router.could_match(long, logging.INFO, "app", {})
        assert {} == router._plans


def _router_chars(router: Router) -> int:
    """The characters held by a router's caches' keys."""
    plans = sum(len(e) + len(lg) for e, _, lg in router._plans)
    memo = sum(
        len(p) for key in router.memo for p in key if isinstance(p, str)
    )
    return plans + memo + sum(map(len, router._ignored))


LINES = 4_000
LINE_CHARS = 100_000


def _unique_line(n: int) -> str:
    return f"{n:06d} " + "x" * LINE_CHARS


class TestUnmatchedFlood:
    """4,000 unique 100 kB lines that no route takes (once: 33 → 419 MB)."""

    def _growth(self, log_all: Callable[[], None]) -> int:
        """Bytes still allocated after *log_all* ran (tracemalloc)."""
        gc.collect()
        tracemalloc.start()
        try:
            before, _ = tracemalloc.get_traced_memory()
            log_all()
            gc.collect()
            after, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return after - before

    @pytest.mark.slow
    def test_through_a_handler(
        self,
        make_routing: Callable[[str], Path],
    ) -> None:
        path = make_routing(MINIMAL_ROUTING)
        handler = DiscordHandler(path)
        log = logging.getLogger("app.flood")
        log.propagate = False
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        try:

            def log_all() -> None:
                for n in range(LINES):
                    log.info(_unique_line(n))

            grown = self._growth(log_all)
        finally:
            log.removeHandler(handler)
            handler.close()

        assert grown < 8 * 2**20
        assert _router_chars(get_pipeline(path).router) <= 3 * BUDGET

    @pytest.mark.slow
    def test_through_the_processor(
        self,
        make_routing: Callable[[str], Path],
    ) -> None:
        path = make_routing(MINIMAL_ROUTING)
        processor = DiscordProcessor(path)

        def log_all() -> None:
            for n in range(LINES):
                processor(None, "info", {"event": _unique_line(n)})

        grown = self._growth(log_all)

        assert grown < 8 * 2**20
        assert _router_chars(get_pipeline(path).router) <= 3 * BUDGET


@pytest.mark.parametrize(
    ("keys", "chars", "kept"),
    [
        pytest.param(["a", "b"], 1, ["a", "b"], id="room"),
        pytest.param(["a", "b", "c"], 1, ["a", "b", "c"], id="full"),
        pytest.param(["a", "b", "c", "d"], 1, ["d"], id="past-full-empties"),
        pytest.param(["a", "b"], 4, ["a", "b"], id="longest-kept"),
        pytest.param(["a", "b"], 5, [], id="too-long"),
    ],
)
def test_memo(keys: list[str], chars: int, kept: list[str]) -> None:
    """A memo keeps short keys, up to its limit, then starts over."""
    memo: Memo[str, int] = Memo(limit=3, key_chars=4)

    for n, key in enumerate(keys):
        memo.keep(key, n, chars)

    assert kept == list(memo)
    assert all(memo[key] == keys.index(key) for key in kept)
