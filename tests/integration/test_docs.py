"""
The commands the docs show run, and print what the docs say they print.

Every ```` ```console ```` block of ``README.md`` and ``docs/*.md`` is a
session: each line starting with ``$ `` is a command, the lines after it
(up to the next command) its output, standard output and standard error
together. A line that is only ``…`` stands for any number of lines; a
line ending in ``…`` for any line that starts with the text before it. A
command shown without output is only required to exit with status 0,
unless ``$ echo $?`` follows it.

Each block runs in a fresh temporary directory holding a copy of the
shipped ``routing.yaml`` and ``examples/``, with no ``DISCORD_*``,
``POLYBOT_ROUTING`` or ``POLYBOT_REDIS_URL`` variable: no command can
reach Discord. ``polybot-loghandler ...`` runs in a forked child through
``polybot_loghandler._cli.main`` (the console script's own code, without
an interpreter start per command); ``export``, ``VAR=value`` prefixes,
``< FILE``, ``> /dev/null``, ``cat FILE`` and ``echo $?`` are understood
here; anything else runs in ``bash``.

A command ending in `` &`` runs in the background, as a job: ``kill %N``
sends job N a SIGTERM and ``wait %N`` (or ``wait``, for all) waits for
it, its exit status then being the status. Whatever a job writes where
its command does not redirect it must be nothing. When the block ends,
every job still running gets a SIGTERM, and each job must have ended
with status 0.

Before comparing, both texts are normalised where a run must differ:
timestamps (``2026-02-01T14:33:45.123Z``, ``2026-02-01 14:33:45 UTC``,
``14:33:45 UTC``) become ``<time>``, other dates ``<date>`` and a
digest's hours (``14:00–15:00``) ``<hours>``, pytest's ``in 1.62s`` becomes
``in <duration>``, the relay's and producers' ids (``host:pid:nonce``,
``floor-1:4242:9f3c2a``) become ``<id>``, and the temporary directory
becomes ``<tmp>``; trailing blanks are ignored.

HTML comments right before a block (several may be stacked) say more:

- ``<!-- not run: REASON -->``: the block's commands are not run
  (network, a Discord server, minutes); :data:`NOT_RUN` lists them all,
  so a new command must be marked, or run.
- ``<!-- output not compared: REASON -->``: run, exit status 0 required,
  output not compared.
- ``<!-- file: NAME -->`` before any block: its text is written as
  ``NAME`` for the later blocks of the same page.
- ``<!-- with: NAME from PAGE -->``: the block also gets the file NAME
  declared on PAGE (replacing a file of that name).
- ``<!-- redis: URL -->``: the block runs against a database of the
  tests' Redis (the ``redis_url`` fixture, empty at the start), which
  stands for URL: URL in a command is that database's URL, and that
  database's URL in an output reads as URL.

A ``cat FILE`` of a file no marker declares writes the shown output as
the file: the docs show its content that way.

``docs/polybot.md`` also shows each message as the console renders it,
a box followed by "Preview this event" and the command: the box must be
what :func:`polybot_loghandler._console.format_message` makes of the
body that ``preview`` prints for that channel (that command is run there,
not twice).

Running the commands is marked ``slow`` (a routing file is loaded per
command); after editing the docs, run this file alone (with a Redis on
127.0.0.1:6379 for the relay's page: see ``tests/conftest.py``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from polybot_loghandler._batching import Pending
from polybot_loghandler._console import format_message
from tests.support.helpers import script_environment

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(`{3,})(\S*)\s*$")
_MARKER = re.compile(r"^<!--\s*([a-z ]+):\s*(.*?)\s*-->\s*$")
_WILDCARD = "…"


@dataclass
class Block:
    """One fenced block of a page, with the markers right before it."""

    page: str
    line: int
    lang: str
    text: str
    markers: list[tuple[str, str]] = field(default_factory=list)

    def marker(self, name: str) -> str | None:
        """The value of the marker *name*, if the block has it."""
        return next((v for k, v in self.markers if k == name), None)

    @property
    def commands(self) -> list[tuple[str, list[str]]]:
        """Each ``$ `` command with the output lines shown after it."""
        out: list[tuple[str, list[str]]] = []
        for line in self.text.splitlines():
            if line.startswith("$ "):
                out.append((line[2:], []))
            elif out:
                out[-1][1].append(line)
        return out


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of *page*, in order."""
    found: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        markers: list[tuple[str, str]] = []
        j = i - 1
        while j >= 0 and (m := _MARKER.match(lines[j])):
            markers.insert(0, (m.group(1), m.group(2)))
            j -= 1
        fence = opening.group(1)
        end = i + 1
        while end < len(lines) and lines[end].rstrip() != fence:
            end += 1
        found.append(
            Block(
                page=page.name,
                line=i + 1,
                lang=opening.group(2),
                text="\n".join(lines[i + 1 : end]) + "\n",
                markers=markers,
            )
        )
        i = end + 1
    return found


