"""The consumers: a few threads per queue, each receiving, invoking the function and settling.

Azure Service Bus triggers take one message per invocation (the Functions host's default); Lambda
event source mappings take up to the manifest's ``batch_size`` and honour partial-batch responses.
A function that raises fails its message (or, for Lambda, the whole batch); the broker redelivers it
with the attempt counted (a Service Bus message at once, an SQS one when its visibility timeout ends),
or dead-letters it at the queue's limit. While a function runs, the pool renews its messages' locks,
as the Functions host renews Service Bus locks (a Lambda cannot outlive its queue's visibility
timeout; here nothing stops a call, so its lock is kept instead). Output bindings are sent only when
the function succeeded, as the Functions host sends them.

Timer-triggered functions run on a local interval instead of their NCRONTAB schedule (the cloud's
five minutes would make a demo wait); one thread per timer, never two runs of one timer at once (the
Functions host's singleton lock for timers), and a failed run is logged and retried at the next tick.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from azure.functions.timer import TimerRequest

from agentcage.local.broker import Delivery, DurableBroker, QueueKey
from agentcage.local.discovery import AzureFunction, LambdaFunction
from agentcage.local.invoke import call_azure_function, call_sqs_lambda, servicebus_message

__all__ = ["ConsumerPool", "InvocationRecord", "TimerPool"]

_log = logging.getLogger("agentcage.local")


@dataclass(frozen=True, slots=True)
class InvocationRecord:
    """One finished invocation (for statistics and the benchmark): which function, how long, outcome."""

    function: str
    queue: QueueKey | None  # None for a timer
    messages: int
    failed: int
    seconds: float


class ConsumerPool:
    """Worker threads for every consumed queue; :meth:`start` and :meth:`stop` (which waits for them)."""

    def __init__(
        self,
        broker: DurableBroker,
        consumers: dict[QueueKey, AzureFunction | LambdaFunction],
        *,
        threads_per_queue: int = 2,
        poll_interval_s: float = 0.25,
        on_invocation: Callable[[InvocationRecord], None] | None = None,
    ) -> None:
        if threads_per_queue < 1:
            raise ValueError("threads_per_queue must be at least 1")
        self.broker = broker
        self.consumers = dict(consumers)
        self.threads_per_queue = threads_per_queue
        self.poll_interval_s = poll_interval_s
        self.on_invocation = on_invocation
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._busy_lock = threading.Lock()
        self._in_flight: dict[str, Delivery] = {}  # by lock token, guarded by _busy_lock

    @property
    def busy(self) -> int:
        """How many invocations are running right now."""
        with self._busy_lock:
            return self._busy

    def start(self) -> None:
        """Start the worker threads (daemon threads: a killed process leaves the broker to recover)."""
        for queue, function in self.consumers.items():
            for index in range(self.threads_per_queue):
                thread = threading.Thread(
                    target=self._run, args=(queue, function), name=f"consumer-{queue}-{index}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
        if self.consumers:
            keeper = threading.Thread(target=self._keep_locks, name="consumer-locks", daemon=True)
            keeper.start()
            self._threads.append(keeper)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop receiving, let running invocations finish (up to ``timeout_s``), and join the threads."""
        self._stopping.set()
        self.broker.notify()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()

    def _run(self, queue: QueueKey, function: AzureFunction | LambdaFunction) -> None:
        batch_size = function.batch_size if isinstance(function, LambdaFunction) else 1
        while not self._stopping.is_set():
            try:
                deliveries = self.broker.receive(queue, batch_size)
            except Exception:  # noqa: BLE001 - the store was busy or closed; retry rather than lose the worker
                _log.exception("receiving from %s failed", queue)
                self._stopping.wait(self.poll_interval_s)
                continue
            if not deliveries:
                next_in = self.broker.next_visible_in(queue)
                wait = self.poll_interval_s if next_in is None else min(self.poll_interval_s, next_in)
                self.broker.wait_for_messages(max(wait, 0.005))
                continue
            with self._busy_lock:
                self._busy += 1
                self._in_flight.update((d.lock_token, d) for d in deliveries)
            try:
                self._invoke(queue, function, deliveries)
            finally:
                with self._busy_lock:
                    self._busy -= 1
                    for delivery in deliveries:
                        self._in_flight.pop(delivery.lock_token, None)

    def _keep_locks(self) -> None:
        """Renew the locks of running invocations three times per shortest window, until stopped."""
        shortest = min(self.broker.lock_seconds.get(queue, 30.0) for queue in self.consumers)
        interval = max(shortest / 3, 0.01)
        while not self._stopping.wait(interval):
            with self._busy_lock:
                running = list(self._in_flight.values())
            try:
                self.broker.renew(running)
            except Exception:  # noqa: BLE001 - the store was busy; the next round renews them
                _log.warning("renewing %d locks failed; retrying in %.3g s", len(running), interval)

    def _invoke(
        self, queue: QueueKey, function: AzureFunction | LambdaFunction, deliveries: list[Delivery]
    ) -> None:
        started = time.perf_counter()
        if isinstance(function, AzureFunction):
            failed = self._invoke_azure(function, deliveries[0])
        else:
            failed = self._invoke_lambda(function, deliveries)
        if self.on_invocation is not None:
            self.on_invocation(
                InvocationRecord(function.name, queue, len(deliveries), failed, time.perf_counter() - started)
            )

    def _invoke_azure(self, function: AzureFunction, delivery: Delivery) -> int:
        try:
            _, outgoing = call_azure_function(function, servicebus_message(delivery))
        except Exception as error:  # noqa: BLE001 - any failure of the function is a failed delivery
            self._fail(function.name, delivery, error)
            return 1
        for message in outgoing:
            self.broker.send(QueueKey("azure", message.queue), message.body, properties=message.properties)
        if not self.broker.complete(delivery):
            _log.warning(
                "%s: lock lost on %s message %s; it will be delivered again",
                function.name,
                delivery.queue,
                delivery.message_id,
            )
        return 0

    def _invoke_lambda(self, function: LambdaFunction, deliveries: list[Delivery]) -> int:
        try:
            failed_ids = call_sqs_lambda(function, deliveries)
            error: BaseException | None = None
        except Exception as raised:  # noqa: BLE001 - an error of the handler fails the whole batch
            failed_ids, error = {d.message_id for d in deliveries}, raised
        for delivery in deliveries:
            if delivery.message_id in failed_ids:
                self._fail(function.name, delivery, error or RuntimeError("reported in batchItemFailures"))
            elif not self.broker.complete(delivery):
                _log.warning(
                    "%s: visibility expired on message %s; it will be received again",
                    function.name,
                    delivery.message_id,
                )
        return len(failed_ids)

    def _fail(self, name: str, delivery: Delivery, error: BaseException) -> None:
        reason = f"{type(error).__name__}: {error}"
        outcome = self.broker.fail(delivery, reason)
        level = logging.ERROR if outcome == "dead_lettered" else logging.WARNING
        _log.log(
            level,
            "%s failed on %s message %s (delivery %d): %s -> %s",
            name,
            delivery.queue,
            delivery.message_id,
            delivery.attempts,
            reason,
            outcome,
            exc_info=level == logging.ERROR,
        )


