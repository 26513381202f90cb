"""Inside the function-app artifact: index the app, then call ``POST /api/tasks``, one step trigger and
the MCP gateway's ``tools/list`` (``/api/mcp/{agent}``: the MCP SDK and its ASGI stack ship too).

``function_app`` is imported as the Python worker imports it (from the app root, dependencies from
``.python_packages/lib/site-packages``); its functions come from ``app.get_functions()``, each called
through its user function with the SDK's own request and message types. The runtime is built from
the app settings on first use (managed identity, the federated ledger, the gate, the scripted model);
only the AMQP client is a stand-in (``servicebus_stand_in.py``). Stdlib only.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

_stand_in = runpy.run_path(str(Path(__file__).with_name("servicebus_stand_in.py")))


def _http(func: Any, body: bytes, headers: dict[str, str]) -> Any:
    return func.HttpRequest(
        method="POST",
        url="https://agentcage-dev-coordinator.azurewebsites.net/api/tasks",
        headers=headers,
        params={},
        route_params={},
        body=body,
    )


def _answer(response: Any) -> dict[str, Any]:
    return {"status": response.status_code, "body": response.get_body().decode("utf-8")}


def _mcp_tools_list(func: Any, mcp: Any, headers: dict[str, str]) -> dict[str, Any]:
    """A 2026-07-28 ``tools/list`` through the Function, as the host would call it."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}}
    request = func.HttpRequest(
        method="POST",
        url="https://agentcage-dev-coordinator.azurewebsites.net/api/mcp/returns-coordinator",
        headers={
            **headers,
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "Mcp-Protocol-Version": "2026-07-28",
            "Mcp-Method": "tools/list",
        },
        params={},
        route_params={"path": "returns-coordinator"},
        body=json.dumps(body).encode("utf-8"),
    )
    return _answer(mcp(request))


def main(inputs: dict[str, Any]) -> dict[str, Any]:
    """The indexed functions, the two HTTP answers and the step trigger's outcome."""
    _stand_in["install"]()
    import azure.functions as func
    import function_app

    functions = {f.get_function_name(): f for f in function_app.app.get_functions()}
    create_task = functions["create_task"].get_user_function()
    headers = {"Content-Type": "application/json", **inputs["headers"]}
    valid = _answer(create_task(_http(func, inputs["valid_body"].encode("utf-8"), headers)))
    malformed = _answer(create_task(_http(func, inputs["malformed_body"].encode("utf-8"), headers)))
    sent_by_http = list(_stand_in["sent"])
    steps = [m for m in sent_by_http if m["queue"] == "agent-steps"]
    step_outcome = None
    if steps:
        from azure.functions.servicebus import ServiceBusMessage

        message = ServiceBusMessage(
            body=steps[0]["body"].encode("utf-8"),
            message_id=steps[0]["message_id"],
            application_properties=steps[0]["application_properties"],
            user_properties=steps[0]["application_properties"],
            content_type="application/json",
            delivery_count=1,
        )
        functions["run_agent_step"].get_user_function()(message)
        step_outcome = [m for m in _stand_in["sent"] if m not in sent_by_http]
    mcp = _mcp_tools_list(func, functions["mcp"].get_user_function(), inputs["headers"])
    return {
        "mcp": mcp,
        "functions": sorted(functions),
        "valid": valid,
        "malformed": malformed,
        "sent_by_http": sent_by_http,
        "sent_by_step": step_outcome,
    }
