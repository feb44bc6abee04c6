"""``gpubp.Network``: the lecture's network (``gpubp.model``) with Nielsen's ``SGD``, which trains it; and
``gpubp.NetworkArray``, many such networks trained at once.

``SGD(training_data, epochs, mini_batch_size, eta, test_data=None, **knobs)`` takes every other knob of
``TrainingConfig`` as a keyword; its signature and docstring are made from those declarations, so that
``help(Network.SGD)`` lists each knob with its default and help, and a knob declared there is a keyword here. A
``NetworkArray``'s ``SGD`` takes the same knobs, each one value for every member or a list with one per member.
"""

from __future__ import annotations

import inspect
import textwrap

import numpy as np

from . import model
from .config import SettingError
from .errors import InputError
from .training.array import ArrayHistory, ArrayTrainer
from .training.config import TrainingConfig
from .training.history import History
from .training.trainer import Trainer

POSITIONAL = ("epochs", "mini_batch_size", "eta")  # Nielsen's SGD(training_data, epochs, mini_batch_size, eta)
RUN_OPTIONS = {
    "sample_weight": (
        None,
        "one weight >= 0 per training row, scaling its share of the cost (an integer weight counts "
        "as that many copies of the row)",
    ),
    "monitor_training_cost": (True, "compute the training cost after every epoch (one more pass over the data)"),
    "on_epoch": (None, "called with each epoch's EpochStats"),
    "on_progress": (None, "called with (steps done, steps) about a hundred times an epoch"),
    "history": ((), "a History this network's SGD returned, to continue that run exactly; or EpochStats rows"),
    "comm": (None, "a communicator of gpubp.distributed, for data-parallel training"),
}


class Network(model.Network):
    __doc__ = model.Network.__doc__ + "\n    ``SGD`` trains it by mini-batch stochastic gradient descent.\n"

    def SGD(self, training_data, epochs, mini_batch_size, eta, test_data=None, **knobs) -> History:
        options = {name: knobs.pop(name, default) for name, (default, _) in RUN_OPTIONS.items()}
        unknown = sorted(set(knobs) - set(TrainingConfig.knobs()))
        if unknown:
            raise TypeError(f"SGD() got an unexpected keyword argument {unknown[0]!r}")
        config = TrainingConfig(epochs=epochs, mini_batch_size=mini_batch_size, eta=eta, **knobs)
        history = options.pop("history")
        trainer = getattr(history, "trainer", None)
        if trainer is not None and trainer.net is self:
            trainer.check_latest()
        else:
            trainer = Trainer(self, history)
        return trainer.train(config, training_data, test_data, **options)


def _sgd_signature() -> inspect.Signature:
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    parameters = [inspect.Parameter(name, positional) for name in ("self", "training_data", *POSITIONAL)]
    parameters.append(inspect.Parameter("test_data", positional, default=None))
    keyword = inspect.Parameter.KEYWORD_ONLY
    knobs = {name: default for name, default in TrainingConfig.defaults().items() if name not in POSITIONAL}
    parameters += [inspect.Parameter(name, keyword, default=default) for name, default in knobs.items()]
    parameters += [inspect.Parameter(name, keyword, default=default) for name, (default, _) in RUN_OPTIONS.items()]
    return inspect.Signature(parameters, return_annotation=History)


def _sgd_doc() -> str:
    def entry(name, text):
        return textwrap.fill(f"``{name}``: {text}.", 116, initial_indent="    ", subsequent_indent="        ")

    knobs = "\n".join(entry(name, knob.help) for name, knob in TrainingConfig.knobs().items())
    options = "\n".join(entry(name, text) for name, (_, text) in RUN_OPTIONS.items())
    return f"""Mini-batch stochastic gradient descent: train up to epoch ``epochs``; return the ``History``.

    ``training_data`` and ``test_data`` are ``(X, y)`` pairs: X (n, n_in), and y either n class labels or an
    (n, n_out) target matrix. Each knob is a field of ``gpubp.training.config.TrainingConfig``:

{knobs}

    And how the run is watched and continued:

{options}
    """


