"""Role session names: exact for normal task ids, reversible for odd ones, always valid for STS."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcage.envelopes import IDENTIFIER_PATTERN, new_id
from agentcage.errors import ConfigurationError, InvalidInputError
from agentcage.federation import (
    MAX_SESSION_NAME,
    entra_scope,
    queue_arn_from_url,
    role_session_name,
    session_name_from_sender_id,
    session_name_matches,
    session_policy,
    task_id_from_session_name,
)

STS_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$", re.ASCII)


def test_a_generated_task_id_is_used_exactly() -> None:
    task_id = new_id("task")

    assert role_session_name(task_id) == task_id


@settings(max_examples=200, deadline=None)
@given(st.from_regex(IDENTIFIER_PATTERN, fullmatch=True))
def test_every_identifier_is_its_own_session_name(task_id: str) -> None:
    assert role_session_name(task_id) == task_id


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=120))
def test_any_task_id_gives_a_valid_session_name_that_matches_it(task_id: str) -> None:
    name = role_session_name(task_id)

    assert STS_SESSION_NAME.match(name), name
    assert len(name) <= MAX_SESSION_NAME
    assert session_name_matches(name, task_id)
    decoded = task_id_from_session_name(name)
    assert decoded is None or decoded == task_id
    if decoded is None:
        assert name.startswith("=H")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), min_size=1, max_size=20))
def test_short_odd_ascii_task_ids_are_reversible(task_id: str) -> None:
    assert task_id_from_session_name(role_session_name(task_id)) == task_id


def test_examples_of_the_rule() -> None:
    assert role_session_name("a") == "=Qa"
    assert role_session_name("x/y=z") == "=Qx=2Fy=3Dz"
    assert role_session_name("_lead") == "=Q_lead"
    long_name = role_session_name("t" * 100)
    assert long_name.startswith("=H" + "t" * 45 + "@")
    assert len(long_name) == 64
    assert role_session_name("t" * 100) != role_session_name("t" * 101)


def test_an_empty_task_id_is_invalid() -> None:
    with pytest.raises(InvalidInputError):
        role_session_name("")
    assert not session_name_matches("=Q", "")


@pytest.mark.parametrize(
    ("sender_id", "session"),
    [
        ("AROAEXAMPLEID123456:task-0b5e", "task-0b5e"),
        ("AROAEXAMPLEID123456:=Qa", "=Qa"),
        ("AIDAEXAMPLEUSER12345", None),
        ("AIDAEXAMPLE:odd", None),
        ("AROAEXAMPLE:", None),
        (None, None),
    ],
)
def test_the_session_name_is_read_from_an_sqs_sender_id(sender_id: str | None, session: str | None) -> None:
    assert session_name_from_sender_id(sender_id) == session


def test_the_session_policy_allows_only_send_message_on_the_one_queue() -> None:
    arn = "arn:aws:sqs:eu-west-1:123456789012:agentcage-tool-requests"

    policy = json.loads(session_policy(arn))

    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "SendToolRequestsOnly", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": arn}
        ],
    }


@pytest.mark.parametrize(
    ("url", "region", "arn"),
    [
        ("https://sqs.eu-west-1.amazonaws.com/123456789012/q", None, "arn:aws:sqs:eu-west-1:123456789012:q"),
        (
            "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q.fifo",
            None,
            "arn:aws-cn:sqs:cn-north-1:123456789012:q.fifo",
        ),
        ("http://127.0.0.1:5000/123456789012/q", "us-east-1", "arn:aws:sqs:us-east-1:123456789012:q"),
    ],
)
def test_queue_arn_from_url(url: str, region: str | None, arn: str) -> None:
    assert queue_arn_from_url(url, region) == arn


@pytest.mark.parametrize(
    "url", ["https://sqs.eu-west-1.amazonaws.com/q", "http://127.0.0.1:5000/123456789012/q", "nonsense"]
)
def test_queue_arn_from_an_unusable_url_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="queue ARN"):
        queue_arn_from_url(url)


def test_entra_scope_of_an_app_id_uri() -> None:
    assert entra_scope("api://agentcage-bridge") == "api://agentcage-bridge/.default"
    assert entra_scope("api://agentcage-bridge/") == "api://agentcage-bridge/.default"
    assert entra_scope("api://agentcage-bridge/.default") == "api://agentcage-bridge/.default"
