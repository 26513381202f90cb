"""The saved KQL search, run two ways.

- :class:`WorkspaceSearch`: against a deployed stack. The saved search is read by its resource id
  through Azure Resource Manager (``.../savedSearches/<id>``) and run with azure-monitor-query's
  ``LogsQueryClient.query_workspace``. The service applies the filter; a row found is the proof.
- :func:`matching_rows`: a small evaluator of the same search over telemetry rows captured from the
  local runtime, for CI. It implements only what a saved search may use here -- a table or ``union``
  of tables, ``where`` with ``==``/``!=``/``=~``/``in (...)`` joined by ``and``/``or``/``not`` and
  parentheses, over columns, ``Properties.x``, ``Properties["x"]`` and ``tostring(...)`` of them, then
  ``project``, ``order by``/``sort by``, ``take``/``limit`` -- and refuses anything else.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

import requests

from agentcage.errors import ConfigurationError, InvalidInputError, TransportError

__all__ = ["matching_rows", "WorkspaceSearch", "ARM_SCOPE", "SAVED_SEARCH_API_VERSION"]

ARM_SCOPE = "https://management.azure.com/.default"
SAVED_SEARCH_API_VERSION = "2020-08-01"
_ARM = "https://management.azure.com"
_TOKEN = re.compile(
    r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>==|!=|=~|\(|\)|\[|\]|,)"""
    r"""|(?P<number>-?\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][\w.]*))"""
)
_IGNORED = ("project ", "order by ", "sort by ", "take ", "limit ")

Row = Mapping[str, Any]
Predicate = Callable[[Row], bool]


def matching_rows(query: str, rows: Iterable[Row]) -> list[Row]:
    """The rows (each with its table in ``Type``) that ``query``'s source and ``where`` clauses keep."""
    stages = [stage.strip() for stage in _split(query)]
    tables = _source(stages[0])
    predicates: list[Predicate] = []
    for stage in stages[1:]:
        lowered = stage.lower()
        if lowered.startswith("where "):
            predicates.append(_Parser(stage[len("where ") :]).parse())
        elif not lowered.startswith(_IGNORED):
            raise InvalidInputError(f"the local evaluator does not implement KQL {stage.split()[0]!r}")
    return [r for r in rows if r.get("Type") in tables and all(keep(r) for keep in predicates)]


def _split(query: str) -> list[str]:
    stages, current, quote = [], "", ""
    for char in query:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "|":
            stages.append(current)
            current = ""
            continue
        current += char
    return [s for s in [*stages, current] if s.strip()]


def _source(stage: str) -> set[str]:
    words = stage.replace(",", " ").split()
    if words and words[0].lower() == "union":
        words = words[1:]
    if not words or not all(re.fullmatch(r"[A-Za-z_]\w*", word) for word in words):
        raise InvalidInputError(f"the local evaluator reads a table or a union of tables, not {stage!r}")
    return set(words)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position, end = 0, len(text.rstrip())
        while position < end:
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise InvalidInputError(f"cannot read the where clause at {text[position : position + 30]!r}")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.at = 0

    def parse(self) -> Predicate:
        predicate = self._or()
        if self.at != len(self.tokens):
            raise InvalidInputError(f"unsupported KQL at {self.tokens[self.at][1]!r}")
        return predicate

    def _peek(self) -> tuple[str, str]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("end", "")

    def _take(self, kind: str, value: str | None = None) -> str:
        found_kind, found = self._peek()
        if found_kind != kind or (value is not None and found != value):
            raise InvalidInputError(f"expected {value or kind} in the where clause, found {found!r}")
        self.at += 1
        return found

    def _word(self, word: str) -> bool:
        kind, value = self._peek()
        if kind == "name" and value == word:
            self.at += 1
            return True
        return False

    def _or(self) -> Predicate:
        terms = [self._and()]
        while self._word("or"):
            terms.append(self._and())
        return lambda row: any(term(row) for term in terms)

    def _and(self) -> Predicate:
        terms = [self._not()]
        while self._word("and"):
            terms.append(self._not())
        return lambda row: all(term(row) for term in terms)

    def _not(self) -> Predicate:
        if self._peek() == ("name", "not"):
            self.at += 1
            self._take("op", "(")
            inner = self._or()
            self._take("op", ")")
            return lambda row: not inner(row)
        if self._peek() == ("op", "("):
            self.at += 1
            inner = self._or()
            self._take("op", ")")
            return inner
        return self._comparison()

    def _operand(self) -> Callable[[Row], Any]:
        name = self._take("name")
        if name == "tostring":
            self._take("op", "(")
            inner = self._operand()
            self._take("op", ")")
            return lambda row: "" if inner(row) is None else str(inner(row))
        path = name.split(".")
        if self._peek() == ("op", "["):
            self.at += 1
            kind, key = self._peek()
            if kind != "string":
                raise InvalidInputError(f"expected a quoted key in [], found {key!r}")
            self.at += 1
            self._take("op", "]")
            path.append(key[1:-1])
        return lambda row: _lookup(row, path)

    def _comparison(self) -> Predicate:
        value = self._operand()
        kind, operator = self._peek()
        self.at += 1
        if kind == "name" and operator == "in":
            self._take("op", "(")
            options = [self._literal()]
            while self._peek() == ("op", ","):
                self.at += 1
                options.append(self._literal())
            self._take("op", ")")
            return lambda row: value(row) in options
        if kind != "op" or operator not in {"==", "!=", "=~"}:
            raise InvalidInputError(f"the local evaluator does not implement the KQL operator {operator!r}")
        wanted = self._literal()
        if operator == "!=":
            return lambda row: value(row) is not None and value(row) != wanted
        if operator == "=~":
            return lambda row: str(value(row)).lower() == str(wanted).lower()
        return lambda row: value(row) == wanted

    def _literal(self) -> Any:
        kind, literal = self._peek()
        self.at += 1
        if kind == "string":
            return re.sub(r"\\(.)", r"\1", literal[1:-1])
        if kind == "number":
            return float(literal) if "." in literal else int(literal)
        raise InvalidInputError(f"expected a literal in the where clause, found {literal!r}")


