"""``make cloud-smoke``: deploy (or use) a stack, publish the Function App, play the flow, find its trace.

Each stage is a reported step; the run stops at the first that fails. The tools it drives (``pulumi``,
``az``), the AWS clients, the Azure credential and the flow are injected, so the orchestration is tested
with fakes; only a person with real accounts runs it for real (``infra/DEPLOY.md``, "Prove a deployment").
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from infra.smoke.commands import CommandRunner
from infra.smoke.flow import FlowResult, ReturnExceptionFlow
from infra.smoke.insights import CloudWatchInsights
from infra.smoke.kql import WorkspaceSearch
from infra.smoke.report import SmokeReport, StepFailedError
from infra.smoke.saved_queries import (
    fill_placeholders,
    insights_query_name,
    insights_query_text,
    same_query,
    saved_search_resource_name,
    saved_search_text,
    trace_values,
)
from infra.smoke.tokens import TokenSource, azure_cli_token_source

__all__ = ["REQUIRED_OUTPUTS", "SmokeSettings", "CloudSmoke"]

REQUIRED_OUTPUTS = (
    "coordinator_url",
    "coordinator_scope",
    "coordinator_app",
    "resource_group",
    "name_prefix",
    "aws_region",
    "domain_table",
    "log_analytics_workspace_id",
    "log_analytics_workspace_resource_id",
)
# Logs reach CloudWatch in seconds and a workspace in minutes; the query window starts a little before
# the task so clock skew between this machine and the services cannot hide its first lines.
_WINDOW_MARGIN_S = 300


@dataclass(frozen=True)
class SmokeSettings:
    """What a run does: which stack, whether to deploy, which package, how long to wait."""

    stack: str
    package: Path
    skip_deploy: bool = False
    seed: bool = True
    flow_timeout_s: float = 600.0
    ready_timeout_s: float = 300.0
    ingestion_timeout_s: float = 900.0
    retry_interval_s: float = 30.0


@dataclass
class CloudSmoke:
    """The steps of one run; every collaborator that reaches a cloud is injected."""

    settings: SmokeSettings
    run_command: CommandRunner
    aws_client: Callable[[str, str], Any]  # (service, region) -> boto3 client
    workspace: WorkspaceSearch
    seed: Callable[[Any, str], int]  # (dynamodb client, table) -> items written
    flow_factory: Callable[[str, TokenSource], ReturnExceptionFlow] = field(
        default=lambda url, token: ReturnExceptionFlow(url, token=token)
    )
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time

    def run(self, report: SmokeReport) -> dict[str, Any]:
        """Run every step into ``report``; returns what the final JSON line adds (stack, ids)."""
        found: dict[str, Any] = {"stack": self.settings.stack}
        outputs: dict[str, Any] = {}
        if not self.settings.skip_deploy:
            with report.step("pulumi up") as step:
                self.run_command(["pulumi", "up", "--yes", "--skip-preview", "--stack", self.settings.stack])
                step.detail = f"stack {self.settings.stack} deployed"
        stages: list[tuple[str, Callable[[], str]]] = [
            ("read the stack outputs", lambda: self._outputs(outputs)),
            ("publish the Function App", lambda: self._publish(outputs)),
        ]
        if self.settings.seed:
            stages.append(("load the demo customers and orders", lambda: self._seed(outputs)))
        tokens: list[TokenSource] = []

        def token() -> str | None:  # the scope is a stack output: known only after the step that reads them
            if not tokens:
                tokens.append(azure_cli_token_source(str(outputs["coordinator_scope"]), self.run_command))
            return tokens[0]()

        stages.append(("the coordinator answers with an Entra token", lambda: self._ready(outputs, token)))
        if not self._steps(report, stages):
            return found
        started_at = self.wall_clock()
        flow = self.flow_factory(str(outputs["coordinator_url"]), token)
        result = flow.run(report)
        found.update(task_id=result.task_id, trace_id=result.trace_id)
        if not result.ok or not result.trace_id:
            return found
        # Each query is checked even when the other fails: both answers help whoever reads the report.
        self._steps(report, self._query_stages(outputs, result, started_at), stop_at_failure=False)
        return found

    def _steps(
        self,
        report: SmokeReport,
        stages: list[tuple[str, Callable[[], str]]],
        *,
        stop_at_failure: bool = True,
    ) -> bool:
        """Run stages in order (stopping at a failure, or not); whether all passed."""
        if report.steps and not report.steps[-1].ok:
            return False
        passed = True
        for name, stage in stages:
            with report.step(name) as step:
                step.detail = stage()
            passed = passed and report.steps[-1].ok
            if not passed and stop_at_failure:
                break
        return passed

    # --- the stack ----------------------------------------------------------------------------------
    def _outputs(self, outputs: dict[str, Any]) -> str:
        read = json.loads(
            self.run_command(["pulumi", "stack", "output", "--json", "--stack", self.settings.stack])
        )
        missing = [key for key in REQUIRED_OUTPUTS if not read.get(key)]
        if missing:
            raise StepFailedError(
                f"the stack has no {missing}: run pulumi up with this version of the program"
            )
        outputs.update(read)
        return f"{read['coordinator_url']} ({read['name_prefix']}, {read['aws_region']})"

    def _publish(self, outputs: Mapping[str, Any]) -> str:
        package = self.settings.package
        if not package.is_file():
            raise StepFailedError(f"{package} does not exist: run make package first")
        self.run_command(
            [
                "az", "functionapp", "deployment", "source", "config-zip",
                "--resource-group", str(outputs["resource_group"]),
                "--name", str(outputs["coordinator_app"]),
                "--src", str(package),
            ]
        )  # fmt: skip
        digest = hashlib.sha256(package.read_bytes()).hexdigest()
        deployed = outputs.get("function_app_package_sha256")
        same = "the same as" if digest == deployed else f"not the {deployed} of"
        return (
            f"{package.name} (sha256 {digest[:12]}, {same} the stack's build) to {outputs['coordinator_app']}"
        )

    def _seed(self, outputs: Mapping[str, Any]) -> str:
        table = str(outputs["domain_table"])
        written = self.seed(self.aws_client("dynamodb", str(outputs["aws_region"])), table)
        return f"{written} items into {table}"

    def _ready(self, outputs: Mapping[str, Any], token: TokenSource) -> str:
        """Until the new package serves: a structured 404 for an unknown task, through authentication."""
        probe = self.flow_factory(str(outputs["coordinator_url"]), token)
        deadline = self.clock() + self.settings.ready_timeout_s
        while True:
            status, code = probe.probe("/api/tasks/task-smoke-readiness-probe")
            if status == 404 and code:
                return f"GET an unknown task answered 404 {code}"
            if status in {401, 403}:
                raise StepFailedError(f"the coordinator refused the token ({status} {code}): see DEPLOY.md")
            if self.clock() >= deadline:
                raise StepFailedError(
                    f"not ready after {self.settings.ready_timeout_s:.0f} s: {status} {code}"
                )
            self.sleep(self.settings.retry_interval_s)

    # --- the saved queries ------------------------------------------------------------------------
    def _query_stages(
        self, outputs: Mapping[str, Any], result: FlowResult, started_at: float
    ) -> list[tuple[str, Callable[[], str]]]:
        values = trace_values(str(result.trace_id))
        logs = self.aws_client("logs", str(outputs["aws_region"]))
        insights = CloudWatchInsights(logs, sleep=self.sleep, clock=self.clock)
        deployed: dict[str, Any] = {}

        def insights_saved() -> str:
            definition = insights.saved_definition(insights_query_name(str(outputs["name_prefix"])))
            deployed["insights"] = definition
            _same_or_fail(definition.query, insights_query_text(), definition.name)
            return f"{definition.name} over {len(definition.log_groups)} log groups"

        def insights_found() -> str:
            definition = deployed.get("insights")
            if definition is None:
                raise StepFailedError("the saved query could not be read")
            query = fill_placeholders(definition.query, values)

            def attempt() -> int:
                start = int(started_at) - _WINDOW_MARGIN_S
                rows = insights.run(
                    query, definition.log_groups, start_s=start, end_s=int(self.wall_clock()) + 60
                )
                return len(rows)

            return self._until_found(attempt, "Logs Insights")

        def kql_saved() -> str:
            name = saved_search_resource_name()
            deployed["kql"] = self.workspace.saved_search(
                str(outputs["log_analytics_workspace_resource_id"]), name
            )
            _same_or_fail(deployed["kql"], saved_search_text(), name)
            return name

        def kql_found() -> str:
            if "kql" not in deployed:
                raise StepFailedError("the saved search could not be read")
            query = fill_placeholders(deployed["kql"], values)

            def attempt() -> int:
                window = timedelta(seconds=self.wall_clock() - started_at + _WINDOW_MARGIN_S)
                return len(
                    self.workspace.run(str(outputs["log_analytics_workspace_id"]), query, timespan=window)
                )

            return self._until_found(attempt, "the workspace")

        return [
            ("the saved Logs Insights query is the program's", insights_saved),
            ("the saved Logs Insights query finds the trace", insights_found),
            ("the saved KQL search is the program's", kql_saved),
            ("the saved KQL search finds the trace", kql_found),
        ]

    def _until_found(self, attempt: Callable[[], int], where: str) -> str:
        """Run ``attempt`` until it counts a row or the ingestion timeout passes (logs arrive late)."""
        deadline = self.clock() + self.settings.ingestion_timeout_s
        tries = 0
        while True:
            tries += 1
            rows = attempt()
            if rows:
                return f"{rows} rows in {where} after {tries} tries"
            if self.clock() >= deadline:
                raise StepFailedError(
                    f"no row in {where} after {tries} tries over {self.settings.ingestion_timeout_s:.0f} s"
                )
            self.sleep(self.settings.retry_interval_s)


def _same_or_fail(deployed: str, program: str, name: str) -> None:
    if not same_query(deployed, program):
        raise StepFailedError(
            f"{name} as deployed differs from the program's (run pulumi up): deployed {deployed!r}"
        )
