"""``make cloud-smoke``'s orchestration with the clouds faked: CLI calls, order, stops, the report.

The coordinator is the real local runtime (so the flow is played for real); ``pulumi``, ``az``, the AWS
clients and the workspace are fakes that record what they were asked and answer like the services.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from agentcage.errors import TransportError
from agentcage.local import LocalConfig, LocalHost, running_host
from agentcage.local.config import DOMAIN_TABLE
from functions.aws.services.seed import load_seed_data
from infra.smoke import __main__ as smoke_main
from infra.smoke.cloud import REQUIRED_OUTPUTS, CloudSmoke, SmokeSettings
from infra.smoke.flow import ReturnExceptionFlow
from infra.smoke.report import SmokeReport
from infra.smoke.saved_queries import insights_query_text, saved_search_text

FLOW_STEPS = 5


class FakeClock:
    """Monotonic seconds that move only when the smoke sleeps: retries are counted, never timed."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeCli:
    """``pulumi`` and ``az``: records each command and answers it from a table."""

    def __init__(self, outputs: dict[str, Any], fail: str | None = None) -> None:
        self.outputs = outputs
        self.fail = fail
        self.commands: list[list[str]] = []

    def __call__(self, args: Sequence[str]) -> str:
        self.commands.append(list(args))
        joined = " ".join(args)
        if self.fail and joined.startswith(self.fail):
            raise TransportError(f"{self.fail} exited with 1: boom")
        if joined.startswith("pulumi stack output"):
            return json.dumps(self.outputs)
        if joined.startswith("az account get-access-token"):
            return json.dumps({"accessToken": "entra-token", "expires_on": 4_102_444_800})
        return ""


class FakeLogs:
    """The CloudWatch Logs calls the smoke makes; the saved definition holds ``query``."""

    def __init__(self, query: str, rows_after: int = 1) -> None:
        self.query = query
        self.rows_after = rows_after
        self.started: list[dict[str, Any]] = []

    def describe_query_definitions(self, **kwargs: Any) -> dict[str, Any]:
        name = kwargs["queryDefinitionNamePrefix"]
        return {
            "queryDefinitions": [
                {"name": name, "queryString": self.query, "logGroupNames": ["/aws/lambda/x"]}
            ]
        }

    def start_query(self, **kwargs: Any) -> dict[str, str]:
        self.started.append(kwargs)
        return {"queryId": f"q{len(self.started)}"}

    def get_query_results(self, queryId: str) -> dict[str, Any]:  # noqa: N803 - boto3's name
        rows = [[{"field": "trace_id", "value": "t"}]] if len(self.started) >= self.rows_after else []
        return {"status": "Complete", "results": rows}


class FakeWorkspace:
    def __init__(self, query: str) -> None:
        self.query = query
        self.ran: list[str] = []

    def saved_search(self, resource_id: str, name: str) -> str:
        return self.query

    def run(self, workspace_id: str, query: str, *, timespan: Any) -> list[dict[str, Any]]:
        self.ran.append(query)
        return [{"OperationId": "t"}]


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    with running_host(
        LocalConfig(state_dir=tmp_path_factory.mktemp("state"), port=0, retry_delay_s=0.05)
    ) as h:
        yield h


@pytest.fixture(autouse=True)
def fresh_seed(host: LocalHost) -> None:
    # Each run refunds O-50001: start every test from the seed, as the smoke's own seed step does.
    load_seed_data(host.aws.client(), DOMAIN_TABLE, overwrite=True)


@pytest.fixture
def package(tmp_path: Path) -> Path:
    zipped = tmp_path / "function-app.zip"
    zipped.write_bytes(b"PK stand-in")
    return zipped


def _outputs(host: LocalHost) -> dict[str, Any]:
    outputs: dict[str, Any] = {key: f"stand-in-{key}" for key in REQUIRED_OUTPUTS}
    outputs.update(coordinator_url=host.url, coordinator_scope="api://agentcage-dev-coordinator/tasks")
    outputs.update(name_prefix="agentcage-dev", aws_region="eu-west-1")
    return outputs