def _lookup(row: Row, path: list[str]) -> Any:
    """A column, or a key inside a dynamic column (``Properties.task_id``); ``None`` when absent."""
    value: Any = row
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


# --- the deployed search --------------------------------------------------------------------------------
class WorkspaceSearch:
    """Reads a saved search through Resource Manager and runs KQL in a Log Analytics workspace."""

    def __init__(
        self, credential: Any, *, session: requests.Session | None = None, logs_client: Any | None = None
    ) -> None:
        self.credential = credential
        self.session = session or requests.Session()
        self._logs_client = logs_client

    def saved_search(self, workspace_resource_id: str, name: str) -> str:
        """The query text of the workspace's saved search ``name``."""
        token = self.credential.get_token(ARM_SCOPE).token
        url = f"{_ARM}{workspace_resource_id}/savedSearches/{name}"
        try:
            answer = self.session.get(
                url,
                params={"api-version": SAVED_SEARCH_API_VERSION},
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )
        except requests.RequestException as error:
            raise TransportError(f"cannot read the saved search {name}: {error}") from None
        if answer.status_code == 404:
            raise ConfigurationError(f"the workspace has no saved search {name!r}")
        if answer.status_code != 200:
            raise TransportError(
                f"reading the saved search {name} answered {answer.status_code}: {answer.text[:300]}"
            )
        query = (answer.json().get("properties") or {}).get("query")
        if not isinstance(query, str):
            raise ConfigurationError(f"the saved search {name!r} has no query text")
        return query

    @staticmethod
    def _sdk() -> Any:
        """azure-monitor-query, imported on first use: only the cloud run needs it."""
        try:
            return importlib.import_module("azure.monitor.query")
        except ImportError as error:
            raise ConfigurationError(
                "the KQL check needs azure-monitor-query (the dev extra installs it)"
            ) from error

    def logs_client(self) -> Any:
        """The ``LogsQueryClient`` given, or one built on the credential."""
        if self._logs_client is None:
            self._logs_client = self._sdk().LogsQueryClient(self.credential)
        return self._logs_client

    def run(self, workspace_id: str, query: str, *, timespan: timedelta) -> list[dict[str, Any]]:
        """Run ``query`` in the workspace (its customer id); every row of every table, as dicts.

        A partial answer counts with the rows it has (the error is logged by the SDK); a failed one
        is a :class:`TransportError`.
        """
        answer = self.logs_client().query_workspace(workspace_id, query, timespan=timespan)
        # LogsQueryStatus is a str enum: SUCCESS == "Success", PARTIAL == "PartialError".
        if answer.status == "Success":
            tables = answer.tables
        elif answer.status == "PartialError":
            tables = answer.partial_data
        else:
            raise TransportError(f"the KQL query failed: {getattr(answer, 'partial_error', answer.status)}")
        return [dict(zip(table.columns, row, strict=False)) for table in tables for row in table.rows]
