"""The budget step of the governance gate: reserve before spending, settle after, trip breakers.

:class:`BudgetGuard` puts the ledger, the configuration, loop detection and the circuits together
for the callers (the coordinator's agent loop, the local runtime). A tripped breaker — a model call
that no longer fits, a loop, a circuit this task's failure opened, a limit passed — halts the task
with a reason a person can read, appends a ``breaker_tripped`` audit event and emits a metric.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from agentcage.budget.config import BudgetConfig
from agentcage.budget.limits import Usage
from agentcage.budget.loops import LoopDetector
from agentcage.budget.model_calls import ModelCallPlan, Tokenizer, plan_model_call
from agentcage.budget.pricing import ModelPrice, model_usage
from agentcage.errors import (
    BudgetError,
    BudgetExceededError,
    CircuitOpenError,
    InvalidTransitionError,
    LoopDetectedError,
)

if TYPE_CHECKING:
    from agentcage.ledger.base import Ledger
    from agentcage.ledger.models import CircuitStatus, Reservation

__all__ = ["BudgetGuard", "MetricsSink", "ModelCall", "ToolAdmission"]

logger = logging.getLogger(__name__)

_METRIC_NAMES = {
    BudgetExceededError.code: "BudgetExceeded",
    LoopDetectedError.code: "LoopDetected",
    CircuitOpenError.code: "CircuitOpened",
}


class MetricsSink(Protocol):
    """Where metrics go; an ``aws_lambda_powertools.Metrics`` instance fits as it is."""

    def add_metric(self, name: str, unit: str, value: float) -> None:
        """Record one value of metric ``name``."""


class ToolAdmission:
    """A tool call the guard let through: its reservation and whether it is the half-open probe."""

    def __init__(self, reservation: Reservation, probe: bool) -> None:
        self.reservation = reservation
        self.probe = probe


class ModelCall:
    """A model call in progress: send ``max_tokens``; call :meth:`settle` with the provider's usage."""

    def __init__(
        self, ledger: Ledger, plan: ModelCallPlan, reservation: Reservation, price: ModelPrice
    ) -> None:
        self.plan = plan
        self.reservation = reservation
        self.max_tokens = plan.max_tokens
        self._ledger = ledger
        self._price = price
        self.settled: Reservation | None = None

    def settle(self, input_tokens: int, output_tokens: int) -> Reservation:
        """Record what the call used (priced from configuration); more than reserved raises OverspendError."""
        self.settled = self._ledger.settle(
            self.reservation.reservation_id, model_usage(self._price, input_tokens, output_tokens)
        )
        return self.settled


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
            price=self.config.price_for(model),
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
        """Reserve the call's upper bound, yield it, and release on an exception.

        If the block ends without :meth:`ModelCall.settle`, the reservation is settled at its full
        amount: the call may have run, and counting too much is the safe error. When the call no
        longer fits the budget, the task halts (the breaker trips) and BudgetExceededError is raised.
        """
        price = self.config.price_for(model)
        try:
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
        call = ModelCall(self.ledger, plan, reservation, price)
        try:
            yield call
        except BaseException:
            if call.settled is None:
                self.ledger.release(reservation.reservation_id)
            raise
        if call.settled is None:
            self.ledger.settle(reservation.reservation_id, reservation.amounts)

    # --- tool calls -------------------------------------------------------------------------------
    def admit_tool_call(
        self, task_id: str, tool: str, args_digest: str, *, cost_micro_usd: int | None = None
    ) -> ToolAdmission:
        """Loop check, circuit admission, then a one-call reservation.

        An open circuit raises CircuitOpenError at once, reserving nothing (the caller answers the
        model with ``circuit_open``); a loop or a passed limit halts the task and raises.
        """
        try:
            self.loops.check(self.ledger, task_id, tool, args_digest)
        except LoopDetectedError as error:
            self.trip(task_id, error)
            raise
        admission = self.ledger.circuit_admit(tool)
        if not admission.allowed:
            retry_at = admission.retry_at.isoformat() if admission.retry_at else None
            self.ledger.append_audit(task_id, "circuit_open", {"tool": tool, "retry_at": retry_at})
            raise CircuitOpenError(
                f"the circuit of {tool} is {admission.state.value}; retry after {retry_at}",
                details={"tool": tool, "state": admission.state.value, "retry_at": retry_at},
            )
        cost = self.config.tool_call_cost_micro_usd if cost_micro_usd is None else cost_micro_usd
        try:
            reservation = self.ledger.reserve(
                task_id,
                Usage(tool_calls=1, cost_micro_usd=cost),
                kind="tool",
                tool=tool,
                args_digest=args_digest,
                ttl_seconds=self.config.reservation_ttl_seconds,
            )
        except BudgetExceededError as error:
            self.trip(task_id, error)
            raise
        return ToolAdmission(reservation, admission.probe)

    def finish_tool_call(
        self, reservation: Reservation, ok: bool, *, cost_micro_usd: int | None = None, detail: str = ""
    ) -> CircuitStatus:
        """Settle the call (one tool call, its cost) and count its outcome toward the tool's circuit.

        ``ok`` is False for the failures that count (5xx, timeouts, a 404 from an egress tool). When
        this failure opens the circuit, the task halts with a readable reason.
        """
        cost = reservation.amounts.cost_micro_usd if cost_micro_usd is None else cost_micro_usd
        self.ledger.settle(reservation.reservation_id, Usage(tool_calls=1, cost_micro_usd=cost))
        tool = reservation.tool or ""
        status = self.ledger.record_tool_outcome(tool, ok)
        if status.tripped:
            cooldown = self.ledger.breaker.cooldown_seconds
            reopen = (status.opened_at or self.ledger.now()) + timedelta(seconds=cooldown)
            self.trip(
                reservation.task_id,
                CircuitOpenError(
                    f"{tool} failed {status.consecutive_failures} times in a row{detail}; "
                    f"its circuit is open for {cooldown:g} s",
                    details={
                        "tool": tool,
                        "consecutive_failures": status.consecutive_failures,
                        "probe_after": reopen.isoformat(),
                    },
                ),
            )
        return status

    # --- breakers ---------------------------------------------------------------------------------
    def trip(self, task_id: str, error: BudgetError) -> None:
        """Halt the task for ``error``: readable reason, ``breaker_tripped`` audit event, metric."""
        reason = f"{error.code}: {error.message}"
        try:
            self.ledger.transition(task_id, "halted", reason=reason)
        except InvalidTransitionError:
            logger.info("task %s already final; breaker %s recorded only", task_id, error.code)
        self.ledger.append_audit(
            task_id,
            "breaker_tripped",
            {"code": error.code, "message": error.message, "details": error.details},
        )
        logger.warning("breaker tripped for task %s: %s", task_id, reason)
        if self.metrics is not None:
            self.metrics.add_metric(
                name=_METRIC_NAMES.get(error.code, "BreakerTripped"), unit="Count", value=1
            )
