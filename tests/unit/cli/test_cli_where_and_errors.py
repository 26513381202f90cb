"""The CLI's one rule for where a command goes (--url, else --state-dir) and how it reports errors."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from agentcage.cli import main
from agentcage.cli.app import (
    EXIT_INVALID_INPUT,
    EXIT_NOT_FOUND,
    EXIT_UNREACHABLE,
    build_parser,
    exit_code_for,
)
from agentcage.cli.dev import EXAMPLE_REQUEST, curl_example
from agentcage.errors import (
    AgentcageError,
    ConfigurationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    TransportError,
)
from agentcage.local.aws import _endpoint_error
from agentcage.local.client import ApiError, host_url_for

COMMANDS = [
    ["tasks", "list"],
    ["tasks", "show", "t-1"],
    ["trace", "t-1"],
    ["approve", "a-1"],
    ["deny", "a-1"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_task_command_takes_both_url_and_state_dir(command: list[str]) -> None:
    args = build_parser().parse_args([*command, "--url", "http://127.0.0.1:1", "--state-dir", "somewhere"])
    assert args.url == "http://127.0.0.1:1"
    assert args.state_dir == "somewhere"
    defaults = build_parser().parse_args(command)
    assert defaults.url is None
    assert defaults.state_dir == ".agentcage"


@pytest.mark.parametrize(
    "command", [["tasks", "list"], ["tasks", "show", "t-1"], ["trace", "t-1"]], ids=" ".join
)
def test_reading_a_state_dir_without_a_ledger_is_not_found_in_one_line(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN a reading command points at a state directory with no ledger, asking for JSON
    code = main([*command, "--state-dir", str(tmp_path), "--json"])
    # THEN it exits "not found" with one line on stderr and the error body on stdout, no traceback
    captured = capsys.readouterr()
    assert code == EXIT_NOT_FOUND
    assert captured.err.startswith("agentcage: error: not_found: no ledger at ")
    assert "Traceback" not in captured.err
    assert json.loads(captured.out)["error"]["code"] == "not_found"


@pytest.mark.parametrize("decision", ["approve", "deny"])
def test_deciding_without_a_running_host_says_so(
    decision: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([decision, "a-1", "--state-dir", str(tmp_path)])
    assert code == EXIT_UNREACHABLE
    assert "no agentcage dev is running on" in capsys.readouterr().err


def test_the_host_url_is_read_from_the_state_dir(tmp_path: Path) -> None:
    assert host_url_for(tmp_path) is None
    (tmp_path / "host.json").write_text("{not json")
    assert host_url_for(tmp_path) is None
    (tmp_path / "host.json").write_text(json.dumps({"url": "file:///etc/passwd"}))
    assert host_url_for(tmp_path) is None
    (tmp_path / "host.json").write_text(json.dumps({"url": "http://127.0.0.1:7071", "pid": 1}))
    assert host_url_for(tmp_path) == "http://127.0.0.1:7071"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidInputError("bad"), EXIT_INVALID_INPUT),
        (ConfigurationError("bad"), EXIT_INVALID_INPUT),
        (NotFoundError("gone"), EXIT_NOT_FOUND),
        (ApiError(404, "task_not_found", "no task"), EXIT_NOT_FOUND),
        (ApiError(415, "unsupported_media_type", "json"), EXIT_INVALID_INPUT),
        (ApiError(409, "approval_already_decided", "decided"), 1),
        (TransportError("unreachable"), EXIT_UNREACHABLE),
        (ConflictError("no"), 1),
        (AgentcageError("other"), 1),
    ],
)
def test_each_kind_of_error_has_its_exit_code(error: AgentcageError, code: int) -> None:
    assert exit_code_for(error) == code


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (NoCredentialsError(), "AWS_ACCESS_KEY_ID"),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "nothing answers there"),
        (
            ClientError({"Error": {"Code": "UnrecognizedClientException", "Message": "x"}}, "ListTables"),
            "UnrecognizedClientException",
        ),
    ],
)
def test_an_unusable_dynamodb_endpoint_is_a_configuration_error_that_says_what_to_do(
    error: Exception, says: str
) -> None:
    translated = _endpoint_error("http://127.0.0.1:9", error)
    assert isinstance(translated, ConfigurationError)
    assert translated.message.startswith("cannot use the DynamoDB endpoint http://127.0.0.1:9: ")
    assert says in translated.message


def test_the_banners_curl_example_sends_json() -> None:
    argv = shlex.split(curl_example("http://127.0.0.1:7071"))
    assert argv[:4] == ["curl", "-s", "-X", "POST"]
    assert argv[argv.index("-H") + 1] == "Content-Type: application/json"
    assert json.loads(argv[argv.index("-d") + 1]) == {"request": EXAMPLE_REQUEST}
    assert "http://127.0.0.1:7071/api/tasks" in argv
