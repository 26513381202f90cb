"""The saved CloudWatch Logs Insights query, run two ways.

- :class:`CloudWatchInsights`: against a deployed stack with boto3 (``describe_query_definitions`` for
  the saved definition's text and log groups, ``start_query`` / ``get_query_results`` to run it). The
  service applies the filter; a row found is the proof.
- :func:`matching_events`: a small evaluator of the same query over log events captured from the local
  runtime, for CI. It implements only what a saved query may use here -- ``fields``, ``filter`` with
  ``=``/``==``/``!=`` joined by ``and``/``or``/``not`` and parentheses, ``sort``, ``limit`` -- over the
  fields Logs Insights discovers in a JSON log line (nested keys joined with dots), and refuses
  anything else, so a query it cannot judge never passes by accident. It proves that the query's
  filter matches what the code logs; not that CloudWatch ingests it (only the cloud run proves that).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentcage.errors import ConfigurationError, InvalidInputError, TransportError

__all__ = ["LogEvent", "matching_events", "discovered_fields", "CloudWatchInsights", "SavedDefinition"]

_TOKEN = re.compile(
    r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>==|!=|=|\(|\))"""
    r"""|(?P<number>-?\d+(?:\.\d+)?)|(?P<name>[@A-Za-z_][\w.@-]*|`[^`]+`))"""
)
_IGNORED_COMMANDS = {"fields", "sort", "limit", "display"}


@dataclass(frozen=True)
class LogEvent:
    """One log event as CloudWatch stores it: the line, and the group it landed in."""

    message: str
    log_group: str = ""
    timestamp_ms: int = 0


def discovered_fields(event: LogEvent) -> dict[str, Any]:
    """The fields Logs Insights discovers: ``@message``, ``@log`` and, for JSON, every key (dotted)."""
    fields: dict[str, Any] = {"@message": event.message, "@log": event.log_group}
    try:
        document = json.loads(event.message)
    except ValueError:
        return fields
    if isinstance(document, dict):
        _flatten(document, "", fields)
    return fields


def _flatten(document: Mapping[str, Any], prefix: str, into: dict[str, Any]) -> None:
    for key, value in document.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            _flatten(value, f"{name}.", into)
        else:
            into[name] = value


def matching_events(query: str, events: Iterable[LogEvent]) -> list[LogEvent]:
    """The events every ``filter`` of ``query`` keeps (``InvalidInputError`` for an unsupported query)."""
    filters = []
    for command in _commands(query):
        verb, _, rest = command.strip().partition(" ")
        if verb.lower() == "filter":
            filters.append(_Parser(rest).parse())
        elif verb.lower() not in _IGNORED_COMMANDS:
            raise InvalidInputError(f"the local evaluator does not implement Logs Insights {verb!r}")
    return [e for e in events if all(keep(discovered_fields(e)) for keep in filters)]


def _commands(query: str) -> list[str]:
    """Split at ``|`` outside quotes."""
    commands, current, quote = [], "", ""
    for char in query:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "|":
            commands.append(current)
            current = ""
            continue
        current += char
    return [c for c in [*commands, current] if c.strip()]


Predicate = Callable[[Mapping[str, Any]], bool]


