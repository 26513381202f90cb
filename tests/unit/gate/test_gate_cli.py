"""``agentcage policy test`` and ``agentcage policy explain``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from agentcage.cli import main
from agentcage.gate.cases import DEFAULT_CASES_DIR

REFUND = '{"customer_id":"C-1001","order_id":"O-20001","amount_cents":75000,"currency":"USD","reason":"late"}'


def test_policy_test_runs_every_case(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "test"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    passed = len(list(DEFAULT_CASES_DIR.glob("*/*.json")))
    assert last == f"{passed} passed, 0 failed"


def test_policy_test_fails_on_a_case_in_the_wrong_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "allow").mkdir()
    shutil.copy(DEFAULT_CASES_DIR / "deny" / "janitor-incident-production-candidate.json", tmp_path / "allow")
    assert main(["policy", "test", "--cases", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL allow/janitor-incident-production-candidate.json" in out
    assert out.strip().endswith("0 passed, 1 failed")


def test_an_invalid_case_file_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "deny").mkdir()
    (tmp_path / "deny" / "broken.json").write_text('{"agent": 1}')
    assert main(["policy", "test", "--cases", str(tmp_path)]) == 2
    assert "deny/broken.json" in capsys.readouterr().err


def test_explain_prints_decision_policies_obligations_and_reasons(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "policy",
                "explain",
                "--agent",
                "returns-coordinator",
                "--tool",
                "createRefund",
                "--args",
                REFUND,
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "decision:    needs_approval" in out
    assert "refund-above-threshold-needs-finance-approver" in out
    assert "approval (approver role: finance)" in out
    assert "a refund above the finance threshold needs an approver with the finance role" in out


def test_explain_json_is_one_object_and_exits_zero_on_deny(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "policy",
            "explain",
            "--agent",
            "janitor-agent",
            "--tool",
            "deleteVolume",
            "--args",
            '{"volume_id": "vol-0123456789abcdef0"}',
            "--tags",
            '{"Env": " Production-Candidate "}',
            "--approved",
            "--json",
        ]
    )
    assert code == 0
    body = json.loads(capsys.readouterr().out)
    assert body["decision"] == "deny"
    assert "destructive-forbidden-on-production-like-target" in body["policies"]


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--agent", "ghost", "--tool", "getCustomer", "--args", "{}"], "--agent"),
        (["--agent", "janitor-agent", "--tool", "nope", "--args", "{}"], "--tool"),
        (["--agent", "janitor-agent", "--tool", "getVolume", "--args", "{bad"], "--args"),
        (["--agent", "janitor-agent", "--tool", "getVolume", "--args", "[1]"], "--args"),
        (["--agent", "janitor-agent", "--tool", "deleteVolume", "--args", "{}", "--tags", "[]"], "--tags"),
    ],
)
def test_explain_names_the_invalid_input(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", "explain", *argv]) == 2
    assert named in capsys.readouterr().err


def test_a_missing_required_option_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["policy", "explain", "--agent", "janitor-agent"])
    assert caught.value.code == 2
