"""What runs where: the Azure functions from ``function_app.py`` and the Lambdas from the manifest.

Nothing here restates a queue name or a route. The Azure side comes from the app's own binding
metadata (``app.get_functions()``: HTTP triggers with their routes and methods, Service Bus triggers
and outputs with their queue names); the AWS side from :data:`functions.aws.manifest.LAMBDAS`. The
cross-cloud hops are the two bridges: the Azure function triggered by a queue that the AWS side
also consumes sends there, and the Lambda consuming the AWS results queue sends to the Service Bus
queue of the same name. Timer-triggered Azure functions are listed with their schedule (the local
host runs them on a short local interval), and a Lambda draining dead-letter queues consumes each
DLQ :mod:`agentcage.topology` declares. :func:`check_wiring` refuses a system whose outputs, or
dead letters, nobody consumes, as the cloud would silently strand those messages.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentcage.errors import ConfigurationError
from agentcage.local.broker import QueueKey
from agentcage.topology import QUEUES

__all__ = [
    "AzureFunction",
    "HttpRoute",
    "LambdaFunction",
    "SystemWiring",
    "check_wiring",
    "discover",
    "add_import_root",
    "find_project_root",
    "indexed_functions",
]

_DEFAULT_ROUTE_PREFIX = "api"
_QUEUE_TRIGGERS = ("sqs", "dead_letters")  # Lambda triggers that consume SQS queues
_INDEXED_ATTRIBUTE = "_agentcage_indexed_functions"


def indexed_functions(app: Any) -> tuple[Any, ...]:
    """``app.get_functions()``, indexed once per app object and remembered on it.

    azure-functions records every function name on the app while indexing and refuses a second
    ``get_functions()`` on the same app (duplicate names), as the Functions host indexes once per
    process. Everything here that reads an app's functions (the local host, the tests) goes through
    this, so the order in which they run does not matter.
    """
    cached: tuple[Any, ...] | None = getattr(app, _INDEXED_ATTRIBUTE, None)
    if cached is None:
        cached = tuple(app.get_functions())
        setattr(app, _INDEXED_ATTRIBUTE, cached)
    return cached


_ROUTE_PARAMETER = re.compile(r"\{(\*?)(\w+)(?::[^}]*)?\??\}")


@dataclass(frozen=True, slots=True)
class HttpRoute:
    """An HTTP trigger's route as a compiled pattern (Functions route template syntax)."""

    template: str
    methods: tuple[str, ...]
    pattern: re.Pattern[str]

    @classmethod
    def of(cls, prefix: str, route: str, methods: tuple[str, ...]) -> HttpRoute:
        """Compile ``route`` under ``prefix`` (``{name}``, ``{name:constraint}``, ``{*rest}``)."""
        full = "/".join(part.strip("/") for part in (prefix, route) if part.strip("/"))
        regex, position = "", 0
        for match in _ROUTE_PARAMETER.finditer(full):
            regex += re.escape(full[position : match.start()])
            catch_all, name = match.group(1), match.group(2)
            regex += f"(?P<{name}>.+)" if catch_all else f"(?P<{name}>[^/]+)"
            position = match.end()
        regex += re.escape(full[position:])
        return cls(template=f"/{full}", methods=methods, pattern=re.compile(f"^/{regex}/?$", re.IGNORECASE))

    def match(self, path: str) -> dict[str, str] | None:
        """The route parameters when ``path`` matches, else None."""
        found = self.pattern.match(path)
        return found.groupdict() if found else None


@dataclass(frozen=True, slots=True)
class AzureFunction:
    """One function of the Function App with its trigger and output bindings."""

    name: str
    user_function: Callable[..., Any]
    trigger_type: str
    trigger_arg: str
    queue: str | None = None
    route: HttpRoute | None = None
    outputs: dict[str, str] = field(default_factory=dict)  # argument name -> Service Bus queue
    parameters: tuple[str, ...] = ()
    schedule: str | None = None  # a timer trigger's NCRONTAB expression


@dataclass(frozen=True, slots=True)
class LambdaFunction:
    """One Lambda of the manifest with its imported handler."""

    name: str
    handler: Callable[[dict[str, Any], Any], Any]
    module: str
    trigger: str
    queue: str | None
    batch_size: int
    timeout_seconds: int
    operations: tuple[str, ...]
    queues: tuple[str, ...] = ()  # every SQS queue consumed (its queue, or the DLQs it drains)

    @property
    def consumed(self) -> tuple[str, ...]:
        """The AWS queues this Lambda consumes."""
        return self.queues or ((self.queue,) if self.queue is not None else ())


