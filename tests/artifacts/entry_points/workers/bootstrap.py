"""Runs one entry-point worker inside an artifact, in an interpreter started with ``python -I -S``.

Usage: ``python -I -S bootstrap.py '<json list of sys.path entries>' <worker.py>``, with the worker's
inputs as JSON on stdin. Only the listed entries (the unzipped artifact) are put in front of the
standard library; ``-I`` keeps PYTHONPATH, the user site and the script's own folder out and ``-S``
the interpreter's site-packages. The worker's ``main(inputs)`` returns a JSON-able dict, printed
as the last line of stdout after :data:`REPORT_PREFIX`.

What a worker cannot see for itself is collected here and reported beside its answer:

- a module that cannot be imported anywhere (at import time, or lazily while a record is handled)
  is reported by name in ``missing_modules``;
- a record Powertools' batch processor reported as failed has its exception (type, message and
  any missing module in its chain) in ``record_errors``, so a failure the partial-batch response
  hides is still named.

Stdlib only: nothing but the artifact may provide a third-party module.
"""

from __future__ import annotations

import importlib.util
import json
import runpy
import sys
import traceback
from typing import Any

REPORT_PREFIX = "AGENTCAGE-WORKER-REPORT "
EXIT_MISSING_MODULE = 3
EXIT_ERROR = 4

_record_errors: list[dict[str, Any]] = []


def missing_modules(error: BaseException | None) -> list[str]:
    """The names of every module a ModuleNotFoundError in ``error``'s chain could not find."""
    names: list[str] = []
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, ModuleNotFoundError) and error.name:
            names.append(error.name)
        error = error.__cause__ or error.__context__
    return names


def _watch_batch_failures() -> None:
    """Note each record the batch processor fails (it turns exceptions into batchItemFailures)."""
    if importlib.util.find_spec("aws_lambda_powertools") is None:
        return
    if importlib.util.find_spec("aws_lambda_powertools.utilities.batch") is None:
        return  # pruned from an artifact whose code processes no batches (the data services)
    from aws_lambda_powertools.utilities.batch.base import BasePartialProcessor

    original = BasePartialProcessor.failure_handler

    def failure_handler(self: Any, record: Any, exception: Any) -> Any:
        error = exception[1]
        _record_errors.append(
            {
                "type": type(error).__name__,
                "message": str(error)[:2000],
                "missing_modules": missing_modules(error),
                "traceback": "".join(traceback.format_exception(error))[-4000:],
            }
        )
        return original(self, record, exception)

    BasePartialProcessor.failure_handler = failure_handler  # type: ignore[method-assign]


def _report(payload: dict[str, Any]) -> None:
    sys.stdout.flush()
    print(REPORT_PREFIX + json.dumps(payload, default=str), flush=True)


def main() -> int:
    """Run the worker named in argv with the inputs on stdin; report what happened."""
    sys.path[:0] = json.loads(sys.argv[1])
    worker = sys.argv[2]
    inputs = json.loads(sys.stdin.read() or "{}")
    try:
        _watch_batch_failures()
        namespace = runpy.run_path(worker, run_name="agentcage_artifact_worker")
        answer = namespace["main"](inputs)
    except ModuleNotFoundError as error:
        _report({"missing_modules": missing_modules(error), "traceback": traceback.format_exc()})
        return EXIT_MISSING_MODULE
    except BaseException as error:
        _report(
            {
                "error": f"{type(error).__name__}: {error}"[:2000],
                "missing_modules": missing_modules(error),
                "record_errors": _record_errors,
                "traceback": traceback.format_exc()[-6000:],
            }
        )
        return EXIT_ERROR
    _report({"answer": answer, "record_errors": _record_errors, "missing_modules": []})
    return 0


if __name__ == "__main__":
    sys.exit(main())
