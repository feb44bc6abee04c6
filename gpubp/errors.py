"""The errors gpubp raises for problems a user can fix.

Each message names the problem and what to do about it, so the command line can print it as one line with no
traceback. Everything else (a bug in gpubp) stays an ordinary exception with its traceback.

A message that names a knob (a keyword of the API, a flag of the command line, a parameter of the estimator) is a
template: ``{eta}`` stands for the knob's name and ``{device='cpu'}`` for the knob set to a value, for each knob
the error lists. ``str(error)`` names them as Python does (``eta``, ``device='cpu'``); ``renamed`` names them as
another face of gpubp does (``--lr``, ``--device cpu``; ``learning_rate_init``), so that no library message ever
speaks in the command line's words, or the other way round. An error pickles with its message and attributes as
they are (joblib sends a worker's errors back to its parent that way), whatever its constructor takes.
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
        return rebuilt(type(self), self.fill(name), self.__dict__)

    def followed_by(self, text: str) -> GpubpError:
        """The same error, of the same type and knobs, its message followed by ``; text``."""
        return self._with_template(f"{self.template}; {text}")

    def preceded_by(self, text: str) -> GpubpError:
        """The same error, of the same type and knobs, its message after ``text: `` (``member 3: …``)."""
        return self._with_template(f"{text}: {self.template}")

    def _with_template(self, template: str) -> GpubpError:
        extended = rebuilt(type(self), "", {**self.__dict__, "template": template})
        Exception.__init__(extended, extended.fill(python_name))
        return extended

    def __reduce__(self):
        # Not (type, args): a subclass's constructor may take other arguments than the message (TrainingDiverged).
        return rebuilt, (type(self), str(self), self.__dict__)


def rebuilt(cls: type, message: str, attributes: dict) -> GpubpError:
    """An error of type ``cls`` with ``message`` and ``attributes``, its constructor not called (see ``renamed``)."""
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(attributes)
    return error


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


class TrainingDiverged(GpubpError, ValueError):
    """The weights became NaN or infinite during an epoch; ``cause`` is why, as the arithmetic shows it (a template
    naming the ``knobs`` at fault). A ``ValueError``, as scikit-learn's fitting errors are.

    ``epoch`` is the epoch that diverged; ``eta`` a learning rate at which the cause is gone, where a smaller one
    removes it (what ``gpubp train --resume … --lr`` can change), else ``None``.
    """

    def __init__(self, epoch: int, cause: str, *knobs: str, eta: float | None = None):
        super().__init__(f"training diverged in epoch {epoch}: {cause}", *knobs)
        self.epoch, self.eta = epoch, eta


class TrainingWarning(GpubpError, UserWarning):
    """Training finished, but its arithmetic shows that the result is likely poor; the message says why and what
    to change. A warning (``warnings.warn``) and a ``GpubpError``: under ``-W error`` it is one line too."""
