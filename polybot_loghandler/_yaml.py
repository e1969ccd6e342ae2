"""
Load YAML while remembering the line every value came from.

PyYAML's composer keeps a mark on every node; we build plain Python values
from the node tree ourselves so that each key path can be mapped back to
its line for error messages.
"""

from __future__ import annotations

from typing import Any

import yaml

from .exceptions import ConfigError

__all__ = ["KeyPath", "LineMap", "load_yaml", "path_to_str"]

KeyPath = tuple[str | int, ...]


class LineMap(dict[KeyPath, int]):
    """
    Key path → the line its key stands on (1-based).

    ``text_start`` maps a scalar's path to the line its text begins on,
    which differs for block scalars (``|``, ``>``): template errors count
    from there.
    """

    def __init__(self) -> None:
        super().__init__()
        self.text_start: dict[KeyPath, int] = {}


def path_to_str(path: KeyPath) -> str:
    """
    Spell a key path the way error messages show it: ``routes[3].match``.
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


def load_yaml(text: str, filename: str) -> tuple[Any, LineMap]:
    """
    Parse *text* as YAML and return the data and a map of key path to line.

    Lines are 1-based. Duplicate keys are an error rather than last-wins,
    because a silently ignored route is a hard bug to find.

    Raises:
        ConfigError: The text is not valid YAML.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines = LineMap()
        if node is None:
            return None, lines
        return _build(loader, node, (), lines, filename), lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(
            f"{filename}:{line}: YAML syntax error: {problem}"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{filename}:1: YAML error: {exc}") from None
    finally:
        loader.dispose()


def _build(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    path: KeyPath,
    lines: LineMap,
    filename: str,
) -> Any:
    # a path's line is where its key stands (set by the caller for mapping
    # entries); the top level and list items start where their node does
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        return _build_mapping(loader, node, path, lines, filename)
    if isinstance(node, yaml.SequenceNode):
        out = []
        for i, item in enumerate(node.value):
            child = (*path, i)
            lines[child] = item.start_mark.line + 1
            out.append(_build(loader, item, child, lines, filename))
        return out
    if isinstance(node, yaml.ScalarNode):
        # block scalars (| and >): the text starts on the line after
        # the indicator; templates count their lines from there
        start = node.start_mark.line + (2 if node.style in ("|", ">") else 1)
        lines.text_start[path] = start
    return loader.construct_object(node, deep=True)


def _build_mapping(
    loader: yaml.SafeLoader,
    node: yaml.MappingNode,
    path: KeyPath,
    lines: LineMap,
    filename: str,
) -> dict[str, Any]:
    merge_tag = "tag:yaml.org,2002:merge"
    explicit = {id(k) for k, _ in node.value if k.tag != merge_tag}
    loader.flatten_mapping(node)  # `<<: *anchor` merges come first
    out: dict[str, Any] = {}
    from_merge: set[str] = set()
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise ConfigError(
                f"{filename}:{line}: {path_to_str(path)}: keys must be plain "
                "scalars (a template written as a value must be quoted: "
                "'{{ ... }}')"
            )
        key = key if isinstance(key, str) else str(key)
        if key in out and key not in from_merge:
            raise ConfigError(
                f"{filename}:{line}: {path_to_str((*path, key))}: "
                "duplicate key (each key may appear once)"
            )
        if id(key_node) in explicit:
            from_merge.discard(key)  # an explicit key overrides a merge
        else:
            from_merge.add(key)
        child = (*path, key)
        lines.pop(child, None)
        lines[child] = line
        out[key] = _build(loader, value_node, child, lines, filename)
    return out
