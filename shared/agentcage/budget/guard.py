"""The budget step of the governance gate: reserve before spending, settle after, trip breakers.

:class:`BudgetGuard` puts the ledger, the configuration, loop detection and the circuits together
for the callers (the coordinator's agent loop, the local runtime). A tripped breaker — a model call
that no longer fits, a loop, a circuit this task's failure opened, a limit passed — halts the task
with a reason a person can read, appends a ``breaker_tripped`` audit event and emits
``BreakerTrips`` (dimension ``reason``). Every settled model call emits ``TokensUsed`` and
``CostMicroUsd`` (the names in :mod:`agentcage.constants`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from agentcage.budget.config import BudgetConfig
from agentcage.budget.limits import Usage
from agentcage.budget.loops import LoopDetector
from agentcage.budget.metrics import MetricsSink
from agentcage.budget.model_calls import ModelCallPlan, Tokenizer, plan_model_call
from agentcage.budget.pricing import ModelPrice, model_usage
from agentcage.constants import (
    METRIC_BREAKER_TRIPS,
    METRIC_COST_MICRO_USD,
    METRIC_DIMENSION_REASON,
    METRIC_DIMENSION_TOOL,
    METRIC_TOKENS_USED,
)
from agentcage.errors import (
    AgentcageError,
    BudgetError,
    BudgetExceededError,
    InvalidTransitionError,
    ModelError,
    ModelRateLimitError,
    OverspendError,
)
from agentcage.monitoring_names import EVENT_BREAKER_TRIPPED, LOG_CODE, LOG_EVENT, LOG_TOOL
from agentcage.trace.w3c import trace_id_of

if TYPE_CHECKING:
    from agentcage.ledger.base import Ledger
    from agentcage.ledger.models import Reservation

__all__ = ["BudgetGuard", "MetricsSink", "ModelCall", "provider_did_not_process"]

logger = logging.getLogger(__name__)

CHARGED_AFTER_FAILURE = "model call failed after it was sent; charged its upper bound"
CHARGED_UNSETTLED = "model call ended without reporting its usage; charged its upper bound"
RELEASED_NOT_PROCESSED = "the provider did not process the call; its reservation was released"


def provider_did_not_process(error: BaseException) -> bool:
    """Whether a failed model call certainly cost nothing, so its reservation may be released.

    Only two cases: the provider refused it with a rate limit (429) on its one attempt, or no attempt
    was made at all (``details["attempts"] == 0``: the task's deadline left no time). Anything else — a
    timeout, a dropped connection, a 5xx, a retried call whose earlier attempts may have run — may have
    been processed and billed, so it is charged.
    """
    if not isinstance(error, ModelError):
        return False
    attempts = error.details.get("attempts")
    if attempts == 0:
        return True
    return isinstance(error, ModelRateLimitError) and attempts in (None, 1)


class ModelCall:
    """A model call in progress: send ``max_tokens``; call :meth:`settle` with the provider's usage."""

    def __init__(
        self,
        ledger: Ledger,
        plan: ModelCallPlan,
        reservation: Reservation,
        price: ModelPrice,
        on_settled: Callable[[Usage], None] | None = None,
    ) -> None:
        self.plan = plan
        self.reservation = reservation
        self.max_tokens = plan.max_tokens
        self._ledger = ledger
        self._price = price
        self._on_settled = on_settled
        self.settled: Reservation | None = None
        self.priced_at_ceiling = False
        """The model has no price of its own: reserved and charged at the configured ceiling."""

    def settle(self, input_tokens: int, output_tokens: int) -> Reservation:
        """Record what the call used (priced from configuration).

        More than reserved is still recorded in full (the provider bills it) and raises
        OverspendError; :attr:`settled` is set either way, so nothing is released or charged again.
        """
        actual = model_usage(self._price, input_tokens, output_tokens)
        try:
            self.settled = self._ledger.settle(self.reservation.reservation_id, actual)
        except OverspendError:
            self.settled = self._ledger.get_reservation(self.reservation.reservation_id)
            self._spent(actual)
            raise
        self._spent(actual)
        return self.settled

    def _spent(self, actual: Usage) -> None:
        if self._on_settled is not None:
            self._on_settled(actual)


class BudgetGuard:
    """Reserve -> call -> settle for model and tool calls, with loop detection and circuit breakers."""

    def __init__(
        self, ledger: Ledger, config: BudgetConfig | None = None, *, metrics: MetricsSink | None = None
    ) -> None:
        self.ledger = ledger
        self.config = config or BudgetConfig()
        self.metrics = metrics
        self.loops = LoopDetector(self.config.loop_threshold)

    # --- model calls ------------------------------------------------------------------------------
    def plan_model_call(
        self,
        task_id: str,
        *,
        model: str,
        request: str | bytes | Mapping[str, Any] | Sequence[Any],
        requested_max_tokens: int,
        tokenizer: Tokenizer | None = None,
    ) -> ModelCallPlan:
        """The reservation and clamped ``max_tokens`` for a call, from what the task has left now."""
        return plan_model_call(
            request=request,
            price=self._bounding_price(model),
            remaining=self.ledger.budget_state(task_id).remaining,
            requested_max_tokens=requested_max_tokens,
            min_useful_output_tokens=self.config.min_useful_output_tokens,
            tokenizer=tokenizer,
            overhead_tokens=self.config.request_overhead_tokens,
        )

    @contextmanager
    def model_call(
        self,
        task_id: str,
        *,
        model: str,
        request: str | bytes | Mapping[str, Any] | Sequence[Any],
        requested_max_tokens: int,
        tokenizer: Tokenizer | None = None,
    ) -> Iterator[ModelCall]:
        """Reserve the call's upper bound, yield it, and account for it however the block ends.

        - Settled with :meth:`ModelCall.settle`: the actual use is recorded.
        - Ended without a settlement: charged its full reservation (the call may have run).
        - Raised: the call may have been processed and billed even though no answer came (a timeout
          is the usual case), so it is charged its reservation — an upper bound of its tokens, cost
          and one model step — and a ``model_call_charged`` audit event says why. Only when the
          provider certainly did not process it (:func:`provider_did_not_process`: a 429 on its only
          attempt, or no attempt at all) is the reservation released. Repeated timeouts therefore
          use up the budget and halt the task instead of spending without limit.

        When the call no longer fits the budget, or its cost cannot be estimated (no price for the
        model and no ``price_ceiling``), the task halts (the breaker trips) and BudgetExceededError is
        raised; the model is not called.
        """
        try:
            price = self._bounding_price(model)
            plan = self.plan_model_call(
                task_id,
                model=model,
                request=request,
                requested_max_tokens=requested_max_tokens,
                tokenizer=tokenizer,
            )
            reservation = self.ledger.reserve(
                task_id, plan.reservation, kind="model", ttl_seconds=self.config.reservation_ttl_seconds
            )
        except BudgetExceededError as error:
            self.trip(task_id, error)
            raise
        call = ModelCall(self.ledger, plan, reservation, price, on_settled=self._model_spend)
        call.priced_at_ceiling = model not in self.config.prices
        try:
            yield call
        except BaseException as error:
            if call.settled is None:
                self._account_failed_call(reservation, error)
            raise
        if call.settled is None:
            self._charge(reservation, CHARGED_UNSETTLED, None)

    def _bounding_price(self, model: str) -> ModelPrice:
        """The price to bound and charge ``model``'s calls at; BudgetExceededError when there is none."""
        price = self.config.bounding_price(model)
        if price is None:
            raise BudgetExceededError(
                f"the cost of a call to model {model!r} cannot be estimated: no price is configured for "
                "it and no price_ceiling bounds it, so it cannot be kept within the task's cost budget",
                details={
                    "limit": "cost_micro_usd",
                    "reason": "price_unknown",
                    "model": model,
                    "priced_models": sorted(self.config.prices),
                },
            )
        return price

    def _account_failed_call(self, reservation: Reservation, error: BaseException) -> None:
        """Release or charge the reservation of a call that raised; never mask ``error`` itself."""
        try:
            if provider_did_not_process(error):
                self.ledger.release(reservation.reservation_id)
                self.ledger.append_audit(
                    reservation.task_id,
                    "model_call_released",
                    {
                        "reservation_id": reservation.reservation_id,
                        "reason": RELEASED_NOT_PROCESSED,
                        "error": _error_code(error),
                    },
                )
            else:
                self._charge(reservation, CHARGED_AFTER_FAILURE, error)
        except Exception:  # the caller's error is the one to raise; this one is logged
            # The reservation stays held until the ledger's sweep (expire_stale) returns it.
            logger.exception("could not account for model reservation %s", reservation.reservation_id)

    def _charge(self, reservation: Reservation, reason: str, error: BaseException | None) -> None:
        """Settle ``reservation`` at its full amounts and say why in the audit log."""
        self.ledger.settle(reservation.reservation_id, reservation.amounts)
        self._model_spend(reservation.amounts)
        self.ledger.append_audit(
            reservation.task_id,
            "model_call_charged",
            {
                "reservation_id": reservation.reservation_id,
                "reason": reason,
                "error": _error_code(error) if error is not None else None,
                "amounts": reservation.amounts.model_dump(),
            },
        )
        logger.warning("task %s: %s", reservation.task_id, reason)

    def _model_spend(self, used: Usage) -> None:
        self._emit(METRIC_TOKENS_USED, used.tokens)
        self._emit(METRIC_COST_MICRO_USD, used.cost_micro_usd)

    def _emit(self, name: str, value: float, **dimensions: str) -> None:
        if self.metrics is None:
            return
        try:
            self.metrics.emit(name, "Count", value, dimensions)
        except Exception:  # a metric must never break the budget's accounting
            logger.exception("metric %s not emitted", name)

    # --- breakers ---------------------------------------------------------------------------------
    def trip(self, task_id: str, error: BudgetError) -> None:
        """Halt the task for ``error``: readable reason, ``breaker_tripped`` audit event, metric."""
        reason = f"{error.code}: {error.message}"
        try:
            self.ledger.transition(task_id, "halted", reason=reason)
        except InvalidTransitionError:
            logger.info("task %s already final; breaker %s recorded only", task_id, error.code)
        task = self.ledger.get_task(task_id)
        self.ledger.append_audit(
            task_id,
            "breaker_tripped",
            {"code": error.code, "message": error.message, "details": error.details},
            # on the task's trace like every other event of it (the timeline and the demo rely on it)
            trace_id=trace_id_of(task.traceparent),
            step=task.step,
            agent_id=task.agent_id,
        )
        dimensions = {METRIC_DIMENSION_REASON: error.code}
        # The fields the breaker-trips searches and alerts read (agentcage.monitoring_names).
        fields = {LOG_EVENT: EVENT_BREAKER_TRIPPED, LOG_CODE: error.code}
        tool = error.details.get("tool")
        if isinstance(tool, str) and tool:
            dimensions[METRIC_DIMENSION_TOOL] = tool
            fields[LOG_TOOL] = tool
        logger.warning("breaker tripped for task %s: %s", task_id, reason, extra=fields)
        self._emit(METRIC_BREAKER_TRIPS, 1, **dimensions)


def _error_code(error: BaseException) -> str:
    return error.code if isinstance(error, AgentcageError) else type(error).__name__