ALL_BLOCKS = {page.name: blocks(page) for page in PAGES}
CONSOLE = [b for bs in ALL_BLOCKS.values() for b in bs if b.lang == "console"]

_INSTALLS = "installs packages"
_SUITE = "the whole test suite"
_ITSELF = "the test suite itself"
_SERVER = "needs a Discord server and a bot token"
_MADE = "needs the webhooks setup made in a Discord server"
_HELD = "needs messages held by a running process"
_RUSH = "a minute long: test_cli.py runs it and checks what it says"
_GUILD = "polybot-loghandler setup --guild 123456789012345678"
_FLOOR = "needs a relay keeping a state: section, and its events"
_ASKED = "needs a relay that has kept the state of a running floor"
_RELAY = "needs a Redis and the floor's events; test_ask_relay.py runs a relay"
_BOT = (
    "needs a Discord bot token and server; test_bot_cli.py runs it against "
    "a loopback Discord"
)
_BOT_RUN = "polybot-loghandler bot --guild 123456789012345678"

#: Every command the docs show without running it, and why.
NOT_RUN = [
    ("README.md", 'pip install -e ".[dev]" && polybot-loghandler demo',
     _INSTALLS),
    ("README.md", 'pip install -e ".[dev]"', _INSTALLS),
    ("README.md", "pytest", _SUITE),
    ("README.md", 'pytest -m "not slow"', _ITSELF),
    ("bot.md", "export POLYBOT_REDIS_URL=redis://127.0.0.1:6379/0", _RELAY),
    ("bot.md", "polybot-loghandler relay &", _RELAY),
    ("bot.md", "export DISCORD_BOT_TOKEN=...", _BOT),
    ("bot.md", f"{_BOT_RUN}", _BOT),
    ("cli.md", f"{_BOT_RUN}", _BOT),
    ("cli.md", "polybot-loghandler spool status", _HELD),
    ("cli.md", "polybot-loghandler demo --rush", _RUSH),
    ("cli.md", "polybot-loghandler ask /status --routing routing.yaml",
     _ASKED),
    ("quickstart.md", "pip install .", _INSTALLS),
    ("relay.md", "redis-cli HGETALL polybot_loghandler:floor:meta", _FLOOR),
    ("relay.md", "redis-cli HGETALL polybot_loghandler:floor:rows:agents",
     _FLOOR),
    ("relay.md",
     "redis-cli HGET polybot_loghandler:floor:sums:pnl 'day|2026-02-01'",
     _FLOOR),
    ("setup.md",
     "export DISCORD_BOT_TOKEN=...            # the token from step 1",
     _SERVER),
    ("setup.md", f"{_GUILD} --dry-run", _SERVER),
    ("setup.md", f"{_GUILD} --out discord.env", _SERVER),
    ("setup.md", "set -a; . ./discord.env; set +a", _MADE),
    ("setup.md", "polybot-loghandler send-test --all", _MADE),
    ("setup.md", "polybot-loghandler check --env", _MADE),
    ("testing.md", 'pytest -m "not slow"', _ITSELF),
    ("testing.md", "pytest", _SUITE),
]  # fmt: skip


def normalised(text: str, tmp: Path | None = None) -> str:
    """*text* with what must vary from run to run replaced."""
    if tmp is not None:
        text = text.replace(str(tmp), "<tmp>")
    text = re.sub(
        r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|\+00:00| UTC)?",
        "<time>",
        text,
    )
    text = re.sub(r"\b\d\d:\d\d:\d\d UTC", "<time>", text)
    # a digest's period: its day (2026-02-01, week of 2026-01-26) and
    # hours (14:00–15:00) are those before the moment the sample is made
    text = re.sub(r"\b\d{4}-\d\d-\d\d\b", "<date>", text)
    text = re.sub(r"\b\d\d:\d\d–\d\d:\d\d\b", "<hours>", text)
    text = re.sub(r"\bin \d+(?:\.\d+)?s\b", "in <duration>", text)
    text = re.sub(
        r"\b[A-Za-z0-9][A-Za-z0-9.-]*:\d+:[0-9a-f]{6}\b", "<id>", text
    )
    return "\n".join(line.rstrip() for line in text.splitlines())


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether *actual* is *expected*, a ``…`` line standing for any."""
    memo: dict[tuple[int, int], bool] = {}

    def at(i: int, j: int) -> bool:
        if (i, j) not in memo:
            if i == len(expected):
                memo[i, j] = j == len(actual)
            elif expected[i] == _WILDCARD:
                memo[i, j] = at(i + 1, j) or (j < len(actual) and at(i, j + 1))
            else:
                memo[i, j] = (
                    j < len(actual)
                    and _line_matches(expected[i], actual[j])
                    and at(i + 1, j + 1)
                )
        return memo[i, j]

    return at(0, 0)


def _line_matches(expected: str, actual: str) -> bool:
    """A line ending in ``…`` may be the start of a longer one."""
    if expected == actual:
        return True
    return expected.endswith(_WILDCARD) and actual.startswith(
        expected[: -len(_WILDCARD)]
    )


def declared_files(page: str, before: int) -> dict[str, str]:
    """The files declared on *page* by blocks above line *before*."""
    return {
        name: b.text
        for b in ALL_BLOCKS[page]
        if b.line < before and (name := b.marker("file"))
    }


#: Seconds a background job has to end after its SIGTERM.
JOB_STOP = 30.0


@dataclass
class Session:
    """A shell of sorts: one temporary directory and its environment."""

    cwd: Path
    env: dict[str, str]
    status: int = 0
    #: the background jobs, ``%1`` first, with where their output goes
    jobs: list[tuple[subprocess.Popen[bytes], Path]] = field(
        default_factory=list
    )

    def run(self, command: str, shown: str) -> str:
        """Run *command*; return its output (stdout and stderr)."""
        if command.endswith(" &"):
            self._start_job(command[:-2].strip())
            return ""
        words = shlex.split(command)
        if words[:1] in (["kill"], ["wait"]):
            return self._job_control(words)
        return self._command(command, words, shown)

    def _command(self, command: str, words: list[str], shown: str) -> str:
        """Run a command that is not job control, in the foreground."""
        env = dict(self.env)
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
            name, _, value = words.pop(0).partition("=")
            env[name] = value
        if words[:1] == ["export"]:
            for word in words[1:]:
                name, _, value = word.partition("=")
                self.env[name] = value
            self.status = 0
            return ""
        if words == ["echo", "$?"]:
            return f"{self.status}\n"
        if words[:1] == ["cat"] and len(words) == 2:
            path = self.cwd / words[1]
            if not path.exists():
                path.write_text(shown, encoding="utf-8")
            self.status = 0
            return path.read_text(encoding="utf-8")
        stdin, quiet = None, False
        if words[-2:-1] == ["<"]:
            stdin, words = self.cwd / words[-1], words[:-2]
        if words[-2:] == [">", "/dev/null"]:
            quiet, words = True, words[:-2]
        if words[:1] == ["polybot-loghandler"] and words[1:2] != ["demo"]:
            self.status, out = self._forked(words[1:], env, stdin, quiet)
            return out
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
            check=False,
        )
        self.status = done.returncode
        return done.stdout

    def _start_job(self, command: str) -> None:
        """Run *command* in the background, in a process group of its own."""
        out = self.cwd / f".job-{len(self.jobs) + 1}"
        with out.open("wb") as sink:
            job = subprocess.Popen(
                ["bash", "-c", f"exec {command}"],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.jobs.append((job, out))
        self.status = 0

    def _job_control(self, words: list[str]) -> str:
        """``kill %N`` (a SIGTERM) and ``wait [%N]``."""
        chosen = [self.jobs[int(w.lstrip("%")) - 1][0] for w in words[1:]]
        if words[0] == "kill":
            for job in chosen:
                with contextlib.suppress(ProcessLookupError):  # ended
                    os.killpg(job.pid, signal.SIGTERM)
            self.status = 0
            return ""
        for job in chosen or [j for j, _ in self.jobs]:
            self.status = job.wait(timeout=JOB_STOP)
        return ""

    def close(self) -> list[str]:
        """Stop the jobs still running; what was wrong with any job."""
        for job, _ in self.jobs:
            if job.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(job.pid, signal.SIGTERM)
        deadline = time.monotonic() + JOB_STOP
        wrong = []
        for n, (job, out) in enumerate(self.jobs, 1):
            try:
                job.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(job.pid, signal.SIGKILL)
                job.wait()
                wrong.append(f"%{n} did not end within {JOB_STOP:g}s")
            if job.returncode != 0:
                wrong.append(f"%{n} ended with status {job.returncode}")
            said = out.read_text(encoding="utf-8", errors="replace")
            if said:
                wrong.append(f"%{n} wrote what it did not redirect:\n{said}")
        return wrong

    def _forked(
        self,
        argv: list[str],
        env: dict[str, str],
        stdin: Path | None,
        quiet: bool,
    ) -> tuple[int, str]:
        out = self.cwd / ".output"
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            status = 70
            try:
                status = _child(argv, self.cwd, env, stdin, out, quiet)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(status)
        _, code = os.waitpid(pid, 0)
        text = out.read_text(encoding="utf-8")
        out.unlink()
        return os.waitstatus_to_exitcode(code), text


def _child(  # noqa: PLR0917 - one command line, taken apart
    argv: list[str],
    cwd: Path,
    env: dict[str, str],
    stdin: Path | None,
    out: Path,
    quiet: bool,
) -> int:  # pragma: no cover - runs in a forked child
    """Run the command line as a fresh ``polybot-loghandler`` would."""
    from polybot_loghandler._cli import main

    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null if quiet else fd, 1)
    os.dup2(fd, 2)
    os.dup2(os.open(stdin, os.O_RDONLY) if stdin else null, 0)
    # line-buffered both: interleaved as on a terminal
    sys.stdout = open(1, "w", 1, "utf-8", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", 1, "utf-8", closefd=False)  # noqa: SIM115
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    # a fresh process: no handler of pytest's on the root logger
    logging.root.handlers.clear()
    logging.root.setLevel(logging.WARNING)
    try:
        status = main(argv)
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    sys.stdout.flush()
    sys.stderr.flush()
    return status


def session(block: Block, tmp: Path) -> Session:
    """A fresh directory for *block*, with the files it may use."""
    shutil.copy(REPO / "routing.yaml", tmp / "routing.yaml")
    (tmp / "examples").symlink_to(REPO / "examples")
    files = declared_files(block.page, block.line)
    for spec in [v for k, v in block.markers if k == "with"]:
        name, _, page = spec.partition(" from ")
        files[name] = declared_files(page, 10**9)[name]
    for name, text in files.items():
        (tmp / name).write_text(text, encoding="utf-8")
    env = script_environment()
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *filter(None, [env.get("PYTHONPATH")])]
    )
    env.pop("COLUMNS", None)
    env.pop("POLYBOT_REDIS_URL", None)
    return Session(cwd=tmp, env=env)


def _id(block: Block) -> str:
    return f"{block.page}:{block.line}"


def _box_checked(block: Block) -> bool:
    """Whether *block* previews a polybot.md box, checked with the box."""
    page = ALL_BLOCKS[block.page]
    index = page.index(block)
    return (
        block.page == "polybot.md"
        and index > 0
        and page[index - 1].lang == "text"
        and page[index - 1].text.startswith("┌─ #")
    )


# slow: each command loads a routing file in a fresh process, 0.2 s or
# more; demos and pytest runs take seconds
RUN = [
    pytest.param(b, id=_id(b), marks=pytest.mark.slow)
    for b in CONSOLE
    if b.marker("not run") is None and not _box_checked(b)
]


class TestConsoleBlocks:
    @pytest.mark.parametrize("block", RUN)
    def test_the_commands_print_what_the_docs_show(
        self, block: Block, tmp_path: Path, request: pytest.FixtureRequest
    ) -> None:
        """Each command runs, and prints the output shown after it."""
        shell = session(block, tmp_path)
        try:
            self._run_block(block, shell, tmp_path, request)
        finally:
            wrong = shell.close()
        assert [] == wrong, f"{block.page}:{block.line}: background jobs"

    def _run_block(
        self,
        block: Block,
        shell: Session,
        tmp_path: Path,
        request: pytest.FixtureRequest,
    ) -> None:
        shown_url = block.marker("redis")
        real_url = None
        if shown_url is not None:
            real_url = str(request.getfixturevalue("redis_url"))
        compare = block.marker("output not compared") is None
        commands = block.commands
        for index, (command, shown) in enumerate(commands):
            run = command
            if shown_url is not None and real_url is not None:
                run = command.replace(shown_url, real_url)
            output = shell.run(run, "\n".join(shown) + "\n")
            if shown_url is not None and real_url is not None:
                output = output.replace(real_url, shown_url)
            where = f"{block.page}:{block.line}: $ {command}"
            if not compare or not shown:
                followed_by_status = [
                    c for c, _ in commands[index + 1 : index + 2]
                ] == ["echo $?"]
                if not followed_by_status:
                    assert 0 == shell.status, f"{where}\n{output}"
                continue
            expected = normalised("\n".join(shown), tmp_path).splitlines()
            actual = normalised(output, tmp_path).splitlines()
            assert matches(expected, actual), (
                f"{where}\n--- the docs show\n"
                + "\n".join(expected)
                + "\n--- it prints\n"
                + "\n".join(actual)
            )

    def test_every_command_not_run_is_listed_with_its_reason(self) -> None:
        """A command the docs mark ``not run`` is in :data:`NOT_RUN`."""
        actual = [
            (b.page, command, b.marker("not run"))
            for b in CONSOLE
            if b.marker("not run") is not None
            for command, _ in b.commands
        ]
        assert sorted(NOT_RUN) == sorted(actual)

    def test_every_console_block_shows_commands(self) -> None:
        """A console block without a ``$`` line would check nothing."""
        assert [] == [_id(b) for b in CONSOLE if not b.commands]

    def test_every_polybot_loghandler_command_runs(self) -> None:
        """No ``polybot-loghandler`` command is skipped but setup's."""
        skipped = [
            command
            for page, command, _ in NOT_RUN
            if "polybot-loghandler" in command and page != "setup.md"
        ]
        assert [
            'pip install -e ".[dev]" && polybot-loghandler demo',
            # test_relay.py and test_bot_cli.py run these against a real
            # Redis and the loopback Discord
            "polybot-loghandler relay &",
            _BOT_RUN,
            _BOT_RUN,
            "polybot-loghandler spool status",
            "polybot-loghandler demo --rush",
            # test_ask_relay.py asks a real relay's state the same
            "polybot-loghandler ask /status --routing routing.yaml",
        ] == skipped


