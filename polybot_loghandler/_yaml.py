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
LineMap = dict[KeyPath, int]


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
        lines: LineMap = {}
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
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if (
                not isinstance(key, (str, int, float, bool))
                and key is not None
            ):
                line = key_node.start_mark.line + 1
                raise ConfigError(
                    f"{filename}:{line}: {path_to_str(path)}: "
                    "keys must be plain scalars"
                )
            key = str(key) if not isinstance(key, str) else key
            if key in out:
                line = key_node.start_mark.line + 1
                raise ConfigError(
                    f"{filename}:{line}: {path_to_str((*path, key))}: "
                    "duplicate key (each key may appear once)"
                )
            out[key] = _build(
                loader, value_node, (*path, key), lines, filename
            )
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(loader, item, (*path, i), lines, filename)
            for i, item in enumerate(node.value)
        ]
    value = loader.construct_object(node, deep=True)
    if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
        # block scalars: the text starts on the line after the indicator
        lines[path] = node.start_mark.line + 2
    return value
