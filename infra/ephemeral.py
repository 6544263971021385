"""Prefect's temporary server dies with the process that started it, even when that process is SIGKILLed.

Prefect starts its ephemeral API as ``python -m uvicorn ...`` (``SubprocessASGIServer``) and stops it from an
``atexit`` hook, which a SIGKILL never runs: the server (about 250 MB) was left to init. Here the same command
runs under a watchdog (``python -m embedforge.infra.ephemeral PARENT_PID ...``) that stops the server as soon
as its parent process is gone. ``tie_ephemeral_servers()`` installs it without importing Prefect: Prefect's
server module is patched when (if ever) it is imported.
"""

from __future__ import annotations

import importlib.abc
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

TARGET = "prefect.server.api.server"
POLL_S = 0.5
GRACE_S = 10.0  # after SIGTERM, how long uvicorn may take to shut down before a hard exit


def tie_ephemeral_servers() -> None:
    """From now on, every temporary Prefect server this process starts exits when this process dies."""
    module = sys.modules.get(TARGET)
    if module is not None:
        _patch(module)
    elif not any(isinstance(f, _PatchOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport())


def tied_command(args: list[str], parent: int | None = None) -> list[str]:
    """``python -m uvicorn ARGS`` -> the same server under the watchdog; any other command unchanged."""
    if len(args) >= 3 and list(args[1:3]) == ["-m", "uvicorn"]:
        return [args[0], "-m", __name__, str(parent or os.getpid()), *args[3:]]
    return list(args)


class _TiedSubprocess:
    """``subprocess`` as Prefect's server module sees it; only its ``Popen`` differs."""

    class Popen(subprocess.Popen):
        def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
            super().__init__(tied_command(list(args)), *rest, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(subprocess, name)


def _patch(module: Any) -> None:
    if not isinstance(module.subprocess, _TiedSubprocess):
        module.subprocess = _TiedSubprocess()


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Finds Prefect's server module with the other finders, and patches it right after it executes."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != TARGET:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                break
        else:
            return None
        execute = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            execute(module)
            _patch(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _watch(parent: int) -> None:
    """Stop this server when its parent is gone (re-parented: getppid changes)."""
    while os.getppid() == parent:
        time.sleep(POLL_S)
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn shuts down gracefully on SIGTERM
    time.sleep(GRACE_S)
    os._exit(1)


def main(argv: list[str]) -> None:
    """``python -m embedforge.infra.ephemeral PARENT_PID UVICORN_ARGS...``"""
    import runpy

    parent = int(argv[1])
    if os.getppid() != parent:  # the parent died before we got here
        sys.exit(1)
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="parent-watch").start()
    sys.argv = ["uvicorn", *argv[2:]]
    runpy.run_module("uvicorn", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv)