class _Parser:
    """``or`` of ``and`` of (``not``) comparisons or parenthesised groups."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text.rstrip()):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise InvalidInputError(f"cannot read the filter at {text[position : position + 30]!r}")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.at = 0

    def parse(self) -> Predicate:
        predicate = self._or()
        if self.at != len(self.tokens):
            raise InvalidInputError(f"unsupported filter syntax at {self.tokens[self.at][1]!r}")
        return predicate

    def _peek(self) -> tuple[str, str]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("end", "")

    def _word(self, word: str) -> bool:
        kind, value = self._peek()
        if kind == "name" and value.lower() == word:
            self.at += 1
            return True
        return False

    def _or(self) -> Predicate:
        terms = [self._and()]
        while self._word("or"):
            terms.append(self._and())
        return lambda fields: any(term(fields) for term in terms)

    def _and(self) -> Predicate:
        terms = [self._not()]
        while self._word("and"):
            terms.append(self._not())
        return lambda fields: all(term(fields) for term in terms)

    def _not(self) -> Predicate:
        if self._word("not"):
            inner = self._not()
            return lambda fields: not inner(fields)
        if self._peek() == ("op", "("):
            self.at += 1
            inner = self._or()
            if self._peek() != ("op", ")"):
                raise InvalidInputError("unbalanced parentheses in the filter")
            self.at += 1
            return inner
        return self._comparison()

    def _comparison(self) -> Predicate:
        kind, field = self._peek()
        if kind != "name":
            raise InvalidInputError(f"expected a field name in the filter, found {field!r}")
        self.at += 1
        operator_kind, operator = self._peek()
        if operator_kind != "op" or operator not in {"=", "==", "!="}:
            raise InvalidInputError(f"the local evaluator does not implement the operator {operator!r}")
        self.at += 1
        literal_kind, literal = self._peek()
        if literal_kind not in {"string", "number"}:
            raise InvalidInputError(f"expected a literal after {field} {operator}, found {literal!r}")
        self.at += 1
        name = field.strip("`")
        wanted = json.loads(literal) if literal_kind == "number" else _unquote(literal)
        if operator == "!=":
            return lambda fields: name in fields and fields[name] != wanted
        return lambda fields: name in fields and _equal(fields[name], wanted)


def _unquote(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal[1:-1])


def _equal(value: Any, wanted: Any) -> bool:
    # Logs Insights compares a discovered number with a string literal by its text, and vice versa.
    return value == wanted or str(value) == str(wanted)


# --- the deployed query ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SavedDefinition:
    """A saved Logs Insights query as deployed: its text and the log groups it runs over."""

    name: str
    query: str
    log_groups: tuple[str, ...]


class CloudWatchInsights:
    """Reads a saved query definition and runs query text with a boto3 ``logs`` client."""

    _DONE = frozenset({"Complete", "Failed", "Cancelled", "Timeout", "Unknown"})

    def __init__(
        self,
        client: Any,
        *,
        poll_interval_s: float = 1.0,
        poll_timeout_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.poll_interval_s = poll_interval_s
        self.poll_timeout_s = poll_timeout_s
        self.sleep = sleep
        self.clock = clock

    def saved_definition(self, name: str) -> SavedDefinition:
        """The definition called exactly ``name`` (``ConfigurationError`` when the stack has none)."""
        answer = self.client.describe_query_definitions(queryDefinitionNamePrefix=name, maxResults=100)
        for definition in answer.get("queryDefinitions", []):
            if definition.get("name") == name:
                return SavedDefinition(
                    name, str(definition.get("queryString", "")), tuple(definition.get("logGroupNames", []))
                )
        raise ConfigurationError(f"no saved Logs Insights query named {name!r} in this account and region")

    def run(self, query: str, log_groups: Sequence[str], *, start_s: int, end_s: int) -> list[dict[str, str]]:
        """Run ``query`` over ``log_groups`` between two epoch seconds; the result rows as dicts."""
        if not log_groups:
            raise ConfigurationError("the saved query names no log groups")
        query_id = self.client.start_query(
            logGroupNames=list(log_groups), startTime=start_s, endTime=end_s, queryString=query
        )["queryId"]
        deadline = self.clock() + self.poll_timeout_s
        while True:
            answer = self.client.get_query_results(queryId=query_id)
            status = answer.get("status")
            if status in self._DONE:
                break
            if self.clock() >= deadline:
                waited = f"{self.poll_timeout_s:.0f} s"
                raise TransportError(f"Logs Insights query {query_id} still {status} after {waited}")
            self.sleep(self.poll_interval_s)
        if status != "Complete":
            raise TransportError(f"Logs Insights query {query_id} ended {status}")
        return [{cell["field"]: cell.get("value", "") for cell in row} for row in answer.get("results", [])]
