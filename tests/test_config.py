"""One place for every knob: each is declared once (gpubp/config.py's ``knob``), and the API, the command line, the
checkpoints and the estimator all derive from that declaration."""

import inspect
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

import gpubp
from gpubp.cli import build_parser
from gpubp.cli.settings import CONFIGS, KNOBS, RunSettings, flag_name
from gpubp.model import NetworkConfig
from gpubp.training import TrainingConfig, load_checkpoint, save_checkpoint
from gpubp.training.config import held_out_rows


def test_importing_the_model_leaves_training_unimported():
    code = "import sys, gpubp.model; print(sorted(m for m in sys.modules if m.startswith('gpubp.training')))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_sgd_shows_every_training_knob_with_its_default_and_help():
    signature = inspect.signature(gpubp.Network.SGD)
    for name, default in TrainingConfig.defaults().items():
        if name not in ("epochs", "mini_batch_size", "eta"):
            assert signature.parameters[name].default == default
            assert signature.parameters[name].kind is inspect.Parameter.KEYWORD_ONLY
    assert list(signature.parameters)[:6] == ["self", "training_data", "epochs", "mini_batch_size", "eta", "test_data"]
    doc = gpubp.Network.SGD.__doc__
    assert all(f"``{name}``" in doc for name in TrainingConfig.knobs())
    with pytest.raises(TypeError, match="unexpected keyword argument 'learning_rate'"):
        gpubp.Network([2, 2]).SGD((np.zeros((4, 2)), [0, 1, 0, 1]), 1, 2, 0.1, learning_rate=0.1)


def test_network_takes_its_knobs_defaults_from_the_declarations():
    signature = inspect.signature(gpubp.Network)
    assert {name: signature.parameters[name].default for name in NetworkConfig.knobs()} == NetworkConfig.defaults()


def test_every_knob_has_one_flag_whose_help_gives_the_declared_default():
    """A default of None is shown as what it stands for (--output's "the cost's own: …"), where its rule says."""
    train = next(a for a in build_parser()._subparsers._group_actions[0].choices.items() if a[0] == "train")[1]
    by_dest = {action.dest: action for action in train._actions}
    for name, (part, declared) in KNOBS.items():
        action = by_dest[name]
        assert action.option_strings == [declared.flag] and action.default is None
        default = declared.flag_default if declared.flag_default is not None else CONFIGS[part].defaults()[name]
        if "(default" in declared.help:  # a help that says its default itself (--data-dir's usual places)
            assert action.help == declared.help, name
            continue
        none = declared.check.none_means or "none"  # what None stands for, where the knob says
        shown = none if default is None else f"{default:g}" if isinstance(default, float) else None
        assert "(default: " in action.help and (shown is None or f"(default: {shown})" in action.help), name


def test_one_error_speaks_each_faces_words():
    with pytest.raises(gpubp.SettingError) as info:
        TrainingConfig(mini_batch_size=5, validation_fraction=0.5).rows(8)
    error = info.value
    assert str(error) == (
        "validation_fraction=0.5 leaves 4 training samples, fewer than one mini-batch of 5: hold out less or use a "
        "smaller mini_batch_size"
    )
    assert str(error.renamed(flag_name)) == (
        "--validation-fraction 0.5 leaves 4 training samples, fewer than one mini-batch of 5: hold out less or use a "
        "smaller --batch-size"
    )
    assert isinstance(error.renamed(flag_name), gpubp.SettingError) and error.knob == "validation_fraction"


@pytest.mark.parametrize("name", ["optimizer", "schedule", "cost", "init", "dtype"])
def test_a_name_is_the_same_knob_in_any_case_everywhere(name):
    config = TrainingConfig if name in TrainingConfig.knobs() else NetworkConfig
    value = config.defaults()[name] or config.knobs()[name].check.requirement.split(", ")[0].removeprefix("one of ")
    assert config.check_one(name, f" {value.upper()} ") == value


def test_the_hold_out_is_one_rule_for_the_api_the_command_line_and_the_estimator(tmp_path):
    """n = 25, validation_fraction = 0.1: 2 rows held out (round(2.5)), 23 left, so batch_size=23 fits exactly;
    the estimator used to count 3 (ceil) and warn that 22 rows were left."""
    sklearn = pytest.importorskip("gpubp.sklearn")
    x, y = np.random.default_rng(0).random((25, 4)), np.arange(25) % 2
    assert held_out_rows(25, 0.1) == 2 and TrainingConfig(mini_batch_size=23, validation_fraction=0.1).rows(25) == (
        23,
        2,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = sklearn.NetworkClassifier(
            hidden_layer_sizes=(3,),
            batch_size=23,
            early_stopping=True,
            validation_fraction=0.1,
            max_iter=2,
            random_state=0,  # unseeded, three ReLUs sometimes all end at 0, and the fit warns of it
        ).fit(x, y)
    assert clf.n_iter_ == 2


def test_a_checkpoint_stores_the_training_configuration_as_a_dict(tmp_path):
    x, y = np.random.default_rng(0).random((30, 4)), np.arange(30) % 3
    history = gpubp.Network([4, 5, 3], device="cpu", seed=1).SGD((x, y), 2, 5, 0.1, optimizer="adam", betas=(0.8, 0.9))
    save_checkpoint(tmp_path / "c.npz", history.trainer, {})
    with np.load(tmp_path / "c.npz") as npz:
        run = json.loads(str(npz["checkpoint_run"]))
    assert run["config"] == {
        **TrainingConfig.defaults(),
        "epochs": 2,
        "mini_batch_size": 5,
        "eta": 0.1,
        "optimizer": "adam",
        "betas": [0.8, 0.9],
    }
    trainer, _ = load_checkpoint(tmp_path / "c.npz", device="cpu")
    assert trainer.config == history.trainer.config and trainer.optimizer.steps == 12


def test_the_command_lines_settings_round_trip_through_a_checkpoint_and_refuse_what_no_flag_gives():
    settings = RunSettings.build({"eta": 0.5, "optimizer": "adam", "betas": (0.8, 0.9)}, [30])
    stored = json.loads(json.dumps(settings.to_store()))
    assert stored["lr"] == 0.5 and stored["betas"] == [0.8, 0.9] and stored["seed"] == 0  # keyed by flag
    again = RunSettings.from_store(stored)
    assert again.training == settings.training and again.network == settings.network
    for damage in ({"seed": None}, {"lr": -1}, {"colour": "red"}, {"betas": [0.9]}, {"epochs": "30"}):
        with pytest.raises(gpubp.InputError):
            RunSettings.from_store({**stored, **damage})
    old = {k: v for k, v in stored.items() if k not in ("betas", "eps", "run_id", "lr_changes")}
    assert RunSettings.from_store(old).training.betas == TrainingConfig.betas  # written before Adam's flags
