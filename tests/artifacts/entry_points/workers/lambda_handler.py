"""Inside a Lambda artifact: invoke one handler (``module.function``) with each event, as Lambda would.

Inputs: ``handler`` (the entry point), ``function`` (its name, for the context) and ``events`` (a
list). The answer holds each invocation's return value, or the exception it raised (a handler that
raises fails its whole invocation; the test decides whether that was expected). Stdlib only.
"""

from __future__ import annotations

import importlib
import os
import time
import traceback
import uuid
from typing import Any


class LambdaContext:
    """The attributes Powertools and the handlers read from the runtime's context object."""

    def __init__(self, function: str, timeout_s: float = 30.0) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", function)
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"))
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{self.function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "artifact-test"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main(inputs: dict[str, Any]) -> dict[str, Any]:
    """Import the handler, then invoke it once per event; each outcome in order."""
    module_name, _, function_name = inputs["handler"].rpartition(".")
    handler = getattr(importlib.import_module(module_name), function_name)
    outcomes: list[dict[str, Any]] = []
    for event in inputs["events"]:
        try:
            outcomes.append({"returned": handler(event, LambdaContext(inputs["function"]))})
        except ModuleNotFoundError:
            raise  # the bootstrap names the module
        except Exception as error:
            outcomes.append(
                {"raised": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()[-3000:]}
            )
    return {"outcomes": outcomes}
