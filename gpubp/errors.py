"""The errors gpubp raises for problems a user can fix.

Each message names the problem and what to do about it, so the command line can print it as one line with no
traceback. Everything else (a bug in gpubp) stays an ordinary exception with its traceback.
"""


class GpubpError(Exception):
    """A problem with the user's input, files or machine; the message says how to fix it."""


class InputError(GpubpError, ValueError):
    """An argument or data array that gpubp cannot train or evaluate on."""


class DataError(InputError):
    """A dataset file or folder that is missing, malformed or inconsistent."""


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
