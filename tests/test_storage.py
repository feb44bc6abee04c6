"""Save and load: a round trip is exact, a save is all-or-nothing, and a bad file gives a clear ModelFileError."""

import os

import numpy as np
import pytest

import gpubp

from helpers import random_problem


@pytest.fixture
def trained(tmp_path):
    net = gpubp.Network((6, 5, 3), cost="cross-entropy", dtype="float64", device="cpu", seed=4)
    x, y = random_problem((6, 5, 3), m=30)
    net.SGD((x, y), 2, 8, 0.5)
    path = tmp_path / "model.npz"
    gpubp.save(net, path)
    return net, path, x


def test_round_trip_is_exact(trained):
    net, path, x = trained
    loaded = gpubp.load(path, device="cpu")
    assert (loaded.sizes, loaded.cost, loaded.dtype) == (net.sizes, net.cost, net.dtype)
    for a, b in zip(net.parameters()[0] + net.parameters()[1], loaded.parameters()[0] + loaded.parameters()[1]):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert np.array_equal(net.feedforward(x), loaded.feedforward(x))


def test_a_failed_save_leaves_the_previous_file_intact(trained, monkeypatch):
    net, path, x = trained
    before = path.read_bytes()
    other = gpubp.Network((6, 5, 3), dtype="float64", device="cpu", seed=99)

    def crash_midway(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash_midway)
    with pytest.raises(gpubp.ModelFileError, match="cannot write .*disk full; nothing was changed there"):
        gpubp.save(other, path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == ["model.npz"]  # no temporary file left behind
    assert np.array_equal(gpubp.load(path, device="cpu").feedforward(x), net.feedforward(x))


def test_save_into_a_missing_folder_or_onto_a_folder_says_so(trained, tmp_path):
    net, _, _ = trained
    with pytest.raises(gpubp.ModelFileError, match="No such file or directory; check that its folder exists"):
        gpubp.save(net, tmp_path / "no" / "such" / "model.npz")
    with pytest.raises(gpubp.ModelFileError, match="it is a folder"):
        gpubp.save(net, tmp_path)


def test_init_is_saved_and_version_1_2_and_3_files_still_load(tmp_path):
    """Format 2 records the initializer, format 3 the labels, format 4 the units; a format-1 file (before init
    existed: always normal, σ units), a format-2 file (no labels) and a format-3 file (σ units) load unchanged."""
    net = gpubp.Network((6, 5, 3), dtype="float64", device="cpu", seed=4, init="scaled")
    gpubp.save(net, tmp_path / "scaled.npz")
    assert gpubp.load(tmp_path / "scaled.npz", device="cpu").init == "scaled"
    with np.load(tmp_path / "scaled.npz") as npz:
        assert int(npz["gpubp_format"]) == gpubp.model.FORMAT_VERSION == 5
        version_3 = {name: npz[name] for name in npz.files if name != "units"}
        version_1 = {name: npz[name] for name in version_3 if name != "init"}
    np.savez(tmp_path / "v3.npz", **{**version_3, "gpubp_format": np.int64(3)})
    three = gpubp.load(tmp_path / "v3.npz", device="cpu")
    assert (three.init, three.activations, three.output) == ("scaled", ("sigmoid",), "sigmoid")
    np.savez(tmp_path / "v2.npz", **{**version_3, "gpubp_format": np.int64(2)})
    assert gpubp.load(tmp_path / "v2.npz", device="cpu").labels is None
    np.savez(tmp_path / "old.npz", **{**version_1, "gpubp_format": np.int64(1)})
    old = gpubp.load(tmp_path / "old.npz", device="cpu")
    assert old.init == "normal" and old.sizes == net.sizes
    assert all(np.array_equal(a, b) for a, b in zip(old.parameters()[0], net.parameters()[0]))


def rewrite(path, **changes):
    with np.load(path) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays.update(changes)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "corrupt, truncated or not an .npz"),
        (lambda p: p.write_bytes(b"\x00garbage" * 40), "corrupt, truncated or not an .npz"),
        (lambda p: p.write_text("w0,b0\n1,2\n"), "corrupt, truncated or not an .npz"),
        (lambda p: np.savez(p, X=np.zeros(3)), "not a gpubp model"),
        (lambda p: rewrite(p, gpubp_format=np.int64(99)), "newer gpubp (model format 99"),
        (lambda p: rewrite(p, w1=np.zeros((2, 2))), "damaged gpubp model"),
        (lambda p: rewrite(p, b0=None), "damaged gpubp model"),
        (lambda p: rewrite(p, cost=np.array("hinge")), "damaged gpubp model"),
        (lambda p: rewrite(p, init=np.array("xavier")), "damaged gpubp model"),
        (lambda p: rewrite(p, init=None), "damaged gpubp model"),
        (lambda p: rewrite(p, sizes=np.array([6, -5, 3])), "damaged gpubp model"),
        (
            lambda p: rewrite(p, w0=np.full((5, 6), np.nan)),
            "holds NaN or infinite weights: it was saved from a diverged run",
        ),
        (lambda p: rewrite(p, w0=np.array([{"pickled": 1}], dtype=object)), "which gpubp never loads"),
        (lambda p: rewrite(p, labels=np.array([1, 2])), "damaged gpubp model (the network's labels must be 3"),
    ],
)
def test_a_bad_model_file_gives_a_clear_error(trained, damage, message):
    _, path, _ = trained
    damage(path)
    with pytest.raises(gpubp.ModelFileError) as info:
        gpubp.load(path, device="cpu")
    assert message in str(info.value) and str(path) in str(info.value)