def _boxes() -> list[Any]:
    """Each message box of polybot.md with the command that previews it."""
    found = []
    page = ALL_BLOCKS["polybot.md"]
    for i, block in enumerate(page):
        if block.lang != "console" or i == 0:
            continue
        box = page[i - 1]
        if box.lang == "text" and box.text.startswith("┌─ #"):
            found.append(
                pytest.param(box, block, id=_id(box), marks=pytest.mark.slow)
            )
    return found


def _previewed(output: str) -> dict[tuple[str, str], Any]:
    """
    The messages ``preview`` printed, by channel name and event, as
    format_message needs them.

    Each event ``preview`` shows (``event NAME (...)``, an event given
    or a watch's or digest's sample) is followed by its routes and then
    a body per channel.
    """
    messages = {}
    for section in re.split(r"^(?=event )", output, flags=re.MULTILINE):
        head = re.match(r"event (.*?) \(", section)
        if head is None:
            continue
        event = head.group(1)
        routes = {
            key: name
            for name, keys in re.findall(
                r"^  route (\S+) → (.*)$", section, re.MULTILINE
            )
            for key in keys.split(", ")
        }
        parts = re.split(
            r"^#(\S+) \(key (\S+), [a-z ]+\):$", section, flags=re.MULTILINE
        )
        for name, key, body in zip(
            parts[1::3], parts[2::3], parts[3::3], strict=True
        ):
            # the body starts at its first "{": a line before it says
            # where in the channel the message goes (a thread, a board)
            start = re.search(r"^\{", body, re.MULTILINE)
            where = body[: start.start() if start else 0]
            payload = json.loads(body[start.start() if start else 0 :])
            thread = re.search(r"thread '(.*?)'(?: ·|$)", where, re.MULTILINE)
            board = re.search(
                r"board '(.*?)'(?: \(edited|$)", where, re.MULTILINE
            )
            messages[name, event] = SimpleNamespace(
                embed=payload["embeds"][0],
                content=payload.get("content"),
                target=SimpleNamespace(name=name),
                channel=key,
                route=routes[key],
                event=SimpleNamespace(event=event, message=""),
                thread=thread.group(1) if thread else None,
                thread_id=None,
                board=board.group(1) if board else None,
                username=payload.get("username"),
                avatar_url=payload.get("avatar_url"),
                files=(),
            )
    return messages


