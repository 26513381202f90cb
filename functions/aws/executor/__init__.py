"""The tool executor's logic, behind the thin Lambda handler in :mod:`functions.aws.tool_executor`.

:class:`ToolExecutor` takes one SQS record through the :class:`ExecutionGate` (the governance gate
again, on receipt), a :class:`ServiceTransport` to the data service (:class:`SigV4ApiGatewayTransport`
in the cloud, from :mod:`agentcage.transport`; :class:`InProcessTransport` locally), inspection,
the ledger and the circuit, and a :class:`ResultPublisher` back to the results queue.
:func:`build_executor` assembles one.
"""

from functions.aws.executor.audit_trail import AuditTrail, audit_trail, current_trail
from functions.aws.executor.checks import (
    CLOCK_SKEW_SECONDS,
    UNVERIFIED,
    Authorization,
    Claims,
    ExecutionGate,
    TargetResolution,
    Verified,
    check_approval_agent,
    check_reservation,
    check_times,
    verify_claimed_body,
    verify_claims,
    verify_request,
    verify_requester,
    verify_reservation,
    verify_role_sender,
    verify_sender,
)
from functions.aws.executor.executor import (
    APPROVAL_ID_HEADER,
    ARGS_DIGEST_HEADER,
    REFUSALS,
    ToolExecutor,
    circuit_failure,
)
from functions.aws.executor.factory import build_executor, default_transport
from functions.aws.executor.logger import ExecutorLogger
from functions.aws.executor.malformed import answer_malformed, claimed_fields
from functions.aws.executor.metrics import METRIC_NAMESPACE, PowertoolsToolMetrics, ToolMetrics
from functions.aws.executor.recovery import (
    LEASE_MARGIN_SECONDS,
    RECOVERED_EVENT,
    RETRY_SAFE,
    CrashRecovery,
    Recovery,
    executor_lease_seconds,
)
from functions.aws.executor.results import ResultPublisher, SqsResultPublisher, result_message_id
from functions.aws.executor.sent import (
    RESENT_EVENT,
    StoredResult,
    deliverable,
    find_stored_result,
    resend_stored,
    store_result,
)
from functions.aws.executor.transport import (
    EXECUTE_API,
    MAX_RESPONSE_BYTES,
    InProcessTransport,
    LocalLambdaContext,
    ServiceHandler,
    ServiceRequest,
    ServiceResponse,
    ServiceTransport,
    SigV4ApiGatewayTransport,
    decode_body,
    region_from_url,
)

__all__ = [
    # the executor
    "ToolExecutor",
    "ExecutorLogger",
    "build_executor",
    "REFUSALS",
    "circuit_failure",
    "APPROVAL_ID_HEADER",
    "ARGS_DIGEST_HEADER",
    # the gate on receipt
    "ExecutionGate",
    "Authorization",
    "TargetResolution",
    "Verified",
    "verify_request",
    "verify_claims",
    "verify_claimed_body",
    "Claims",
    "UNVERIFIED",
    "verify_sender",
    "verify_role_sender",
    "verify_reservation",
    "verify_requester",
    "check_times",
    "check_approval_agent",
    "check_reservation",
    "CLOCK_SKEW_SECONDS",
    "answer_malformed",
    "claimed_fields",
    # the audit events written with the answer
    "AuditTrail",
    "audit_trail",
    "current_trail",
    # a crashed attempt executed once more, when safe
    "CrashRecovery",
    "Recovery",
    "executor_lease_seconds",
    "LEASE_MARGIN_SECONDS",
    "RECOVERED_EVENT",
    "RETRY_SAFE",
    # transports
    "ServiceTransport",
    "ServiceRequest",
    "ServiceResponse",
    "ServiceHandler",
    "InProcessTransport",
    "LocalLambdaContext",
    "SigV4ApiGatewayTransport",
    "EXECUTE_API",
    "region_from_url",
    "default_transport",
    "decode_body",
    "MAX_RESPONSE_BYTES",
    # results and metrics
    "ResultPublisher",
    "SqsResultPublisher",
    "result_message_id",
    "RESENT_EVENT",
    "StoredResult",
    "deliverable",
    "find_stored_result",
    "resend_stored",
    "store_result",
    "ToolMetrics",
    "PowertoolsToolMetrics",
    "METRIC_NAMESPACE",
]