def test_a_missing_model_file_is_named(tmp_path):
    with pytest.raises(gpubp.ModelFileError, match="does not exist"):
        gpubp.load(tmp_path / "nope.npz")


@pytest.mark.parametrize("name", ["sizes", "gpubp_format", "w0", "b1", "cost", "labels"])
def test_extra_arrays_cannot_replace_the_models_own_entries(trained, tmp_path, name):
    """extra={"sizes": …} used to overwrite the sizes and write a file that load refused."""
    net, path, _ = trained
    before = path.read_bytes()
    with pytest.raises(gpubp.InputError, match=f"extra entry '{name}' would replace the model's own {name}"):
        gpubp.save(net, path, extra={name: np.array([1, 2, 3])})
    assert path.read_bytes() == before


def test_extra_arrays_of_objects_are_refused_before_anything_is_written(trained, tmp_path):
    with pytest.raises(gpubp.InputError, match="array of Python objects, which load would refuse"):
        gpubp.save(trained[0], tmp_path / "other.npz", extra={"notes": np.array([{"a": 1}], dtype=object)})
    assert not (tmp_path / "other.npz").exists()


@pytest.mark.parametrize("labels", [[10, 20, 30], ["a", "b", "c"], [True, False, 3.5], np.array([b"x", b"y", b"z"])])
def test_labels_are_saved_and_loaded_without_pickle(tmp_path, labels):
    net = gpubp.Network([4, 5, 3], device="cpu", seed=0)
    net.labels = np.asarray(labels)
    gpubp.save(net, tmp_path / "model.npz")
    loaded = gpubp.load(tmp_path / "model.npz", device="cpu")
    expected = [v.decode() if isinstance(v, bytes) else v for v in np.asarray(labels).tolist()]
    assert loaded.labels.tolist() == expected
    with np.load(tmp_path / "model.npz", allow_pickle=False) as npz:
        assert int(npz["gpubp_format"]) == gpubp.model.FORMAT_VERSION


@pytest.mark.parametrize(
    "labels, message", [([1, 2], "must be 3 numbers, bools or strings, one per class"), ([1, 1, 2], "a class twice")]
)
def test_labels_that_do_not_name_each_class_once_are_refused(tmp_path, labels, message):
    net = gpubp.Network([4, 5, 3], device="cpu", seed=0)
    net.labels = labels
    with pytest.raises(gpubp.InputError, match=message):
        gpubp.save(net, tmp_path / "model.npz")


def test_a_one_output_model_carries_the_labels_of_its_two_classes(tmp_path):
    net = gpubp.Network([4, 5, 1], device="cpu", seed=0)
    net.labels = ["no", "yes"]
    gpubp.save(net, tmp_path / "model.npz")
    assert gpubp.load(tmp_path / "model.npz", device="cpu").labels.tolist() == ["no", "yes"]
    net.labels = ["yes"]
    with pytest.raises(gpubp.InputError, match="must be 2 numbers"):
        gpubp.save(net, tmp_path / "model.npz")
