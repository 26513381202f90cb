"""Inside lambda-bridge: ``bridge_to_azure.handler`` forwards a valid result and fails a malformed one.

The handler builds its real sender from its settings (web identity token from STS, Entra client
assertion credential, Service Bus client) on first use; only the AMQP client class is a stand-in
(``servicebus_stand_in.py``), which records what would have gone to Service Bus. Stdlib only.
"""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

_stand_in = runpy.run_path(str(Path(__file__).with_name("servicebus_stand_in.py")))
_lambda = runpy.run_path(str(Path(__file__).with_name("lambda_handler.py")))


def main(inputs: dict[str, Any]) -> dict[str, Any]:
    """Invoke the handler with each event; the outcomes and what reached 'Service Bus'."""
    _stand_in["install"]()
    answer: dict[str, Any] = _lambda["main"](inputs)
    answer["servicebus_sent"] = _stand_in["sent"]
    return answer
