"""
``embed:``: how a route's messages look (title, colour, fields, icons).

A route's embed is checked here, down to each field and icon URL; what it
compiles to, an ``EmbedTemplate``, is what the render stage fills in for
each event. Colours are read with the palette of ``_colors``, the one the
renderer reads a colour that a template made with.
"""

from __future__ import annotations

from typing import Any

from polybot_loghandler._colors import COLORS, parse_color
from polybot_loghandler._model import EmbedTemplate, FieldTemplate
from polybot_loghandler._templates import Text
from polybot_loghandler._text import is_http_url
from polybot_loghandler._yaml import KeyPath

from .checker import Checker
from .words import did_you_mean, shown, word_of


class EmbedChecker(Checker):
    """Checks a route's ``embed:`` and compiles its templates."""

    def embed(  # noqa: C901 - one branch per key reads as the schema
        self, data: Any, path: KeyPath
    ) -> EmbedTemplate | None:
        if data is None:
            return None
        table = self.mapping(data, path, "embed")
        if table is None:
            return None
        self.keys(
            table,
            path,
            (
                "title",
                "description",
                "url",
                "color",
                "fields",
                "footer",
                "author",
                "timestamp",
            ),
        )
        kwargs: dict[str, Any] = {}
        for part in ("title", "description", "url"):
            if table.get(part) is not None:
                mode = "raw" if part == "url" else "markdown"
                kwargs[part] = self.template(table[part], (*path, part), mode)
        if "color" in table and table["color"] is None:
            self.problem(
                (*path, "color"),
                "the colour is empty (a '#rrggbb' colour must be quoted: "
                "YAML reads '#' as the start of a comment)",
            )
        if table.get("color") is not None:
            kwargs["color"] = self.color(table["color"], (*path, "color"))
        if isinstance(table.get("fields"), dict):
            kwargs["fields"] = None
            kwargs["auto_exclude"] = self.auto_fields(
                table["fields"], (*path, "fields")
            )
        elif "fields" in table:
            kwargs["fields"] = self.embed_fields(
                table["fields"], (*path, "fields")
            )
        if table.get("footer") is not None:
            text, icon, _ = self.text_with_icon(
                table["footer"], (*path, "footer"), "text"
            )
            kwargs["footer"], kwargs["footer_icon_url"] = text, icon
        if table.get("author") is not None:
            text, icon, url = self.text_with_icon(
                table["author"], (*path, "author"), "name"
            )
            kwargs["author"], kwargs["author_icon_url"] = text, icon
            kwargs["author_url"] = url
        if "timestamp" in table:
            stamp = table["timestamp"]
            kwargs["timestamp"] = (
                stamp
                if isinstance(stamp, bool)
                else self.template(stamp, (*path, "timestamp"), "raw")
            )
        return EmbedTemplate(**kwargs)

    def color(self, data: Any, path: KeyPath) -> int | Text | None:
        if isinstance(data, int) and not isinstance(data, bool):
            if 0 <= data <= 0xFFFFFF:
                return data
        elif isinstance(data, str):
            if "{" in data:
                return self.template(data, path, "raw")
            found = parse_color(data)
            if found is not None:
                return found
        self.problem(
            path,
            f"invalid color {shown(data)} (a name such as "
            f"{', '.join(list(COLORS)[2:8])}; '#rrggbb'; an integer up "
            "to 16777215; or a template)"
            f"{did_you_mean(word_of(data), list(COLORS))}",
        )
        return None

    def auto_fields(
        self, data: dict[str, Any], path: KeyPath
    ) -> frozenset[str]:
        self.keys(data, path, ("auto", "exclude"), required=("auto",))
        if data.get("auto") is not True:
            self.problem(
                (*path, "auto"),
                "use 'auto: true' (or a list of fields instead of a mapping)",
            )
        exclude = self.field_names(
            data.get("exclude", []),
            (*path, "exclude"),
            "exclude",
            at_least_one=False,
        )
        return frozenset(exclude or ())

    def embed_fields(
        self, data: Any, path: KeyPath
    ) -> tuple[FieldTemplate, ...] | None:
        if data == "auto":
            return None
        if not isinstance(data, list):
            self.problem(
                path,
                "fields must be a list of {name, value, inline},"
                " 'auto', or {auto: true, exclude: [...]}",
            )
            return ()
        out: list[FieldTemplate] = []
        for n, spec in enumerate(data):
            where = (*path, n)
            table = self.mapping(spec, where, "a field")
            if table is None:
                continue
            self.keys(
                table,
                where,
                ("name", "value", "inline"),
                required=("name", "value"),
            )
            name = self.template(table.get("name", ""), (*where, "name"))
            value = self.template(table.get("value", ""), (*where, "value"))
            inline = table.get("inline", True)
            if not isinstance(inline, bool):
                self.problem((*where, "inline"), "must be true or false")
                inline = True
            if name is not None and value is not None:
                out.append(
                    FieldTemplate(name=name, value=value, inline=inline)
                )
        return tuple(out)

    def text_with_icon(
        self, data: Any, path: KeyPath, text_key: str
    ) -> tuple[Text | None, str | None, str | None]:
        mode = "plain"  # Discord shows footer and author text verbatim
        if not isinstance(data, dict):
            return self.template(data, path, mode), None, None
        allowed = (text_key, "icon_url") + (
            ("url",) if text_key == "name" else ()
        )
        self.keys(data, path, allowed, required=(text_key,))
        text = self.template(data.get(text_key, ""), (*path, text_key), mode)
        icon = data.get("icon_url")
        url = data.get("url")
        for part, value in (("icon_url", icon), ("url", url)):
            if value is not None and not is_http_url(value):
                self.problem(
                    (*path, part),
                    f"must be an http(s) URL, not {shown(value)}",
                )
        return text, icon, url
