"""The step base class: the one dispatch from a task to its target's body.

A step operator defines its bodies as methods side by side::

    class LoadWarehousePartition(Step):
        def local(self, context, platform): ...   # DuckDB
        def gcp(self, context, platform): ...     # a BigQuery load job

or one target-neutral ``run(self, context, platform)`` when the platform adapter already hides the
difference. ``execute`` picks the body of the current target (the platform adapter is chosen once, in
:func:`llmops_plugins.platform.get_platform`). A body may return a provider operator (Google / Apache
Beam): the step then runs it on its own behalf — forwarding deferral, so long cloud waits free the worker
slot, resuming it after its trigger fires (``resume_inner``), forwarding ``on_kill`` so a killed task
cancels its cloud job — and declares that operator's console links (``operator_extra_links``).

A :class:`~llmops_factory.errors.DeterministicError` raised by a body (bad input, failed validation, a
missing setting) fails the task at once without retries: a retry cannot change it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from airflow.sdk import BaseOperator, BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from llmops_factory.errors import DeterministicError

if TYPE_CHECKING:  # pragma: no cover
    from llmops_plugins.platform.base import Platform

_INNER_METHOD = "llmops_inner_method"

P = ParamSpec("P")
R = TypeVar("R")


def fail_fast(func: Callable[P, R]) -> Callable[P, R]:
    """Run ``func``; a deterministic error fails the task without retries, with the same message."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except DeterministicError as exc:
            raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc

    return wrapper


def body_of(owner: Any, target: str) -> Callable[..., Any]:
    """``owner``'s body for ``target``: its target-neutral ``run`` if it has one, else ``owner.<target>``."""
    neutral = getattr(owner, "run", None)
    if callable(neutral):
        return neutral
    found = getattr(owner, target, None)
    if not callable(found):
        raise TypeError(f"{getattr(owner, '__name__', type(owner).__name__)} has no {target!r} body")
    return found


def run_on_target(bodies: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``bodies.<target>(platform, *args, **kwargs)`` for a plain task (no operator) whose work
    differs by target; a deterministic error fails it without retries."""
    from llmops_plugins.platform import get_platform

    platform = get_platform()
    return fail_fast(body_of(bodies, platform.target))(platform, *args, **kwargs)


class StepMixin:
    """Dispatch to the current target's body; run a returned provider operator as a delegate."""

    _inner: Any = None

    def body_for(self, target: str) -> Callable[[Any, Platform], Any]:
        """The bound body of this step for ``target``: ``run`` if the step is target-neutral."""
        return body_of(self, target)

    @staticmethod
    def platform() -> Platform:
        from llmops_plugins.platform import get_platform

        return get_platform()

    def run_step(self, context: Any) -> Any:
        platform = self.platform()
        result = fail_fast(self.body_for(platform.target))(context, platform)
        if isinstance(result, BaseOperator):
            return self._delegate(context, result)
        return result

    def _delegate(self, context: Any, inner: BaseOperator) -> Any:
        self._inner = inner
        try:
            result = inner.execute(context)
        except TaskDeferred as deferred:
            raise self._rerouted(deferred) from None
        return self.finish(context, result)

    @staticmethod
    def _rerouted(deferred: TaskDeferred) -> TaskDeferred:
        return TaskDeferred(
            trigger=deferred.trigger,
            method_name="resume_inner",
            kwargs={**(deferred.kwargs or {}), _INNER_METHOD: deferred.method_name},
            timeout=deferred.timeout,
        )

    def resume_inner(self, context: Any, event: Any = None, **kwargs: Any) -> Any:
        """Resume the provider operator after its trigger fired (called by Airflow, not by users)."""
        method = kwargs.pop(_INNER_METHOD, "execute_complete")
        platform = self.platform()
        self._inner = fail_fast(self.body_for(platform.target))(context, platform)
        try:
            result = getattr(self._inner, method)(context, event, **kwargs)
        except TaskDeferred as deferred:
            raise self._rerouted(deferred) from None
        return self.finish(context, result)

    def finish(self, context: Any, result: Any) -> Any:
        """Turn a delegated provider operator's result into the step's XCom (override per step)."""
        return result

    def on_kill(self) -> None:
        if self._inner is not None:
            self._inner.on_kill()
        proc = getattr(self, "_process", None)
        if proc is not None and proc.poll() is None:
            import os
            import signal

            os.killpg(proc.pid, signal.SIGTERM)


class Step(StepMixin, BaseOperator):
    """A task whose body depends on the target."""

    # An own ``__init__`` without defaults: Airflow reads the defaults of every ``__init__`` between an
    # operator class and ``BaseOperator`` when it maps a task (``partial``), and an inherited one would
    # report ``inlets=None`` / ``outlets=None`` for mapped steps.
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    def execute(self, context: Any) -> Any:
        return self.run_step(context)


class SensorStep(StepMixin, BaseSensorOperator):
    """A sensor whose wait depends on the target: the ``local`` body usually pokes
    (:meth:`poke_locally`), the ``gcp`` body returns a deferrable provider sensor."""

    def __init__(self, **kwargs: Any) -> None:  # see Step.__init__
        super().__init__(**kwargs)

    def execute(self, context: Any) -> Any:
        return self.run_step(context)

    def poke_locally(self, context: Any) -> Any:
        """Run this sensor's own poke loop (reschedule mode frees the worker slot between pokes)."""
        return BaseSensorOperator.execute(self, context)
