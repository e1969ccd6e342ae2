"""
``state:``: what the floor's state is made of, for ``ask`` and the bot.

The section declares *tables*, rows kept by a key (the agents, the open
positions), and *totals*, measures summed per period (today's realised
P&L), each with ``rules:`` (not ``on:``, which YAML reads as true): a
``match:`` checked as a route's, then ``set:`` or ``remove: true`` for a
table, ``add:`` for a total. It is compiled into the frozen spec of
:mod:`polybot_loghandler._floor.model`, which the reducer reads; every
value is compiled here, so a template that does not compile is told with
its line when the file loads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from polybot_loghandler._floor.model import (
    KEEP,
    PERIODS,
    Rule,
    StateSpec,
    TableSpec,
    TotalSpec,
)
from polybot_loghandler._floor.values import Value, compile_value, number
from polybot_loghandler._yaml import KeyPath

from .checker import Checker, RoutingFile
from .match import MatchChecker
from .watching import fingerprint
from .words import did_you_mean, kind_of, shown, word_of

__all__ = ["StateChecker"]

_STATE_KEYS = ("timezone", "tables", "totals")
_TABLE_KEYS = ("key", "each", "keep", "rules")
_TOTAL_KEYS = ("periods", "rules")
_TABLE_RULE_KEYS = ("match", "set", "remove", "continue")
_TOTAL_RULE_KEYS = ("match", "add", "continue")
#: A rule's keys that belong to the other kind, and what to say of them.
_OTHER_KIND = {
    "tables": {
        "add": "add: is a total's; a table's rule has set: or remove: true",
    },
    "totals": {
        "set": "set: is a table's; a total's rule has add:",
        "remove": "remove: is a table's; a total's rule has add:",
    },
}
#: A table's, a total's or a value's name.
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
#: The names a row holds of its own.
_OWN = "_key, _created, _updated"
#: The names a reply gives those (``_floor.replies``): a row's own values
#: cannot take them.
_SHOWN = ("key", "created", "updated")

_Spec = TypeVar("_Spec", TableSpec, TotalSpec)


class StateChecker(Checker):
    """Checks ``state:`` and makes its :class:`StateSpec`."""

    def __init__(self, file: RoutingFile) -> None:
        super().__init__(file)
        self.match = MatchChecker(file)

    def state(self, data: Any) -> StateSpec | None:
        """The section's spec; ``None`` without one, or with a problem."""
        if data is None:
            return None
        path: KeyPath = ("state",)
        table = self.mapping(data, path, "state")
        if table is None:
            return None
        before = len(self.file.problems)
        self.keys(table, path, _STATE_KEYS)
        zone_name, zone = self.zone_of(table, path)
        names: dict[str, str] = {}
        tables = self._section(table, "tables", names, self.table)
        totals = self._section(table, "totals", names, self.total)
        if not table.get("tables") and not table.get("totals"):
            self.problem(
                path,
                "declares no table and no total (give it tables:, "
                "totals: or both, or leave state: out)",
            )
        if len(self.file.problems) > before:
            return None
        return StateSpec(
            zone=zone,
            zone_name=zone_name,
            tables=tuple(tables),
            totals=tuple(totals),
            fingerprint=fingerprint(data),
        )

    def _section(
        self,
        state: Mapping[str, Any],
        section: str,
        names: dict[str, str],
        make: Callable[[str, Any, KeyPath], _Spec | None],
    ) -> list[_Spec]:
        """What *make* makes of each entry of ``tables:`` or ``totals:``."""
        data = state.get(section)
        if data is None:
            return []
        found = self.mapping(data, ("state", section), section)
        if found is None:
            return []
        out: list[_Spec] = []
        for key, spec in found.items():
            path: KeyPath = ("state", section, key)
            name = self._name(key, path, section, names)
            made = make(key, spec, path)
            if made is not None and name is not None:
                out.append(made)
        return out

    def _name(
        self, key: str, path: KeyPath, section: str, names: dict[str, str]
    ) -> str | None:
        """*key* as a table's or total's name, if it is one of its own."""
        kind = section[:-1]  # table, total
        if not _NAME.fullmatch(key):
            self.problem(
                path,
                f"a {kind}'s name is letters, digits and _, starting with "
                f"a letter, not {shown(key)}",
            )
            return None
        if key in names:
            self.problem(
                path,
                f"duplicate name '{key}' (a {names[key]} is called that; "
                "tables and totals need names of their own)",
            )
            return None
        names[key] = kind
        return key

    def _keys(
        self,
        spec: Mapping[str, Any],
        path: KeyPath,
        allowed: tuple[str, ...],
        required: tuple[str, ...],
    ) -> None:
        """A table's or total's keys; a bare ``on:`` is told as YAML's."""
        if "True" in spec:  # YAML 1.1 reads a bare on (and yes) as true
            self.problem(
                (*path, "True"),
                "YAML reads a bare 'on' as true: the rules go under 'rules:'",
            )
            spec = {k: v for k, v in spec.items() if k != "True"}
            required = tuple(k for k in required if k != "rules")
        self.keys(spec, path, allowed, required)

    # -- tables -------------------------------------------------------------

    def table(self, name: str, data: Any, path: KeyPath) -> TableSpec | None:
        """One entry of ``tables:``."""
        spec = self.mapping(data, path, "a table")
        if spec is None:
            return None
        before = len(self.file.problems)
        self._keys(spec, path, _TABLE_KEYS, ("key", "rules"))
        key = None
        if "key" in spec:
            key = self._key(spec["key"], (*path, "key"))
        each = None
        if "each" in spec:
            each = self._each(spec["each"], (*path, "each"))
        keep = KEEP
        if "keep" in spec:
            found = self.positive_whole(
                spec["keep"], (*path, "keep"), " (the most rows kept)"
            )
            keep = KEEP if found is None else found
        rules = self._rules(spec, path, "tables")
        if len(self.file.problems) > before or key is None:
            return None
        return TableSpec(name=name, key=key, each=each, keep=keep, rules=rules)

    def _key(self, data: Any, path: KeyPath) -> Value | None:
        text = self.string(data, path, "key")
        if text is None:
            return None
        if not text.strip():
            self.problem(
                path,
                "a key must not be empty (a template such as '{{ agent }}')",
            )
            return None
        return self._value(text, path)

    def _each(self, data: Any, path: KeyPath) -> str | None:
        if isinstance(data, str) and data.strip():
            return data
        self.problem(
            path,
            "'each' takes the name of a field that holds a mapping or a "
            f"list, not {shown(data)}",
        )
        return None

    # -- totals -------------------------------------------------------------

    def total(self, name: str, data: Any, path: KeyPath) -> TotalSpec | None:
        """One entry of ``totals:``."""
        spec = self.mapping(data, path, "a total")
        if spec is None:
            return None
        before = len(self.file.problems)
        self._keys(spec, path, _TOTAL_KEYS, ("rules",))
        periods: tuple[str, ...] = PERIODS
        if "periods" in spec:
            periods = self._periods(spec["periods"], (*path, "periods"))
        rules = self._rules(spec, path, "totals")
        if len(self.file.problems) > before:
            return None
        return TotalSpec(name=name, periods=periods, rules=rules)

    def _periods(self, data: Any, path: KeyPath) -> tuple[str, ...]:
        items = data if isinstance(data, list) else [data]
        if not items:
            self.problem(
                path,
                f"'periods' takes a list of {_listed(PERIODS)}, at least one",
            )
        out: list[str] = []
        for n, item in enumerate(items):
            where = (*path, n) if isinstance(data, list) else path
            if item not in PERIODS:
                self.problem(
                    where,
                    f"unknown period {shown(item)}"
                    f"{did_you_mean(word_of(item), PERIODS)}"
                    f" (periods: {', '.join(PERIODS)})",
                )
            elif item in out:
                self.problem(where, f"'{item}' is listed twice")
            else:
                out.append(item)
        return tuple(out)

    # -- rules --------------------------------------------------------------

    def _rules(
        self, spec: Mapping[str, Any], path: KeyPath, section: str
    ) -> tuple[Rule, ...]:
        # rules written under a bare on: (told as such) are checked too,
        # so every problem is told at once
        key = next((k for k in ("rules", "True") if k in spec), None)
        if key is None:
            return ()  # told as a missing key
        data = spec[key]
        where = (*path, key)
        if key == "True" and isinstance(data, list):
            for n, item in enumerate(data):
                self._rule(item, (*where, n), section)
            return ()
        if not isinstance(data, list) or not data:
            self.problem(
                where,
                "'rules' takes a list of rules, at least one, not "
                f"{shown(data) if data == [] else kind_of(data)}",
            )
            return ()
        rules = (
            self._rule(item, (*where, n), section)
            for n, item in enumerate(data)
        )
        return tuple(rule for rule in rules if rule is not None)

    def _rule(self, data: Any, path: KeyPath, section: str) -> Rule | None:
        rule = self.mapping(data, path, "a rule")
        if rule is None:
            return None
        before = len(self.file.problems)
        other = _OTHER_KIND[section]
        for key in rule:
            if key in other:
                self.problem((*path, key), f"unknown key ({other[key]})")
        is_table = section == "tables"
        self.keys(
            {k: v for k, v in rule.items() if k not in other},
            path,
            _TABLE_RULE_KEYS if is_table else _TOTAL_RULE_KEYS,
            required=() if is_table else ("add",),
        )
        matcher = self.match.matcher(rule.get("match", {}), (*path, "match"))
        go_on = rule.get("continue", False)
        if not isinstance(go_on, bool):
            self.problem(
                (*path, "continue"),
                f"must be true or false, not {shown(go_on)}",
            )
        values: tuple[tuple[str, Value], ...] = ()
        remove = False
        if is_table:
            values, remove = self._set_or_remove(rule, path)
        elif "add" in rule:
            values = self._values(rule["add"], (*path, "add"), adds=True)
        if len(self.file.problems) > before or matcher is None:
            return None
        if is_table:
            return Rule(
                matcher=matcher, set=values, remove=remove, continue_=go_on
            )
        return Rule(matcher=matcher, add=values, continue_=go_on)

    def _set_or_remove(
        self, rule: Mapping[str, Any], path: KeyPath
    ) -> tuple[tuple[tuple[str, Value], ...], bool]:
        """A table rule's ``set:`` values, and whether it removes."""
        if "set" in rule and "remove" in rule:
            self.problem(path, "a rule has set: or remove: true, not both")
            return (), False
        if "remove" in rule:
            if rule["remove"] is not True:
                self.problem(
                    (*path, "remove"),
                    f"'remove' takes true, not {_word(rule['remove'])} "
                    "(to keep the row, leave remove: out)",
                )
            return (), True
        if "set" not in rule:
            self.problem(
                path,
                "a rule needs set: (the values to write) or remove: true",
            )
            return (), False
        return self._values(rule["set"], (*path, "set"), adds=False), False

    def _values(
        self, data: Any, path: KeyPath, *, adds: bool
    ) -> tuple[tuple[str, Value], ...]:
        """``set:`` or ``add:``: a mapping of name → value, not empty."""
        verb = "add" if adds else "set"
        if not isinstance(data, dict) or not data:
            shown_as = "{}" if data == {} else kind_of(data)
            self.problem(
                path,
                f"'{verb}' takes a mapping of name: value, at least one, "
                f"not {shown_as}",
            )
            return ()
        out: list[tuple[str, Value]] = []
        for name, source in data.items():
            where = (*path, name)
            ok = self._value_name(name, where, adds=adds)
            value = self._value(source, where)
            if adds and value is not None:
                value = self._addable(value, where)
            if ok and value is not None:
                out.append((name, value))
        return tuple(out)

    def _value_name(self, name: str, path: KeyPath, *, adds: bool) -> bool:
        if name in ("True", "False"):
            self.problem(
                path,
                "YAML reads a bare on, yes or true as true, and off, no or "
                "false as false: quote the name ('on')",
            )
            return False
        if not adds and name in _SHOWN:
            self.problem(
                path,
                f"'{name}' is what a reply shows of every row of its own "
                f"({', '.join(_SHOWN)}); name the value otherwise",
            )
            return False
        if _NAME.fullmatch(name):
            return True
        if name.startswith("_") and not adds:
            self.problem(
                path,
                f"{shown(name)} starts with _, as the names a row holds "
                f"of its own do ({_OWN}); name it without",
            )
        else:
            what = "a measure's" if adds else "a value's"
            self.problem(
                path,
                f"{what} name is letters, digits and _, starting with a "
                f"letter, not {shown(name)}",
            )
        return False

    def _value(self, source: Any, path: KeyPath) -> Value | None:
        """*source* compiled; a template's problem on its own line."""
        if isinstance(source, (list, dict)):
            self.problem(
                path,
                "a value is a number, true/false, text or a template, "
                f"not {kind_of(source)} (a lone '{{{{ field }}}}' keeps a "
                "field's list or mapping)",
            )
            return None
        return self.compiled(path, lambda: compile_value(source))

    def _addable(self, value: Value, path: KeyPath) -> Value | None:
        """*value*, if a total can add it: a template, or a number."""
        if value.native is not None or value.pieces or value.template:
            return value
        if number(value.constant) is not None:
            return value
        self.problem(
            path,
            "'add' takes a number, or a template that gives one, not "
            f"{_word(value.constant)}",
        )
        return None


def _word(value: Any) -> str:
    """*value* as the file writes it: ``true``, ``nothing``, ``'abc'``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "nothing" if value is None else shown(value)


def _listed(words: tuple[str, ...]) -> str:
    """``day, week and all``."""
    return f"{', '.join(words[:-1])} and {words[-1]}"
