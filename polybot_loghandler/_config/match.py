"""
``match:``: which events a route takes (event, level, logger, fields, when).

Each part compiles to what ``_matching`` tests an event with: event and
logger patterns, a level, the checks of ``fields:`` (each with how it
reads, for the route table the CLI prints) and a ``when:`` expression.
"""

from __future__ import annotations

import re
from typing import Any

from polybot_loghandler._events import LEVELS
from polybot_loghandler._matching import (
    EventPattern,
    FieldCheck,
    LoggerPattern,
    Matcher,
    describe_check,
    field_check,
)
from polybot_loghandler._templates import (
    Expression,
    TemplateProblem,
    compile_expression,
)
from polybot_loghandler._yaml import KeyPath

from .checker import Checker
from .words import NESTED_TOO_DEEP, did_you_mean, kind_of, shown, word_of


class MatchChecker(Checker):
    """Checks a route's ``match:`` and compiles it to a ``Matcher``."""

    def matcher(self, data: Any, path: KeyPath) -> Matcher | None:
        table = self.mapping(data if data is not None else {}, path, "match")
        if table is None:
            return None
        self.keys(table, path, ("event", "level", "logger", "fields", "when"))
        kwargs: dict[str, Any] = {}
        if "event" in table:
            kwargs["event"] = self.event_pattern(
                table["event"], (*path, "event")
            )
        if "level" in table:
            kwargs["min_level"] = self.level(table["level"], (*path, "level"))
        if "logger" in table:
            kwargs["logger"] = self.logger_pattern(
                table["logger"], (*path, "logger")
            )
        if "fields" in table:
            conditions: list[str] = []
            kwargs["fields"] = self.field_checks(
                table["fields"], (*path, "fields"), conditions
            )
            kwargs["conditions"] = tuple(conditions)
        if "when" in table:
            kwargs["when"] = self.expression(table["when"], (*path, "when"))
        if any(v is None for v in kwargs.values()):
            return None
        return Matcher(**kwargs)

    def event_pattern(self, data: Any, path: KeyPath) -> EventPattern | None:
        names: list[str] = []
        regexes: list[re.Pattern[str]] = []
        items = data if isinstance(data, list) else [data]
        for n, item in enumerate(items):
            where = (*path, n) if isinstance(data, list) else path
            if isinstance(item, dict):
                if set(item) != {"regex"}:
                    self.problem(
                        where,
                        "an event pattern is a name, a glob, "
                        "or {regex: PATTERN}",
                    )
                    continue
                found = self.regex(item["regex"], (*where, "regex"))
                if found is not None:
                    regexes.append(found)
            elif isinstance(item, str) and item:
                names.append(item)
            else:
                self.problem(
                    where,
                    f"an event name must be a string, not {kind_of(item)}",
                )
        if not names and not regexes:
            return None
        return EventPattern(names, regexes)

    def regex(self, data: Any, path: KeyPath) -> re.Pattern[str] | None:
        text = self.string(data, path, "a regex")
        if text is None:
            return None
        try:
            return re.compile(text)
        except re.error as exc:
            self.problem(path, f"invalid regex {shown(text)}: {exc}")
        except RecursionError:
            self.problem(path, NESTED_TOO_DEEP.format(what="the regex"))
        return None

    def level(self, data: Any, path: KeyPath) -> int | None:
        if isinstance(data, str) and data.lower() in LEVELS:
            return LEVELS[data.lower()]
        if isinstance(data, str) and data.lower() == "warn":
            return LEVELS["warning"]
        self.problem(
            path,
            f"unknown level {shown(data)}"
            f"{did_you_mean(word_of(data), list(LEVELS))}"
            f" (expected one of: {', '.join(LEVELS)})",
        )
        return None

    def logger_pattern(self, data: Any, path: KeyPath) -> LoggerPattern | None:
        items = data if isinstance(data, list) else [data]
        patterns = [i for i in items if isinstance(i, str) and i]
        if len(patterns) != len(items) or not patterns:
            self.problem(
                path, "a logger pattern is a name or glob, or a list of them"
            )
            return None
        return LoggerPattern(patterns)

    def field_checks(
        self, data: Any, path: KeyPath, conditions: list[str]
    ) -> tuple[tuple[str, FieldCheck], ...] | None:
        """The checks of ``fields:``; how each reads goes to *conditions*."""
        table = self.mapping(data, path, "fields")
        if table is None:
            return None
        out: list[tuple[str, FieldCheck]] = []
        ok = True
        for name, spec in table.items():
            where = (*path, name)
            if not isinstance(spec, dict):
                out.append((name, field_check("eq", spec)))
                conditions.append(describe_check(name, "eq", spec))
                continue
            if not spec:
                self.problem(where, "an empty mapping tests nothing")
                ok = False
            for op, operand in spec.items():
                check = self.field_op(op, operand, (*where, op))
                if check is None:
                    ok = False
                else:
                    out.append((name, check))
                    conditions.append(describe_check(name, op, operand))
        return tuple(out) if ok else None

    def field_op(  # noqa: PLR0911 - one exit per test kind
        self, op: str, operand: Any, path: KeyPath
    ) -> FieldCheck | None:
        ops = ("in", "regex", "gt", "gte", "lt", "lte", "exists")
        if op not in ops:
            self.problem(
                path,
                f"unknown test{did_you_mean(op, ops)} "
                f"(use one of: {', '.join(ops)}; a plain value means "
                "equality)",
            )
            return None
        if op == "in":
            if not isinstance(operand, list):
                self.problem(path, "'in' takes a list of values")
                return None
            return field_check("in", operand)
        if op == "regex":
            pattern = self.regex(operand, path)
            return None if pattern is None else field_check("regex", pattern)
        if op == "exists":
            if not isinstance(operand, bool):
                self.problem(path, "'exists' takes true or false")
                return None
            return field_check("exists", operand)
        if isinstance(operand, bool) or not isinstance(operand, (int, float)):
            self.problem(
                path, f"'{op}' takes a number, not {kind_of(operand)}"
            )
            return None
        return field_check(op, operand)

    def expression(self, data: Any, path: KeyPath) -> Expression | None:
        text = self.string(data, path, "when")
        if text is None:
            return None
        try:
            return compile_expression(text)
        except TemplateProblem as exc:
            self.problem(path, str(exc))
        except RecursionError:
            self.problem(path, NESTED_TOO_DEEP.format(what="the expression"))
        return None