@dataclass(frozen=True, slots=True)
class SystemWiring:
    """Every function of both clouds and which queue each consumes."""

    azure: tuple[AzureFunction, ...]
    lambdas: tuple[LambdaFunction, ...]

    @property
    def http_functions(self) -> tuple[AzureFunction, ...]:
        """The HTTP-triggered Azure functions."""
        return tuple(f for f in self.azure if f.route is not None)

    @property
    def timer_functions(self) -> tuple[AzureFunction, ...]:
        """The timer-triggered Azure functions."""
        return tuple(f for f in self.azure if f.schedule is not None)

    def consumers(self) -> dict[QueueKey, AzureFunction | LambdaFunction]:
        """Each consumed queue and the one function consuming it."""
        found: dict[QueueKey, AzureFunction | LambdaFunction] = {}
        for function in self.azure:
            if function.queue is not None:
                found[QueueKey("azure", function.queue)] = function
        for spec in self.lambdas:
            if spec.trigger in _QUEUE_TRIGGERS:
                for queue in spec.consumed:
                    found[QueueKey("aws", queue)] = spec
        return found


def find_project_root(start: Path | None = None) -> Path:
    """The checkout holding ``functions/`` and ``shared/``: upward from ``start`` (the cwd), then the
    folder this library was installed from (an editable install)."""
    candidates = [start or Path.cwd(), *(start or Path.cwd()).parents, Path(__file__).resolve().parents[3]]
    for candidate in candidates:
        if (candidate / "functions" / "aws" / "manifest.py").is_file() and (candidate / "shared").is_dir():
            return candidate
    raise ConfigurationError(
        "cannot find the project (a folder with functions/ and shared/); run from the checkout"
    )


def add_import_root(folder: Path) -> None:
    """Make ``folder``'s packages importable (the project's ``functions``, the app's script root)."""
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


def _import(root: Path, dotted: str) -> Any:
    add_import_root(root)
    return importlib.import_module(dotted)