#: A box's head: its channel and its event.
_BOX_HEAD = re.compile(r"^┌─ #(\S+) · (.*) · route ")


class TestPolybotSamples:
    @pytest.mark.parametrize(("box", "preview"), _boxes())
    def test_each_sample_is_what_the_console_shows(
        self, box: Block, preview: Block, tmp_path: Path
    ) -> None:
        """
        The box is the console's rendering of the body ``preview``
        printed for its channel and event (an event's, or a sample's of
        a watch or digest).
        """
        ((command, _),) = preview.commands
        shell = session(preview, tmp_path)
        output = shell.run(command, "")
        assert 0 == shell.status, output
        head = _BOX_HEAD.match(box.text)
        assert head is not None, box.text
        rendered = format_message(_previewed(output)[head.group(1, 2)])
        assert normalised(box.text) == normalised(rendered)

    def test_every_sample_is_checked(self) -> None:
        """Every box of polybot.md is followed by its preview."""
        boxes = [
            b
            for b in ALL_BLOCKS["polybot.md"]
            if b.lang == "text" and b.text.startswith("┌─ #")
        ]
        assert len(boxes) == len(_boxes())


def _footer(count: int, first: str, last: str, *, repeat: bool) -> str:
    """The footer note delivery writes on a merged or held summary."""
    day = "2026-02-01T{}+00:00"
    pending = Pending(
        message=SimpleNamespace(embed={}, place=None),  # type: ignore[arg-type]  # .embed only
        key=None,
        level=logging.ERROR,
        first=datetime.fromisoformat(day.format(first)).timestamp(),
        last=datetime.fromisoformat(day.format(last)).timestamp(),
        queued=0.0,
        count=count,
        repeat=repeat,
    )
    return str(pending.embed()["footer"]["text"])


