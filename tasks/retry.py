"""When Prefect retries a task: transient failures only (I/O, commit conflicts), never a mistake that repeats."""

from __future__ import annotations


def transient(task, task_run, state) -> bool:
    """Prefect ``retry_condition_fn``: False for configuration and data errors, which would fail again."""
    from embedforge.registry.registry import RegistryError
    from embedforge.tasks.store import IdentityMismatch

    try:
        state.result()
    except (RegistryError, IdentityMismatch, LookupError, ValueError, TypeError):
        return False  # unknown key, other encoder's table, no vectors, bad split or label: the same next time
    except Exception:  # anything else (I/O, a commit conflict, a lost server) may pass on a retry
        return True
    return False
