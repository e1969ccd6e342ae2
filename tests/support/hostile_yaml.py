"""
Routing files written to hurt the process that reads them.

Each must be refused with a located ``ConfigError`` in bounded time and
memory: alias bombs ("billion laughs") of several shapes, recursive
anchors and merges, 10,000-deep nesting, and huge scalars. The unit,
CLI and reload tests all drive this one table.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

#: The start of a valid routing file: a bomb must be refused even when
#: it sits beside real routes.
_HEAD = """\
version: 1
channels:
  alerts: ""
routes:
  - {name: all, to: alerts}
"""
HEAD_LINES = _HEAD.count("\n")


@dataclass(frozen=True)
class Hostile:
    """
    One hostile routing file and what its refusal must say.

    Attributes:
        text: The file.
        line: The line the refusal names (``None``: any line of the file).
        says: Words the refusal must contain.
    """

    text: str
    line: int | None
    says: str


def _laughs(shape: str, levels: int = 9) -> str:
    """A "billion laughs" bomb: each level refers to the one below 9 times."""

    def level(n: int) -> str:
        below = [f"*a{n - 1}"] * 9 if n else ["lol"] * 9
        if shape == "list":
            return "[" + ", ".join(below) + "]"
        if shape == "mapping" or n == 0:
            return (
                "{"
                + ", ".join(f"k{i}: {v}" for i, v in enumerate(below))
                + "}"
            )
        return "{<<: [" + ", ".join(below) + "]}"  # merges of merges

    lines = [f"x{n}: &a{n} {level(n)}" for n in range(levels)]
    return _HEAD + "\n".join(lines) + "\n"


def _route_bomb(levels: int = 9) -> str:
    """The bomb in real routes: each route's fields alias the one above."""
    first = "[{name: lol, value: lol}]"
    lines = [f"  - {{name: r0, to: alerts, embed: {{fields: &a0 {first}}}}}"]
    lines += [
        f"  - {{name: r{n}, to: alerts, embed: {{fields: &a{n} ["
        + ", ".join([f"*a{n - 1}"] * 9)
        + "]}}"
        for n in range(1, levels)
    ]
    return _HEAD + "\n".join(lines) + "\n"


def _deep_block_mapping(depth: int) -> str:
    lines = [f"{'  ' * n}k{n}:" for n in range(depth)]
    return _HEAD + "\n".join(lines) + " x\n"


#: (id, hostile file); every one must be refused with a located message.
HOSTILE: list[tuple[str, Hostile]] = [
    ("laughs-list", Hostile(_laughs("list"), None, "aliases add more than")),
    (
        "laughs-mapping",
        Hostile(_laughs("mapping"), None, "aliases add more than"),
    ),
    ("laughs-merge", Hostile(_laughs("merge"), None, "aliases add more than")),
    (
        "laughs-in-routes",
        Hostile(_route_bomb(), None, "aliases add more than"),
    ),
    (
        "recursive-anchor-list",
        Hostile(_HEAD + "x: &a [1, *a]\n", HEAD_LINES + 1, "recursive anchor"),
    ),
    (
        "recursive-anchor-mapping",
        Hostile(
            _HEAD + "x: &a\n  y: *a\n", HEAD_LINES + 2, "recursive anchor"
        ),
    ),
    (
        "recursive-merge",
        Hostile(
            _HEAD + "x: &a {k: 1, <<: *a}\n",
            HEAD_LINES + 1,
            "recursive merge",
        ),
    ),
    (
        "deep-flow-list",
        Hostile(
            _HEAD + "x: " + "[" * 10_000 + "]" * 10_000 + "\n",
            HEAD_LINES + 1,
            "nest more than 64 levels",
        ),
    ),
    (
        "deep-flow-mapping",
        Hostile(
            _HEAD + "x: " + "{a: " * 10_000 + "1" + "}" * 10_000 + "\n",
            HEAD_LINES + 1,
            "nest more than 64 levels",
        ),
    ),
    (
        "deep-block-list",
        Hostile(
            _HEAD + "x:\n" + "- " * 10_000 + "lol\n",
            HEAD_LINES + 2,
            "nest more than 64 levels",
        ),
    ),
    (
        "deep-block-mapping",
        Hostile(
            _deep_block_mapping(200),
            HEAD_LINES + 65,  # k64, the 65th level
            "nest more than 64 levels",
        ),
    ),
    (
        "huge-number",
        Hostile(
            "version: " + "9" * 200_000 + "\n" + _HEAD.split("\n", 1)[1],
            1,
            "cannot read '9999",
        ),
    ),
    (
        "huge-hex-number",
        Hostile(
            _HEAD.replace("version: 1", "version: 0x" + "f" * 200_000),
            1,
            "unsupported version <a number of 800,000 bits>",
        ),
    ),
    (
        "huge-text",
        Hostile(
            _HEAD + "  - {name: b, to: alerts, match: {level: "
            f"{'x' * 500_000}}}}}\n",
            HEAD_LINES + 1,
            "unknown level 'xxxx",
        ),
    ),
    (
        "huge-key",
        Hostile(_HEAD + "k" * 500_000 + ": 1\n", HEAD_LINES + 1, "YAML"),
    ),
    (
        "larger-than-a-routing-file",
        Hostile(
            _HEAD + "x: '" + "lol " * 300_000 + "'\n",
            None,
            "the most a routing file may hold",
        ),
    ),
]

HOSTILE_PARAMS = [pytest.param(case, id=name) for name, case in HOSTILE]

#: The longest refusal any hostile file may produce, in characters: a
#: message locates the problem, it does not repeat the file.
MAX_MESSAGE = 1_000