Network.SGD.__signature__ = _sgd_signature()
Network.SGD.__doc__ = _sgd_doc()

ARRAY_OPTIONS = {
    "rows": (None, "one array of training-row indices per member (folds, bootstraps), or None: every member all rows"),
    "shared_order": (False, "every member reads the same rows in the same order, drawn by the first member"),
    "sample_weight": (
        None,
        RUN_OPTIONS["sample_weight"][1] + "; or a list of one such array (or None) per member",
    ),
    "monitor_training_cost": RUN_OPTIONS["monitor_training_cost"],
    "on_epoch": (None, "called with (member, EpochStats) after each member's epoch"),
    "on_progress": RUN_OPTIONS["on_progress"],
    "history": (None, "an ArrayHistory this array's SGD returned, to continue that run exactly"),
    "comm": RUN_OPTIONS["comm"],
}


class NetworkArray(model.NetworkArray):
    __doc__ = model.NetworkArray.__doc__ + (
        "\n    ``SGD`` trains every member at once, each with its own knobs; ``arr[k]`` is a ``gpubp.Network``.\n"
    )
    member_class = Network

    def SGD(self, training_data, epochs, mini_batch_size, eta, test_data=None, **knobs) -> ArrayHistory:
        """Nielsen's ``SGD`` for every member at once (see ``gpubp.Network.SGD``): each knob one value for all, or a
        list of one value per member (a knob whose value is itself a sequence, Adam's ``betas`` or per-layer
        ``dropout``, takes a tuple as one value). ``epochs``, ``mini_batch_size``, ``optimizer`` and ``schedule``
        are one for all. Returns an ``ArrayHistory``: ``history[k]`` is member k's ``History``."""
        options = {name: knobs.pop(name, default) for name, (default, _) in ARRAY_OPTIONS.items()}
        unknown = sorted(set(knobs) - set(TrainingConfig.knobs()))
        if unknown:
            raise TypeError(f"SGD() got an unexpected keyword argument {unknown[0]!r}")
        knobs.update(epochs=epochs, mini_batch_size=mini_batch_size, eta=eta)
        configs = [member_config(knobs, k, self.count) for k in range(self.count)]
        history = check_array_history(options.pop("history"), self.count)
        trainer = getattr(history, "trainer", None)
        if trainer is None or trainer.arr is not self:
            trainer = ArrayTrainer(self, history)
        result = trainer.train(configs, training_data, test_data, **options)
        result.trainer = trainer
        return result


def check_array_history(history, count: int):
    """``history``: None, or the ``ArrayHistory`` of an earlier ``SGD`` of an array of ``count`` networks."""
    if history is None or (isinstance(history, ArrayHistory) and len(history) == count):
        return history
    got = f"a {type(history).__name__}" + (f" of {len(history)}" if hasattr(history, "__len__") else "")
    raise InputError(
        f"history must be the ArrayHistory that an earlier SGD of this array of {count} networks returned, got {got}: "
        f"pass that ArrayHistory whole (history[k] is one member's), or no history to start afresh"
    )


def member_config(knobs: dict, k: int, count: int) -> TrainingConfig:
    """Member ``k``'s configuration: a list (or a NumPy array) gives one value per member, anything else one value
    for all."""
    values = {}
    for name, value in knobs.items():
        if isinstance(value, np.ndarray) and value.ndim:
            value = value.tolist()
        if isinstance(value, list):
            if len(value) != count:
                raise InputError(
                    f"{{{name}}} lists {len(value)} values for an array of {count} networks: give one value per "
                    f"member, or one value for all (a per-layer or per-beta value as a tuple)",
                    name,
                )
            value = value[k]
        values[name] = value
    try:
        return TrainingConfig(**values)
    except SettingError as exc:
        raise exc.preceded_by(f"member {k}") from None


def load(path, device=None) -> Network | NetworkArray:
    """Read a network (or a network array) saved by ``gpubp.save`` onto ``device`` (see ``gpubp.get_backend``),
    ready to train on."""
    return model.load(path, device, Network, NetworkArray)