def _smoke(
    host: LocalHost, cli: FakeCli, package: Path, **overrides: Any
) -> tuple[CloudSmoke, dict[str, Any]]:
    seen: dict[str, Any] = {"tokens": [], "seeded": []}
    logs = overrides.pop("logs", FakeLogs(insights_query_text()))
    workspace = overrides.pop("workspace", FakeWorkspace(saved_search_text()))

    def flow(url: str, token: Any) -> ReturnExceptionFlow:
        def recording_token() -> str | None:
            value = token()
            seen["tokens"].append(value)
            return value

        return ReturnExceptionFlow(url, token=recording_token, timeout_s=30, interval_s=0.05)

    options = {"retry_interval_s": 1.0, "ingestion_timeout_s": 5.0, **overrides}
    settings = SmokeSettings(stack="dev", package=package, **options)
    clock = FakeClock()
    smoke = CloudSmoke(
        settings=settings,
        run_command=cli,
        aws_client=lambda service, region: {"logs": logs, "dynamodb": f"dynamodb@{region}"}[service],
        workspace=workspace,  # type: ignore[arg-type]
        seed=lambda client, table: seen["seeded"].append((client, table)) or 7,  # type: ignore[func-returns-value]
        flow_factory=flow,
        sleep=clock.advance,
        clock=clock,
    )
    seen["logs"], seen["workspace"] = logs, workspace
    return smoke, seen


def test_a_full_run_deploys_publishes_plays_the_flow_and_finds_the_trace(
    host: LocalHost, package: Path
) -> None:
    # GIVEN a stack whose outputs point at the local coordinator
    cli = FakeCli(_outputs(host))
    smoke, seen = _smoke(host, cli, package)
    report = SmokeReport()
    # WHEN the smoke runs
    found = smoke.run(report)
    # THEN every step passed, in order, and the final line names the task and its trace
    names = [step.name for step in report.steps]
    assert report.ok, [step.line() for step in report.steps if not step.ok]
    assert names[:5] == [
        "pulumi up",
        "read the stack outputs",
        "publish the Function App",
        "load the demo customers and orders",
        "the coordinator answers with an Entra token",
    ]
    assert names[-4:] == [
        "the saved Logs Insights query is the program's",
        "the saved Logs Insights query finds the trace",
        "the saved KQL search is the program's",
        "the saved KQL search finds the trace",
    ]
    assert len(names) == 5 + FLOW_STEPS + 4
    line = json.loads(report.json_line(**found))
    assert line["ok"] is True
    assert line["stack"] == "dev"
    assert len(line["trace_id"]) == 32
    # AND the CLI was asked exactly this, in this order
    assert cli.commands[0] == ["pulumi", "up", "--yes", "--skip-preview", "--stack", "dev"]
    assert cli.commands[1] == ["pulumi", "stack", "output", "--json", "--stack", "dev"]
    assert cli.commands[2][:5] == ["az", "functionapp", "deployment", "source", "config-zip"]
    assert cli.commands[2][5:] == [
        "--resource-group", "stand-in-resource_group",
        "--name", "stand-in-coordinator_app",
        "--src", str(package),
    ]  # fmt: skip
    assert cli.commands[3][:4] == ["az", "account", "get-access-token", "--scope"]
    assert cli.commands[3][4] == "api://agentcage-dev-coordinator/tasks"
    # AND every request carried the Entra token; the seed went to the stack's table in its region
    assert seen["tokens"]
    assert set(seen["tokens"]) == {"entra-token"}
    assert seen["seeded"] == [("dynamodb@eu-west-1", "stand-in-domain_table")]
    # AND the queries ran with the run's trace id in place of the placeholder
    assert line["trace_id"] in seen["logs"].started[0]["queryString"]
    assert seen["logs"].started[0]["logGroupNames"] == ["/aws/lambda/x"]
    assert line["trace_id"] in seen["workspace"].ran[0]
    assert "TRACE_ID_32_HEX" not in seen["workspace"].ran[0]


