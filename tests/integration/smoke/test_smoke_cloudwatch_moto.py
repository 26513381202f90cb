"""The Logs Insights runner's boto3 calls against moto_server on loopback.

moto implements ``start_query``/``get_query_results`` but ignores ``filter`` (it returns every event in
the window), so this proves the calls, the polling and the reading of result rows -- not the filter,
which ``test_smoke_queries_local`` checks over what the Lambdas log.
"""

from __future__ import annotations

import time
import uuid

import boto3
import pytest

from infra.smoke.insights import CloudWatchInsights
from infra.smoke.saved_queries import fill_placeholders, insights_query_text, trace_values
from tests.integration.smoke.conftest import LocalRun


@pytest.fixture
def logs(moto_endpoint: str) -> object:
    return boto3.client(
        "logs",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="moto",
        aws_secret_access_key="moto",
    )


def test_the_runner_reads_rows_of_the_groups_it_is_given(logs: object, local_run: LocalRun) -> None:
    # GIVEN the Lambdas' lines from the local run in one log group, and an empty group beside it
    group, empty = f"/aws/lambda/smoke-{uuid.uuid4().hex[:8]}", f"/aws/lambda/empty-{uuid.uuid4().hex[:8]}"
    for name in (group, empty):
        logs.create_log_group(logGroupName=name)  # type: ignore[attr-defined]
        logs.create_log_stream(logGroupName=name, logStreamName="s")  # type: ignore[attr-defined]
    now_ms = int(time.time() * 1000)
    events = [{"timestamp": now_ms, "message": event.message} for event in local_run.lambda_events[:20]]
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=events)  # type: ignore[attr-defined]
    query = fill_placeholders(insights_query_text(), trace_values(local_run.trace_id, local_run.task_id))
    runner = CloudWatchInsights(logs, poll_interval_s=0.01)
    window = {"start_s": now_ms // 1000 - 60, "end_s": now_ms // 1000 + 60}
    # WHEN the saved query runs over each
    rows = runner.run(query, [group], **window)
    nothing = runner.run(query, [empty], **window)
    # THEN rows come back as field -> value, timestamped, from the group with the lines; none from the other
    assert len(rows) == len(events)
    assert all("@timestamp" in row for row in rows)
    assert nothing == []
