"""
A small HTML tree for tests: parse a page, find elements, read text.

The standard library's parser, kept strict: an end tag that closes
nothing open, or a tag left open, is an error, so a test that reads the
tree also checks the HTML is well formed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

__all__ = ["Node", "parse"]

#: Elements that have no end tag.
_VOID = frozenset({"br", "meta", "img", "hr", "input", "link"})


@dataclass
class Node:
    """An element: its tag, attributes, and children (nodes or text)."""

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def walk(self) -> Iterator[Node]:
        """This node and every element below it, in document order."""
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.walk()

    def all(self, cls: str = "", tag: str = "") -> list[Node]:
        """Every element below with class *cls* and tag *tag* (if given)."""
        return [
            node
            for node in self.walk()
            if (not cls or cls in node.classes)
            and (not tag or node.tag == tag)
        ]

    def one(self, cls: str = "", tag: str = "") -> Node:
        """The one element below with class *cls* (and tag *tag*)."""
        found = self.all(cls, tag)
        assert len(found) == 1, f"{len(found)} elements .{cls} {tag}"
        return found[0]

    def text(self) -> str:
        """The text inside, as a reader sees it (``<br>`` a newline)."""
        parts = []
        for child in self.children:
            if isinstance(child, str):
                parts.append(child)
            elif child.tag == "br":
                parts.append("\n")
            elif child.tag not in ("style", "script"):
                parts.append(child.text())
        return "".join(parts)


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document")
        self.open = [self.root]

    def handle_starttag(
        self, tag: str, attrs: list[tuple[str, str | None]]
    ) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.open[-1].children.append(node)
        if tag not in _VOID:
            self.open.append(node)

    def handle_endtag(self, tag: str) -> None:
        top = self.open[-1]
        assert top.tag == tag, f"</{tag}> closes <{top.tag}>"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.open[-1].children.append(data)


def parse(page: str) -> Node:
    """*page* as a tree; fails on a tag closed out of order or left open."""
    builder = _Builder()
    builder.feed(page)
    builder.close()
    assert builder.open == [builder.root], "unclosed tags: " + ", ".join(
        node.tag for node in builder.open[1:]
    )
    return builder.root
