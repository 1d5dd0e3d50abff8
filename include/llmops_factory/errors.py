"""Error bases shared by every stage.

``DeterministicError`` marks a failure that cannot change on retry: invalid input, a validation that
failed on the data as it is, a missing or invalid setting. The step base class of the Airflow plugins
turns it into a failure without retries (``AirflowFailException``), so on-call sees the message at
once instead of after the retry back-off.
"""

from __future__ import annotations


class DeterministicError(Exception):
    """A failure that a retry cannot fix; the message says what to change."""


class TaskInputError(DeterministicError, ValueError):
    """A task's input (a param, an upstream hand-off, a stored file) is missing or invalid."""
