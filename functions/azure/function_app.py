"""The coordinator Function App (Python v2 programming model): the app and its blueprints, nothing else.

Authentication is App Service Authentication in front of the app (the approver's identity arrives in
``X-MS-CLIENT-PRINCIPAL``), so the functions themselves need no function key.
"""

import azure.functions as func
from blueprints import (
    agent_steps,
    approval_expiry,
    http_approvals,
    http_console,
    http_mcp,
    http_tasks,
    tool_requests,
    tool_results,
)

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
for blueprint in (
    http_tasks.bp,
    http_approvals.bp,
    http_mcp.bp,
    agent_steps.bp,
    tool_requests.bp,
    tool_results.bp,
    approval_expiry.bp,
    http_console.bp,
):
    app.register_functions(blueprint)
