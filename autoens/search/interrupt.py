"""Ctrl-C during a search: the first one ends the search, a second one aborts.

A ``KeyboardInterrupt`` raised wherever the main thread happens to be (in Optuna's
``tell``, between the cache's ``put`` and the study update, ...) could lose a finished
trial or leave the study half-updated. So while a search runs, SIGINT only sets a
flag: the loop stops proposing, records every trial that finished, stops the running
ones (recorded as ``cancelled``, so a resumed search runs them again) and returns
what finished, from which ``fit`` builds the ensemble. A second SIGINT restores the
previous handler and raises ``KeyboardInterrupt`` at once.

The handler is installed only in the main thread (Python delivers signals there) and
only over Python's default handler: a handler of the caller's own, or an ignored
SIGINT, is left alone.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

__all__ = ["SigintGuard"]


class SigintGuard:
    """Context manager: the first SIGINT sets :attr:`requested`, the second raises."""

    def __init__(self) -> None:
        self._requested = threading.Event()
        self._previous: Any = None
        self.installed = False

    @property
    def requested(self) -> bool:
        """Whether a first Ctrl-C asked the search to stop."""
        return self._requested.is_set()

    def __enter__(self) -> SigintGuard:
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self.installed = True
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._requested.is_set():
            self._restore()
            raise KeyboardInterrupt
        self._requested.set()

    def _restore(self) -> None:
        if self.installed:
            self.installed = False
            signal.signal(signal.SIGINT, self._previous)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._restore()
