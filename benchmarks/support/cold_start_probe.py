"""Runs inside ``python -I -S`` with one artifact on ``sys.path``: times a handler's import and first use.

Stdin: ``{"paths": [...], "module": "functions.aws.tool_executor", "entry": "handler",
"event": {...}}`` -- ``entry`` is the Lambda handler, called once with ``event`` and a context; with
``"event": null`` it is a zero-argument function called once instead (what a first invocation
builds, where the invocation itself needs a service nobody runs here). Prints one JSON object:
``import_ms``, ``first_use_ms`` and what the first use returned. Stdlib only.
"""

from __future__ import annotations

import json
import sys
import time
import uuid


class _Context:
    function_name = "agentcage-bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:agentcage-bench"
    log_group_name = "/aws/lambda/agentcage-bench"
    log_stream_name = "bench"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def main() -> None:
    """Import, call once, report."""
    spec = json.loads(sys.stdin.read())
    sys.path[:0] = spec["paths"]
    started = time.perf_counter()
    module = __import__(spec["module"], fromlist=[spec["entry"]])
    imported = time.perf_counter()
    entry = getattr(module, spec["entry"])
    answer = entry() if spec["event"] is None else entry(spec["event"], _Context())
    used = time.perf_counter()
    print(
        json.dumps(
            {
                "import_ms": (imported - started) * 1000,
                "first_use_ms": (used - imported) * 1000,
                "answer": answer if isinstance(answer, dict) else type(answer).__name__,
            },
            default=str,
        )
    )


if __name__ == "__main__":
    main()