class TimerPool:
    """Runs each timer-triggered Azure function every ``interval_s`` seconds until :meth:`stop`."""

    def __init__(
        self,
        broker: DurableBroker,
        functions: tuple[AzureFunction, ...],
        *,
        interval_s: float,
        on_invocation: Callable[[InvocationRecord], None] | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("a timer's interval must be positive")
        self.broker = broker
        self.functions = functions
        self.interval_s = interval_s
        self.on_invocation = on_invocation
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start one daemon thread per timer; the first run is one interval after start (no run on start)."""
        for function in self.functions:
            thread = threading.Thread(
                target=self._run, args=(function,), name=f"timer-{function.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop ticking and wait (up to ``timeout_s``) for a run in progress to finish."""
        self._stopping.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()

    def _run(self, function: AzureFunction) -> None:
        while not self._stopping.wait(self.interval_s):
            self.fire(function)

    def fire(self, function: AzureFunction) -> bool:
        """Run ``function`` once now, as its timer would; True when it succeeded."""
        started = time.perf_counter()
        failed = 0
        try:
            _, outgoing = call_azure_function(function, TimerRequest(past_due=False))
            for message in outgoing:
                self.broker.send(
                    QueueKey("azure", message.queue), message.body, properties=message.properties
                )
        except Exception:  # noqa: BLE001 - a failed run is the timer's failure; the next tick runs again
            _log.exception(
                "timer function %s failed; it runs again in %.3g s", function.name, self.interval_s
            )
            failed = 1
        if self.on_invocation is not None:
            self.on_invocation(
                InvocationRecord(function.name, None, 0, failed, time.perf_counter() - started)
            )
        return failed == 0