def _route_prefix(app_dir: Path) -> str:
    host_json = app_dir / "host.json"
    if not host_json.is_file():
        return _DEFAULT_ROUTE_PREFIX
    try:
        settings = json.loads(host_json.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ConfigurationError(f"{host_json} is not valid JSON: {error}") from error
    prefix = settings.get("extensions", {}).get("http", {}).get("routePrefix", _DEFAULT_ROUTE_PREFIX)
    return str(prefix)


def _binding(raw: Any) -> dict[str, Any]:
    described = raw.get_dict_repr()
    return {key: getattr(value, "value", value) for key, value in described.items()}


def _azure_function(described: Any, prefix: str) -> AzureFunction:
    name = described.get_function_name()
    user_function = described.get_user_function()
    bindings = [_binding(b) for b in described.get_bindings()]
    triggers = [b for b in bindings if str(b["type"]).endswith("Trigger")]
    if len(triggers) != 1:
        raise ConfigurationError(f"function {name} has {len(triggers)} triggers; exactly one is supported")
    trigger = triggers[0]
    outputs: dict[str, str] = {}
    for binding in bindings:
        if binding["direction"] == 1 and binding["type"] == "serviceBus":
            outputs[binding["name"]] = binding.get("queueName") or binding.get("topicName") or ""
        elif binding["direction"] == 1 and binding["type"] != "http":
            raise ConfigurationError(
                f"function {name}: output binding type {binding['type']!r} is not supported"
            )
    route = queue = schedule = None
    if trigger["type"] == "timerTrigger":
        schedule = str(trigger.get("schedule") or "")
        if not schedule:
            raise ConfigurationError(f"function {name} has a timer trigger without a schedule")
    elif trigger["type"] == "httpTrigger":
        methods = tuple(str(m).upper() for m in trigger.get("methods") or ("GET", "POST"))
        route = HttpRoute.of(prefix, trigger.get("route") or name, methods)
    elif trigger["type"] == "serviceBusTrigger":
        queue = trigger.get("queueName")
        if not queue:
            raise ConfigurationError(f"function {name} triggers on a topic; only queues are supported")
    else:
        raise ConfigurationError(
            f"function {name}: trigger type {trigger['type']!r} is not supported locally"
        )
    return AzureFunction(
        name=name,
        user_function=user_function,
        trigger_type=trigger["type"],
        trigger_arg=trigger["name"],
        queue=queue,
        route=route,
        outputs=outputs,
        parameters=tuple(inspect.signature(user_function).parameters),
        schedule=schedule,
    )


def discover(
    project_root: Path, *, app_dir: str = "functions/azure", app_module: str = "function_app"
) -> SystemWiring:
    """Import the Function App and the Lambda manifest and describe every function.

    The Function App is imported as the Functions host loads it: ``app_dir`` is its script root (on
    ``sys.path``, so its ``blueprints`` package resolves) and ``app_module`` the module defining ``app``.
    """
    script_root = project_root / app_dir
    if not (script_root / f"{app_module}.py").is_file():
        raise ConfigurationError(f"no Function App at {script_root / app_module}.py")
    module = _import(script_root, app_module)
    app = getattr(module, "app", None)
    if app is None or not hasattr(app, "get_functions"):
        raise ConfigurationError(f"{app_module} defines no Function App named 'app'")
    prefix = _route_prefix(script_root)
    azure = tuple(_azure_function(function, prefix) for function in indexed_functions(app))
    manifest = _import(project_root, "functions.aws.manifest")
    lambdas = []
    for spec in manifest.LAMBDAS:
        module_name, _, attribute = spec.handler.rpartition(".")
        lambdas.append(
            LambdaFunction(
                name=spec.name,
                handler=getattr(_import(project_root, module_name), attribute),
                module=module_name,
                trigger=spec.trigger,
                queue=spec.queue,
                batch_size=spec.batch_size,
                timeout_seconds=spec.timeout_seconds,
                operations=tuple(spec.operations),
                queues=tuple(spec.queues),
            )
        )
    wiring = SystemWiring(azure=azure, lambdas=tuple(lambdas))
    check_wiring(wiring)
    return wiring


def _function_problems(function: AzureFunction, consumed: Mapping[QueueKey, object]) -> list[str]:
    problems = [
        f"function {function.name} sends to Service Bus queue {queue!r} (output {argument!r}) "
        "but no function consumes it"
        for argument, queue in function.outputs.items()
        if QueueKey("azure", queue) not in consumed
    ]
    if function.trigger_arg not in function.parameters:
        problems.append(f"function {function.name} has no parameter for its trigger {function.trigger_arg!r}")
    problems.extend(
        f"function {function.name} has no parameter for its output {argument!r}"
        for argument in function.outputs
        if argument != "$return" and argument not in function.parameters
    )
    return problems


def check_wiring(wiring: SystemWiring) -> None:
    """Refuse a system where messages would be stranded or two functions compete for one queue."""
    problems: list[str] = []
    seen: dict[QueueKey, str] = {}
    for function in wiring.azure:
        if function.queue is not None:
            key = QueueKey("azure", function.queue)
            if key in seen:
                problems.append(
                    f"Service Bus queue {function.queue!r} has two consumers: {seen[key]}, {function.name}"
                )
            seen[key] = function.name
    consumed = wiring.consumers()
    for function in wiring.azure:
        problems.extend(_function_problems(function, consumed))
    problems.extend(
        f"Lambda {spec.name} is SQS-triggered but names no queue"
        for spec in wiring.lambdas
        if spec.trigger in _QUEUE_TRIGGERS and not spec.consumed
    )
    dead_letter_queues = {spec.name: spec for spec in QUEUES if spec.dead_letter_of is not None}
    # The bridges pair the clouds' queues by name: Azure's tool-requests consumer sends to AWS's, and the
    # Lambda consuming AWS's tool-results sends to Azure's; each pair needs both consumers.
    problems.extend(
        f"the AWS queue {key.name!r} has no Service Bus counterpart consumed in Azure (the bridges pair them)"
        for key in consumed
        if key.cloud == "aws"
        and key.name not in dead_letter_queues
        and QueueKey("azure", key.name) not in consumed
    )
    # A consumed AWS queue's dead letters must reach someone, or their tasks would wait for ever.
    problems.extend(
        f"the AWS queue {spec.dead_letter_of!r} dead-letters into {spec.name!r}, which nothing consumes"
        for spec in dead_letter_queues.values()
        if spec.cloud == "aws"
        and QueueKey("aws", str(spec.dead_letter_of)) in consumed
        and QueueKey("aws", spec.name) not in consumed
    )
    if not wiring.http_functions:
        problems.append("the Function App has no HTTP function")
    if problems:
        raise ConfigurationError(
            "the local wiring is inconsistent: " + "; ".join(problems), details={"problems": problems}
        )
