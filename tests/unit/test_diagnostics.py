"""
The library's own warnings reach a person, once, whatever the logging set-up.

Logging's configuration is process-wide (and pytest installs handlers of
its own), so each set-up runs in a fresh interpreter.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from polybot_loghandler import load_config
from polybot_loghandler._diagnostics import KEYS_PER_KIND, Diagnostics
from polybot_loghandler._pipeline import Pipeline
from tests.support.helpers import routing_yaml

_WARN = """
from polybot_loghandler._diagnostics import Diagnostics
Diagnostics().warn("kind:key", "Discord rejected a message")
"""

_SETUPS = {
    "no handler at all (logging's last resort)": "",
    "only a DiscordHandler": """
        from polybot_loghandler import DiscordHandler
        logging.getLogger().addHandler(DiscordHandler())
        """,
    "a console handler naming the logger": """
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logging.getLogger().addHandler(handler)
        """,
    "a console handler for errors only": """
        handler = logging.StreamHandler()
        handler.setLevel(logging.ERROR)
        logging.getLogger().addHandler(handler)
        """,
    "a NullHandler on the root": """
        logging.getLogger().addHandler(logging.NullHandler())
        """,
    "the root logger at ERROR": """
        logging.getLogger().setLevel(logging.ERROR)
        logging.getLogger().addHandler(logging.StreamHandler())
        """,
    "our logger not propagating, with no handler": """
        logging.getLogger("polybot_loghandler").propagate = False
        """,
}


def _stderr_of(setup: str, *, code: str = _WARN) -> str:
    script = (
        "import logging\n" + textwrap.dedent(setup) + textwrap.dedent(code)
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stderr


@pytest.mark.parametrize("setup", list(_SETUPS), ids=list(_SETUPS))
@pytest.mark.slow
def test_a_warning_reaches_stderr_once_with_one_prefix(setup: str) -> None:
    err = _stderr_of(_SETUPS[setup])

    assert 1 == err.count("Discord rejected a message"), err
    assert "polybot_loghandler: polybot_loghandler" not in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_a_level_set_on_our_logger_silences_it() -> None:
    err = _stderr_of(
        'logging.getLogger("polybot_loghandler").setLevel(logging.ERROR)'
    )

    assert "" == err


@pytest.mark.slow
def test_a_warning_goes_to_the_applications_file_not_stderr(
    tmp_path: pytest.TempPathFactory,
) -> None:
    """Where the application shows warnings, they are not doubled."""
    log_file = f"{tmp_path}/app.log"
    err = _stderr_of(f"logging.basicConfig(filename={log_file!r})")

    shown = Path(log_file).read_text(encoding="utf-8")
    assert 1 == shown.count("Discord rejected a message")
    assert "" == err


@pytest.mark.slow
def test_a_warning_from_inside_a_handler_does_not_recurse() -> None:
    """A handler that makes the library warn while handling its warning."""
    err = _stderr_of(
        """
        from polybot_loghandler._diagnostics import Diagnostics
        class Echo(logging.Handler):
            def emit(self, record):
                Diagnostics().warn("inner", "said from inside: " + record.msg)
        logging.getLogger().addHandler(Echo())
        """
    )

    assert 1 == err.count("said from inside")


def test_each_key_is_said_once(capsys: pytest.CaptureFixture[str]) -> None:
    diag = Diagnostics()
    seen: list[str] = []
    diag_emit = _recording(seen)

    for _ in range(3):
        diag.warn("rejected:webhook-1", "first", emit=diag_emit)
        diag.warn("rejected:webhook-2", "second", emit=diag_emit)

    assert ["first", "second"] == seen


def test_a_kind_goes_quiet_after_its_keys_are_used_up() -> None:
    """20,000 unknown channels from a templated ``to:``: not 20,000 lines."""
    diag = Diagnostics()
    seen: list[str] = []

    for n in range(20_000):
        diag.warn(
            f"channel:{n}", f"unknown channel {n}", emit=_recording(seen)
        )

    assert KEYS_PER_KIND + 1 == len(seen)
    assert "are not shown" in seen[-1]
    assert sum(len(keys) for keys in diag._told.values()) <= KEYS_PER_KIND


def test_long_keys_are_cut() -> None:
    diag = Diagnostics()
    seen: list[str] = []

    diag.warn("channel:" + "x" * 100_000, "a", emit=_recording(seen))
    diag.warn("channel:" + "x" * 100_000 + "y", "b", emit=_recording(seen))

    assert ["a"] == seen
    assert max(len(k) for keys in diag._told.values() for k in keys) <= 200


def _recording(seen: list[str]):  # type: ignore[no-untyped-def]
    def emit(text: str, level: int = 0) -> None:
        seen.append(text)

    return emit


@pytest.mark.slow
def test_what_is_said_shows_no_token_and_runs_no_control() -> None:
    """A channel key made by a template from an event is said harmlessly."""
    token = "Xq9-secret-token-in-a-channel-key-7Tz"
    err = _stderr_of(
        "",
        code=f"""
from polybot_loghandler._diagnostics import Diagnostics
Diagnostics().warn(
    "channel:k",
    "chose channel '\\x1b]52;c;cHduZWQ=\\x07 https://discord.com/api/"
    "webhooks/123456789012345678/{token}'",
)
""",
    )

    assert 1 == err.count("chose channel")
    assert token not in err
    assert "\x1b" not in err
    assert "\x07" not in err


def test_unknown_channels_from_events_are_said_a_bounded_number_of_times(
    make_routing: Callable[[str], Path], caplog: pytest.LogCaptureFixture
) -> None:
    """
    A templated ``to:`` choosing 20,000 undeclared channels: every event
    is counted, the warnings stop after KEYS_PER_KIND, and what is kept
    to remember them stays small.
    """
    path = make_routing(
        routing_yaml({"a": ""}, "- {name: by_market, to: '{{ market }}'}\n")
    )
    pipeline = Pipeline(load_config(path))
    try:
        with caplog.at_level(logging.WARNING, "polybot_loghandler"):
            for n in range(20_000):
                fields = {"market": f"m{n}"}
                raw = ("tick", logging.INFO, "app", 0.0, fields, None, None)
                pipeline.process(raw)
    finally:
        pipeline.close(1.0)

    said = [r for r in caplog.records if "not declared" in r.getMessage()]
    assert 20_000 == pipeline.stats()["dropped.unknown_channel"]
    assert KEYS_PER_KIND == len(said)
    told = pipeline._diag._told
    assert sum(len(keys) for keys in told.values()) <= KEYS_PER_KIND


def test_first_is_once_per_key_even_for_long_keys() -> None:
    """A key over the length kept is still new only once."""
    diag = Diagnostics()
    long_key = "disabled:" + "x" * 10_000

    assert [True, False] == [diag.first(long_key), diag.first(long_key)]
    assert [True, False] == [
        diag.first("disabled:a"),
        diag.first("disabled:a"),
    ]


def test_first_is_bounded_per_kind() -> None:
    diag = Diagnostics()

    new = [diag.first(f"disabled:{n}") for n in range(1_000)]

    assert KEYS_PER_KIND == sum(new)
    assert diag.first("other:1")