@pytest.mark.parametrize(
    ("page", "count", "first", "last", "repeat"),
    [
        pytest.param("routing.md", 214, "14:23:45", "14:24:10", False,
                     id="routing-merged"),
        pytest.param("routing.md", 213, "14:23:46", "14:24:10", True,
                     id="routing-repeated"),
        pytest.param("delivery.md", 37, "14:23:45", "14:23:46", False,
                     id="delivery-merged"),
        pytest.param("delivery.md", 4963, "14:23:46", "14:23:51", True,
                     id="delivery-repeated"),
    ],
)  # fmt: skip
def test_the_summary_footers_quoted_are_what_delivery_writes(
    page: str, count: int, first: str, last: str, repeat: bool
) -> None:
    """The docs quote a summary's footer as delivery writes it."""
    text = (REPO / "docs" / page).read_text(encoding="utf-8")
    footer = _footer(count, first, last, repeat=repeat)
    assert f"e.g. `{footer}`" in text


def test_the_normalisation_keeps_what_matters() -> None:
    """Times and durations vary; values around them do not."""
    assert "Value: 37   Time: <time>" == normalised(
        "Value: 37   Time: 2026-02-01 14:33:45 UTC  "
    )
    assert "2 passed in <duration>" == normalised("2 passed in 1.62s")
    assert "Report - <date> (<date> <hours> UTC)" == normalised(
        "Report - 2026-02-01 (2026-02-01 14:00–15:00 UTC)"
    )
    assert matches(["a", _WILDCARD, "d"], ["a", "b", "c", "d"])
    assert not matches(["a", _WILDCARD, "d"], ["a", "b", "c"])
    assert not matches(["37.0"], ["37"])
    assert matches(["36 channels: a, …"], ["36 channels: a, b, c"])
    assert not matches(["36 channels: a, …"], ["36 channels: b, c"])
