"""
Load YAML while remembering the line every value came from.

PyYAML's composer keeps a mark on every node; we build plain Python values
from the node tree ourselves so that each key path can be mapped back to
its line for error messages.

A routing file may come from anywhere, so reading one is bounded: the
text's size, how deep values nest, and how many values aliases may add
(a "billion laughs" file of a few hundred bytes would otherwise expand
to billions). Every refusal is a :class:`ConfigError` with the line and
key path, never a ``RecursionError`` or an exhausted memory.
"""

from __future__ import annotations

from typing import Any

import yaml

from .exceptions import ConfigError

__all__ = [
    "MAX_ALIAS_VALUES",
    "MAX_CHARS",
    "MAX_DEPTH",
    "KeyPath",
    "LineMap",
    "load_yaml",
    "path_to_str",
]

KeyPath = tuple[str | int, ...]

#: The longest routing file read, in characters (1 MiB). The shipped
#: routing is about 36 KB.
MAX_CHARS = 1 << 20

#: How deep mappings and lists may nest. A routing file needs about six
#: levels; the bound keeps a file from exhausting Python's stack.
MAX_DEPTH = 64

#: How many values aliases (``*name``, and ``<<: *name`` merges) may add
#: to a file in all. Sharing a few embeds between routes adds hundreds;
#: aliases of aliases multiply, and would add billions.
MAX_ALIAS_VALUES = 10_000

_MERGE_TAG = "tag:yaml.org,2002:merge"
_VALUE_TAG = "tag:yaml.org,2002:value"  # the `=` key, read as text

#: The longest key a key path shows in full.
_KEY_SHOWN = 40

#: What a scalar's tag asks for, as messages name it.
_SCALAR_KINDS = {
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "true/false",
    "tag:yaml.org,2002:timestamp": "a date",
    "tag:yaml.org,2002:binary": "base64 data",
}


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

    A key longer than 40 characters is shortened with ``…``: a message
    locates the key, it need not repeat a page of text.
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = part if len(part) <= _KEY_SHOWN else part[:_KEY_SHOWN] + "…"
            out += f".{key}" if out else key
    return out or "(top level)"


def load_yaml(text: str, filename: str) -> tuple[Any, LineMap]:
    """
    Parse *text* as YAML and return the data and a map of key path to line.

    Lines are 1-based. Duplicate keys are an error rather than last-wins,
    because a silently ignored route is a hard bug to find. The limits
    :data:`MAX_CHARS`, :data:`MAX_DEPTH` and :data:`MAX_ALIAS_VALUES`
    bound the time and memory any text can take.

    Raises:
        ConfigError: The text is not valid YAML, or goes past a limit.
    """
    if len(text) > MAX_CHARS:
        raise ConfigError(
            f"{filename}:1: the file has {len(text):,} characters, more "
            f"than {MAX_CHARS:,}, the most a routing file may hold (is this "
            "the routing file?)"
        )
    loader = _Loader(text, filename)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, LineMap()
        builder = _Builder(loader, filename)
        return builder.build(node, ()), builder.lines
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


class _Loader(yaml.SafeLoader):
    """
    PyYAML's safe loader, refusing nesting deeper than :data:`MAX_DEPTH`.

    The composer builds nodes recursively, so depth must be refused while
    composing, before Python's own recursion limit is reached.
    """

    def __init__(self, text: str, filename: str) -> None:
        super().__init__(text)
        self._filename = filename
        self._path: list[str | int] = []  # where the composer is
        #: (list node, index) → the line of an alias written there: the
        #: node is the anchored one, whose marks are where it was defined
        self.alias_lines: dict[tuple[int, int], int] = {}

    def compose_node(
        self,
        parent: yaml.Node | None,
        index: Any,  # a list position, a key's node, or None for a key
    ) -> yaml.Node | None:
        """Compose one node, keeping the key path it stands at."""
        if parent is None:  # the document itself
            return super().compose_node(parent, index)
        if isinstance(index, int) and self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call] # untyped in the stubs
            self.alias_lines[id(parent), index] = mark.line + 1
        if isinstance(index, yaml.ScalarNode):
            part: str | int = str(index.value)
        else:
            part = index if isinstance(index, int) else "(a key)"
        self._path.append(part)
        try:
            if len(self._path) > MAX_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call] # untyped in the stubs
                line = event.start_mark.line + 1
                raise _too_deep(self._filename, line, tuple(self._path))
            return super().compose_node(parent, index)
        finally:
            self._path.pop()

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:  # noqa: N803 - PyYAML's name
        """
        Scan a ``[`` or ``{``, refusing more than :data:`MAX_DEPTH` open.

        The scanner reads ahead to the end of nested brackets before the
        composer sees the first (any of them may start a key), and its
        work grows with the square of their depth: refuse them here.
        """
        if self.flow_level >= MAX_DEPTH:
            mark = self.get_mark()
            raise ConfigError(
                f"{self._filename}:{mark.line + 1}: column {mark.column + 1}: "
                f"'[' and '{{' nest more than {MAX_DEPTH} levels deep (a "
                "routing file needs about six); flatten this part of the file"
            )
        super().fetch_flow_collection_start(TokenClass)


