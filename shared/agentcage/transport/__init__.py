"""How a caller reaches the data services behind API Gateway: request and response shapes, transports.

The tool executor (AWS) and the coordinator's target reader (Azure) both send catalog operations to the
data services, so the shapes (:class:`ServiceRequest`, :class:`ServiceResponse`), the seam
(:class:`ServiceTransport`) and the cloud transport (:class:`SigV4ApiGatewayTransport`, IAM-signed
HTTPS) live here, in the library both artifacts ship; neither side carries the other's function code.
"""

from agentcage.transport.service_calls import (
    MAX_RESPONSE_BYTES,
    ServiceRequest,
    ServiceResponse,
    ServiceTransport,
    decode_body,
)
from agentcage.transport.sigv4 import EXECUTE_API, SigV4ApiGatewayTransport, region_from_url

__all__ = [
    # shapes and the seam
    "ServiceRequest",
    "ServiceResponse",
    "ServiceTransport",
    "decode_body",
    "MAX_RESPONSE_BYTES",
    # the cloud transport
    "SigV4ApiGatewayTransport",
    "EXECUTE_API",
    "region_from_url",
]
