"""How a ``gpubp`` command behaves as a process, whatever it computes.

- **Standard output whose reader has gone** (``gpubp train | head -4``): the command goes on and its output goes
  to ``/dev/null``, as Python's documentation advises for ``BrokenPipeError``, so training still saves its model
  and nothing fails when the interpreter flushes its streams at exit.
- **SIGTERM** (``docker stop``, Slurm, ``timeout``) is handled like Ctrl-C: a ``Stopped`` exception unwinds the
  command, which says in one line where things stand, and the process exits with status 128 + the signal number.
  Inside ``signals_deferred()`` (a checkpoint being written) the signal waits until the block is done.
- **Python warnings** (a ``RuntimeWarning`` from NumPy on odd input) never land in the middle of the output: they
  are held while the command runs, dropped when it fails (its one error line says what is wrong), and printed one
  line each once it has succeeded; gpubp's own (``TrainingWarning``) name their knobs as flags.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import warnings
from contextlib import contextmanager

from ..errors import GpubpError
from .settings import in_flags

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopped(KeyboardInterrupt):
    """The command was asked to stop by a signal; ``state`` may say what the stop leaves behind."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.state = ""

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


def stopped(exc: KeyboardInterrupt) -> Stopped:
    """``exc`` as a ``Stopped`` (a bare KeyboardInterrupt is Ctrl-C)."""
    return exc if isinstance(exc, Stopped) else Stopped(signal.SIGINT)


class PipeSafeStdout:
    """Standard output that, once the reader has closed the pipe, sends everything to ``/dev/null`` instead."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            self._to_devnull()
            return len(text)

    def flush(self):
        try:
            self.stream.flush()
        except BrokenPipeError:
            self._to_devnull()

    def _to_devnull(self):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self.stream.fileno())  # what is still buffered, and every later write, goes nowhere
        os.close(devnull)

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _raise_stopped(signum, _frame):
    raise Stopped(signum)


@contextmanager
def signals_deferred():
    """Hold SIGINT and SIGTERM until the block ends, so that what it writes and records stays consistent."""
    arrived, handlers = [], {}
    if threading.current_thread() is threading.main_thread():
        handlers = {
            signum: signal.signal(signum, lambda signum, _frame: arrived.append(signum))
            for signum in HANDLED_SIGNALS
            if signal.getsignal(signum) is _raise_stopped
        }
    try:
        yield
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    if arrived:
        raise Stopped(arrived[0])


@contextmanager
def command_process():
    """Run a command inside: a pipe-safe stdout, SIGINT and SIGTERM as ``Stopped``; yields the warnings held."""
    stdout = sys.stdout
    if stdout is not None:  # None where the command was started with stdout closed: print() then writes nothing
        sys.stdout = PipeSafeStdout(stdout)
    handlers = {}
    if threading.current_thread() is threading.main_thread():
        handlers = {
            signum: signal.signal(signum, _raise_stopped)
            for signum in HANDLED_SIGNALS
            if signal.getsignal(signum) is not signal.SIG_IGN
        }  # nohup and background jobs ignore them
    try:
        with warnings.catch_warnings(record=True) as held:
            yield held
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        if stdout is not None:
            sys.stdout.flush()
        sys.stdout = stdout


def report_warnings(command: str, held) -> None:
    """Each distinct warning held during a successful command, as one line on stderr; gpubp's own name their knobs
    as flags."""
    messages = [(in_flags(w.message) if isinstance(w.message, GpubpError) else w.message, w.category) for w in held]
    for text in dict.fromkeys(
        f"{' '.join(str(message).split())} ({category.__name__})" for message, category in messages
    ):
        print(f"gpubp {command}: warning: {text}", file=sys.stderr)
