"""The errors gpubp raises for problems a user can fix.

Each message names the problem and what to do about it, so the command line can print it as one line with no
traceback. Everything else (a bug in gpubp) stays an ordinary exception with its traceback.

A message that names a knob (a keyword of the API, a flag of the command line, a parameter of the estimator) is a
template: ``{eta}`` stands for the knob's name and ``{device='cpu'}`` for the knob set to a value, for each knob
the error lists. ``str(error)`` names them as Python does (``eta``, ``device='cpu'``); ``renamed`` names them as
another face of gpubp does (``--lr``, ``--device cpu``; ``learning_rate_init``), so that no library message ever
speaks in the command line's words, or the other way round.
"""

from __future__ import annotations

import re
from collections.abc import Callable

PLACEHOLDER = re.compile(r"\{(\w+)(?:=([^{}]*))?\}")


class GpubpError(Exception):
    """A problem with the user's input, files or machine; the message says how to fix it."""

    def __init__(self, message: str = "", *knobs: str):
        self.template, self.knobs = message, knobs
        super().__init__(self.fill(python_name))

    @property
    def knob(self) -> str | None:
        """The knob at fault (the first the message names), if any."""
        return self.knobs[0] if self.knobs else None

    def fill(self, name: Callable[[str, str | None], str]) -> str:
        """The message with each knob placeholder written by ``name(knob, value or None)``."""
        if not self.knobs:
            return self.template

        def write(match):
            knob, value = match.groups()
            return name(knob, value) if knob in self.knobs else match.group(0)

        return PLACEHOLDER.sub(write, self.template)

    def renamed(self, name: Callable[[str, str | None], str]) -> GpubpError:
        """The same error, of the same type, with its knobs named by ``name``; itself where it names none."""
        if not self.knobs:
            return self
        renamed = type(self).__new__(type(self))
        Exception.__init__(renamed, self.fill(name))
        renamed.__dict__.update(self.__dict__)
        return renamed

    def followed_by(self, text: str) -> GpubpError:
        """The same error, of the same type and knobs, its message followed by ``; text``."""
        extended = type(self).__new__(type(self))
        extended.__dict__.update(self.__dict__)
        extended.template = f"{self.template}; {text}"
        Exception.__init__(extended, extended.fill(python_name))
        return extended


def python_name(knob: str, value: str | None) -> str:
    """A knob as Python code writes it: ``eta``, ``device='cpu'``."""
    return knob if value is None else f"{knob}={value}"


class InputError(GpubpError, ValueError):
    """An argument or data array that gpubp cannot train or evaluate on."""


class DataError(InputError):
    """A dataset file or folder that is missing, malformed or inconsistent."""


class OutOfMemoryError(InputError, MemoryError):
    """Not enough memory for what was asked: refused before anything was allocated (the message gives the
    figures), or an allocation that failed anyway (NumPy's ``MemoryError``, CuPy's ``OutOfMemoryError``), named in
    one line; ``except MemoryError`` catches it too."""


class DeviceUnavailableError(GpubpError, RuntimeError):
    """A GPU was asked for and cannot be had."""


class ModelFileError(GpubpError):
    """A model file that is missing, corrupt, truncated, not gpubp's, or from a newer gpubp."""


class TrainingDiverged(GpubpError):
    """The weights became NaN or infinite during an epoch: the learning rate is too large."""

    def __init__(self, epoch: int, eta: float):
        super().__init__(
            f"training diverged in epoch {epoch}: the weights became NaN or infinite, so the learning "
            f"rate eta = {eta:g} is too large for this network; try a smaller one, such as {eta / 10:g}"
        )
        self.epoch = epoch