def _too_deep(filename: str, line: int, path: KeyPath) -> ConfigError:
    return ConfigError(
        f"{filename}:{line}: {path_to_str(path[:8])}…: values nest "
        f"more than {MAX_DEPTH} levels deep (a routing file needs about "
        "six); flatten this part of the file"
    )


class _Builder:
    """
    Builds plain values from the node tree, noting each key path's line.

    An alias is the very node it refers to, so building follows it again:
    each such repeat counts towards :data:`MAX_ALIAS_VALUES`, and a node
    met again inside itself (a recursive anchor) is refused.
    """

    def __init__(self, loader: _Loader, filename: str) -> None:
        self.loader = loader
        self.filename = filename
        self.lines = LineMap()
        self._built: set[yaml.Node] = set()  # nodes built at least once
        self._open: set[yaml.Node] = set()  # nodes being built now
        self._merging: set[yaml.Node] = set()  # mappings being merged now
        self._added = 0  # values aliases added so far
        self._site: KeyPath | None = None  # the alias being followed

    def error(self, path: KeyPath, node: yaml.Node, text: str) -> ConfigError:
        """A problem at *path*, on its key's line (or else *node*'s)."""
        line = self.lines.get(path, node.start_mark.line + 1)
        return ConfigError(
            f"{self.filename}:{line}: {path_to_str(path)}: {text}"
        )

    def count_alias(self, path: KeyPath, node: yaml.Node, n: int = 1) -> None:
        """Count *n* values an alias added; refuse past the budget."""
        self._added += n
        if self._added > MAX_ALIAS_VALUES:
            raise self.error(
                self._site or path,  # where the alias is written
                node,
                f"aliases add more than {MAX_ALIAS_VALUES:,} values to the "
                "file (aliases of aliases multiply); write the values out, "
                "or share fewer of them",
            )

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        """The value of *node*, which stands at *path*."""
        # a path's line is where its key stands (set by the caller for
        # mapping entries); the top level and list items start where
        # their node does
        self.lines.setdefault(path, node.start_mark.line + 1)
        if node in self._open:
            raise self.error(
                path,
                node,
                "an alias here refers to a value that contains it (a "
                "recursive anchor has no end); refer to a value defined "
                "before it, or write it out",
            )
        if node not in self._built:
            self._built.add(node)
            return self.value(node, path)
        # an alias: what it adds counts, and its problems are told at
        # the line where it is written
        outermost = self._site is None
        if outermost:
            self._site = path
        try:
            self.count_alias(path, node)
            return self.value(node, path)
        finally:
            if outermost:
                self._site = None

    def value(self, node: yaml.Node, path: KeyPath) -> Any:
        """Build *node* itself, once :meth:`build` has vetted it."""
        if len(path) > MAX_DEPTH:  # aliases can nest deep values deeper
            line = self.lines[self._site or path]
            raise _too_deep(self.filename, line, path)
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        self._open.add(node)
        try:
            if isinstance(node, yaml.MappingNode):
                return self.mapping(node, path)
            out = []
            aliases = self.loader.alias_lines
            for i, item in enumerate(node.value):
                child = (*path, i)
                self.lines[child] = aliases.get(
                    (id(node), i), item.start_mark.line + 1
                )
                out.append(self.build(item, child))
            return out
        finally:
            self._open.discard(node)

    def scalar(self, node: yaml.ScalarNode, path: KeyPath) -> Any:
        """A scalar's value; one its tag cannot read is a located problem."""
        # block scalars (| and >): the text starts on the line after the
        # indicator; templates count their lines from there
        start = node.start_mark.line + (2 if node.style in ("|", ">") else 1)
        self.lines.text_start[path] = start
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError:
            raise  # a syntax error, located by load_yaml
        except Exception:  # e.g. a 5,000-digit number, or 2026-02-30
            text = str(node.value)
            shown = (
                text if len(text) <= _KEY_SHOWN else text[:_KEY_SHOWN] + "…"
            )
            kind = _SCALAR_KINDS.get(node.tag, "a value")
            raise self.error(
                path,
                node,
                f"cannot read {shown!r} as {kind}; quote it to use it as text",
            ) from None

    def mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[str, Any]:
        """A mapping's value; keys are unique, ``<<`` merges come first."""
        out: dict[str, Any] = {}
        from_merge: set[str] = set()
        for key_node, value_node, merged in self.entries(node, path, 0):
            line = key_node.start_mark.line + 1
            key = self.key(key_node, path, line)
            if key in out and key not in from_merge:
                raise ConfigError(
                    f"{self.filename}:{line}: {path_to_str((*path, key))}: "
                    "duplicate key (each key may appear once)"
                )
            if merged:
                from_merge.add(key)
            else:
                from_merge.discard(key)  # an explicit key overrides a merge
            child = (*path, key)
            self.lines.pop(child, None)
            self.lines[child] = line
            out[key] = self.build(value_node, child)
        return out

    def key(self, node: yaml.Node, path: KeyPath, line: int) -> str:
        """A mapping key as text; only scalars may be keys."""
        key: Any = [node]  # only a scalar's value is right below
        if isinstance(node, yaml.ScalarNode):
            key = (
                node.value
                if node.tag == _VALUE_TAG
                else self.scalar(node, (*path, "(a key)"))
            )
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise ConfigError(
                f"{self.filename}:{line}: {path_to_str(path)}: keys must be "
                "plain scalars (a template written as a value must be "
                "quoted: '{{ ... }}')"
            )
        return key if isinstance(key, str) else str(key)

    def entries(
        self, node: yaml.MappingNode, path: KeyPath, depth: int
    ) -> list[tuple[yaml.Node, yaml.Node, bool]]:
        """
        *node*'s (key, value, merged) entries, merged ones first.

        Merges are expanded as PyYAML's ``flatten_mapping`` does (with a
        list of mappings, the first listed wins), without changing the
        nodes: an alias may bring the same mapping here again.
        """
        if depth > MAX_DEPTH:
            raise self.error(
                path,
                node,
                f"merge keys ('<<') nest more than {MAX_DEPTH} levels deep; "
                "merge fewer mappings into each other",
            )
        if node in self._merging:
            raise self.error(
                path,
                node,
                "a merge key ('<<') brings in a mapping that merges this "
                "one (a recursive merge has no end); merge a mapping "
                "defined before it",
            )
        self._merging.add(node)
        try:
            merged: list[tuple[yaml.Node, yaml.Node, bool]] = []
            own: list[tuple[yaml.Node, yaml.Node, bool]] = []
            for key_node, value_node in node.value:
                if key_node.tag != _MERGE_TAG:
                    own.append((key_node, value_node, False))
                    continue
                for source in reversed(self.merge_sources(value_node, path)):
                    found = self.entries(source, path, depth + 1)
                    self.count_alias(path, source, len(found))
                    merged.extend((k, v, True) for k, v, _ in found)
            return merged + own
        finally:
            self._merging.discard(node)

    def merge_sources(
        self, node: yaml.Node, path: KeyPath
    ) -> list[yaml.MappingNode]:
        """The mappings a ``<<`` value names: one, or a list of them."""
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        if not all(isinstance(item, yaml.MappingNode) for item in items):
            raise self.error(
                path,
                node,
                "a merge key ('<<') takes a mapping or a list of mappings, "
                "e.g. '<<: *defaults'",
            )
        return list(items)
