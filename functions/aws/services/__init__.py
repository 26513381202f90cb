"""The data services behind API Gateway: one Lambda per module, each a Powertools REST resolver.

=========  ==========================================  ==========================================
module     routes                                      operationIds (shared/catalog)
=========  ==========================================  ==========================================
customers  GET  /customers/{customer_id}               getCustomer
orders     GET  /customers/{customer_id}/orders        listRecentOrders
risk       POST /risk/return-exceptions                assessReturnException
refunds    POST /refunds                               createRefund (idempotent write)
vendor     POST /vendors/{vendor_id}/negotiations      negotiateVendorTerms (egress, can fail)
volumes    GET  /volumes, GET|DELETE /volumes/{id}     listVolumes, getVolume, deleteVolume
=========  ==========================================  ==========================================

Shared pieces: :mod:`.api` (resolver, errors, trace), :mod:`.models`, :mod:`.repository` (the
domain table and its key schema), :mod:`.dependencies` (clients built on first use),
:mod:`.risk_scoring`, :mod:`.seed` and :mod:`.proxy_events`. This package imports none of them, so
importing one handler loads only what it uses. Which Lambda serves which operation is declared once,
in :mod:`functions.aws.manifest`.
"""

__all__: list[str] = []
