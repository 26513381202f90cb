"""The task commands against a running host: --url and --state-dir agree; decisions find the host.

Also: ``agentcage dev`` with a DynamoDB endpoint and no credentials ends in one line and an exit
code, not a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentcage.cli import main
from agentcage.cli.app import EXIT_FAILED, EXIT_INVALID_INPUT, EXIT_UNREACHABLE
from agentcage.local import LocalHost
from agentcage.local.client import AgentcageClient
from agentcage.local.demo import RETURN_REQUEST
from tests.integration.local.conftest import PROJECT_ROOT

# An upper bound for a loaded 2-core machine, not a measurement.
SETTLED_WITHIN_S = 120.0


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main(list(argv))
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


@pytest.fixture(scope="module")
def pending(host: LocalHost) -> dict[str, Any]:
    """A refund task waiting for its approval."""
    client = AgentcageClient(host.url)
    task_id = client.start_task(RETURN_REQUEST, context={"scenario": "return_exception"})["task_id"]
    task = client.wait_settled(task_id, timeout_s=SETTLED_WITHIN_S)
    assert task["state"] == "awaiting_approval", task
    return task


def test_listing_and_tracing_print_the_same_json_by_url_and_by_state_dir(
    host: LocalHost, pending: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(host.config.state_dir)
    by_url = _run(capsys, "tasks", "list", "--url", host.url, "--json")
    by_state = _run(capsys, "tasks", "list", "--state-dir", state, "--json")
    assert by_url[0] == by_state[0] == 0
    assert by_url[1] == by_state[1]
    assert pending["task_id"] in [task["task_id"] for task in by_url[1]]
    trace_url = _run(capsys, "trace", pending["task_id"], "--url", host.url, "--json")
    trace_state = _run(capsys, "trace", pending["task_id"], "--state-dir", state, "--json")
    assert trace_url == trace_state
    assert trace_url[1]["state"] == "awaiting_approval"


def test_show_gives_the_api_view_by_url_and_the_ledger_record_by_state_dir(
    host: LocalHost, pending: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, view = _run(capsys, "tasks", "show", pending["task_id"], "--url", host.url, "--json")
    assert code == 0
    assert view["pending_approvals"][0]["approval_id"] == pending["pending_approvals"][0]["approval_id"]
    code, record = _run(
        capsys, "tasks", "show", pending["task_id"], "--state-dir", str(host.config.state_dir), "--json"
    )
    assert code == 0
    assert record["state"] == "awaiting_approval"
    assert [a["approval_id"] for a in record["pending_approvals"]] == [
        pending["pending_approvals"][0]["approval_id"]
    ]


def test_approving_by_state_dir_reaches_the_host_running_on_it(
    host: LocalHost, pending: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    approval_id = pending["pending_approvals"][0]["approval_id"]
    # WHEN the approval is decided naming only the state directory
    code, answer = _run(capsys, "approve", approval_id, "--state-dir", str(host.config.state_dir), "--json")
    # THEN the running host decided it and the task completes
    assert code == 0
    assert answer["approval"]["status"] == "approved"
    done = AgentcageClient(host.url).wait_settled(pending["task_id"], timeout_s=SETTLED_WITHIN_S)
    assert done["state"] == "completed", done
    # AND deciding it again is the API's refusal, reported as one JSON error and exit code 1
    code, refused = _run(capsys, "deny", approval_id, "--url", host.url, "--json")
    assert code == EXIT_FAILED
    assert refused["error"]["code"] in {"conflict", "approval_already_decided"}, refused


def test_deciding_through_a_stale_host_record_says_the_host_is_gone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]  # nothing listens there once it is closed
    (tmp_path / "host.json").write_text(json.dumps({"url": f"http://127.0.0.1:{port}", "pid": 1}))
    assert main(["approve", "a-1", "--state-dir", str(tmp_path)]) == EXIT_UNREACHABLE
    assert "does not answer at" in capsys.readouterr().err


def test_dev_with_a_dynamodb_endpoint_and_no_credentials_is_one_line_and_exit_2(tmp_path: Path) -> None:
    # GIVEN an environment without any AWS credentials (and no metadata service to ask)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "AGENTCAGE_")) and k not in ("POWERTOOLS_LOG_LEVEL",)
    }
    env.update(
        {
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
        }
    )
    # WHEN `agentcage dev` is pointed at a DynamoDB endpoint
    command = [sys.executable, "-c", "import sys; from agentcage.cli import main; sys.exit(main())"]
    done = subprocess.run(
        [
            *command,
            "dev",
            "--port",
            "0",
            "--json",
            "--state-dir",
            str(tmp_path / "state"),
            "--dynamodb-endpoint",
            "http://127.0.0.1:9",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SETTLED_WITHIN_S,
        check=False,
    )
    # THEN it exits 2 with one line saying what to set, and the error as JSON on stdout
    assert done.returncode == EXIT_INVALID_INPUT, done.stderr
    assert "Traceback" not in done.stderr
    assert (
        "agentcage: error: configuration_error: cannot use the DynamoDB endpoint http://127.0.0.1:9"
        in done.stderr
    )
    assert "AWS_ACCESS_KEY_ID" in done.stderr
    error = json.loads(done.stdout.strip().splitlines()[-1])["error"]
    assert error["code"] == "configuration_error"
    assert error["details"]["cause"] == "NoCredentialsError"