def test_skip_deploy_uses_the_stack_as_it_is(host: LocalHost, package: Path) -> None:
    cli = FakeCli(_outputs(host))
    smoke, _ = _smoke(host, cli, package, skip_deploy=True, seed=False)
    report = SmokeReport()
    smoke.run(report)
    assert report.ok
    assert not any(command[:2] == ["pulumi", "up"] for command in cli.commands)
    assert "load the demo customers and orders" not in [step.name for step in report.steps]


def test_a_failed_deploy_stops_the_run_and_fails_it(host: LocalHost, package: Path) -> None:
    cli = FakeCli(_outputs(host), fail="pulumi up")
    smoke, _ = _smoke(host, cli, package)
    report = SmokeReport()
    smoke.run(report)
    assert not report.ok
    assert [(step.name, step.ok) for step in report.steps] == [("pulumi up", False)]
    assert "boom" in report.steps[0].detail
    assert len(cli.commands) == 1


def test_missing_outputs_and_a_missing_package_are_named(host: LocalHost, tmp_path: Path) -> None:
    outputs = _outputs(host)
    del outputs["log_analytics_workspace_id"]
    report = SmokeReport()
    _smoke(host, FakeCli(outputs), tmp_path / "absent.zip", skip_deploy=True)[0].run(report)
    assert [step.ok for step in report.steps] == [False]
    assert "log_analytics_workspace_id" in report.steps[0].detail

    report = SmokeReport()
    _smoke(host, FakeCli(_outputs(host)), tmp_path / "absent.zip", skip_deploy=True)[0].run(report)
    assert [step.ok for step in report.steps] == [True, False]
    assert "make package" in report.steps[1].detail


def test_late_logs_are_retried_and_a_drifted_saved_query_fails_its_step(
    host: LocalHost, package: Path
) -> None:
    # GIVEN CloudWatch that has the lines only from the third attempt, and a saved search not the program's
    logs = FakeLogs(insights_query_text(), rows_after=3)
    workspace = FakeWorkspace(saved_search_text().replace("OperationId", "operation_Id"))
    smoke, _ = _smoke(
        host, FakeCli(_outputs(host)), package, skip_deploy=True, logs=logs, workspace=workspace
    )
    report = SmokeReport()
    smoke.run(report)
    by_name = {step.name: step for step in report.steps}
    # THEN Logs Insights found it after retrying, the drift is named, the run fails
    assert by_name["the saved Logs Insights query finds the trace"].ok
    assert "after 3 tries" in by_name["the saved Logs Insights query finds the trace"].detail
    assert not by_name["the saved KQL search is the program's"].ok
    assert "differs" in by_name["the saved KQL search is the program's"].detail
    assert not report.ok


def test_no_logs_within_the_ingestion_timeout_fails_after_bounded_tries(
    host: LocalHost, package: Path
) -> None:
    logs = FakeLogs(insights_query_text(), rows_after=10**6)
    smoke, _ = _smoke(
        host, FakeCli(_outputs(host)), package, skip_deploy=True, logs=logs, ingestion_timeout_s=0
    )
    report = SmokeReport()
    smoke.run(report)
    step = next(s for s in report.steps if s.name == "the saved Logs Insights query finds the trace")
    assert not step.ok
    assert "no row" in step.detail
    assert len(logs.started) == 1


def test_the_command_line_prints_each_step_and_a_final_json_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # GIVEN the real entry point with pulumi failing (no cloud is reachable from here)
    def failing(args: Sequence[str]) -> str:
        raise TransportError("pulumi is not on PATH")

    monkeypatch.setattr(smoke_main, "run_command", failing)
    # WHEN it runs
    code = smoke_main.main(["--stack", "dev", "--package", str(tmp_path / "x.zip")])
    # THEN it exits non-zero, printing the failed step and the JSON line last
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 1
    assert lines[0].startswith("[FAIL] pulumi up")
    final = json.loads(lines[-1])
    assert final["ok"] is False
    assert final["stack"] == "dev"
    assert final["steps"][0]["detail"] == "TransportError: pulumi is not on PATH"
