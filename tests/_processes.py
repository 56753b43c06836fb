"""Waiting for the worker processes of a search that was killed."""

from __future__ import annotations

import contextlib
import time

import psutil


def still_running(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running: not gone, and not exited but left unreaped (a zombie,
    until init collects it)."""
    running = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.status() != psutil.STATUS_ZOMBIE:
                running.append(process)
    return running


def wait_until_gone(processes: list[psutil.Process], timeout: float = 90) -> list:
    """Wait up to ``timeout`` s (a worker still starting exits once its initializer
    ran, slow on a loaded machine); return those still running."""
    deadline = time.monotonic() + timeout
    while (alive := still_running(processes)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive
