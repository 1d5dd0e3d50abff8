"""Exception bases shared by every stage.

``DeterministicError`` marks a failure that a retry cannot change: the input data or the configuration
is wrong, and running the same task again on the same input fails the same way. The Airflow step base
class maps it to an immediate failure (no retries), with the same message. Transient failures (a
network error, a preempted worker, a partition that has not landed yet) must not derive from it.
"""

from __future__ import annotations


class DeterministicError(Exception):
    """A failure that a retry on the same input cannot fix (bad data, bad configuration)."""
