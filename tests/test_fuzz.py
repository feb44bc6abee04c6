"""Property-based fuzzing (Hypothesis) of the CSV, NPZ and IDX readers and of ``gpubp train`` / ``gpubp predict``.

Each generated file is built from known parts — rows of cells that are numbers by docs/data.md's rule or are not,
a header or none, a byte-order mark, blank lines, quoting, line endings, arrays of given shapes and dtypes — so
the test knows, without gpubp's parser, whether the file is valid and how many data rows it has. For every file
gpubp either reads exactly those rows (exit 0, one label per row), or refuses it with one line (exit 2, no
traceback); either way no file that existed before changes. In-process cases are cheap and get many examples (a
fifth of them for the commands in the fast loop, ``pytest -m "not slow"``); the installed script in a subprocess
gets a few (marked slow), so that the whole file stays within a minute.
"""

import contextlib
import csv
import gzip
import io
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import gpubp
from gpubp.data.idx import IMAGES_MAGIC, read_idx
from gpubp.data.tables import load_npz, read_csv

from helpers import examples, run
from helpers import gpubp as run_gpubp

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ----- CSV files from known cells ---------------------------------------------------------------------------------

SPACES = st.sampled_from(["", "", " ", "\t", "  "])
FINITE_TEXT = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(-1e6, 1e6).map(lambda v: f"{v:.3f}"),
    st.floats(-1e6, 1e6).map(repr),
    st.sampled_from([".5", "5.", "1E5", "+3", "-0", "1e-3", "0.000", "00012", "1.e2", "5e-324"]),
)
ODD_TEXT = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "Infinity", "-NaN", "INF", "+nan", "1e39", "-3.5e38"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)  # NaN, inf, beyond float32
JUNK_TEXT = st.sampled_from(
    [
        "",
        "abc",
        "1_000",
        "0x1",
        "\u0663",
        "\uff13",
        "1e",
        "--1",
        "1,5",
        "\u00a03",
        "nan1",
        "inf5",
        "1 2",
        "\u221e",
        "3\u200b",
        "\ufeff1",
        "1.2.3",
        "e5",
        "true",
        'say "3"',
    ]
)


@st.composite
def cells(draw, junk: bool, odd: bool):
    """``(text, value)``: a number as written (value: its float), or now and then junk (value None) or an odd
    number (NaN, inf, beyond float32)."""
    if junk and draw(st.integers(0, 7)) == 0:
        return draw(JUNK_TEXT), None
    text = draw(ODD_TEXT) if odd and draw(st.integers(0, 7)) == 0 else draw(FINITE_TEXT)
    return draw(SPACES) + text + draw(SPACES), float(text)


@st.composite
def csv_files(draw, width=None, labels=False):
    """``(bytes, expected)``: ``expected`` is the (rows, columns) float array gpubp must read, or None (refuse).

    Each file is clean, or has junk cells, odd numbers, ragged rows or a bad first row, each with some chance.
    """
    n_columns = width or draw(st.integers(2, 4))
    junk, odd, ragged = (draw(st.integers(0, 3)) == 0 for _ in range(3))
    rows = []
    for _ in range(draw(st.integers(0, 12))):
        n = draw(st.integers(1, 6)) if ragged and draw(st.integers(0, 3)) == 0 else n_columns
        row = [draw(cells(junk, odd)) for _ in range(n)]
        if labels and row[0][1] is not None:
            label = draw(st.integers(0, 3))
            row[0] = (str(label) if draw(st.booleans()) else f"{label}.0", float(label))
        rows.append(row)
    header = draw(st.sampled_from(["none"] * 4 + ["names"] * 3 + ["mixed"]))
    if header != "none":
        names = [(f"col{k}", None) for k in range(n_columns)]
        if header == "mixed":
            names[-1] = ("7", 7.0)
        rows.insert(0, names)
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator=newline, quoting=quoting)
    lines = []
    for row in rows:
        text.seek(0), text.truncate()
        writer.writerow([cell for cell, _ in row])
        lines.append(text.getvalue())
        if draw(st.integers(0, 5)) == 0:
            lines.append(draw(st.sampled_from(["", " ", "\t", "  \t"])) + newline)  # a blank line
    body = "".join(lines)
    if body and draw(st.booleans()):
        body = body[: -len(newline)]  # no final line ending
    raw = (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + body.encode()
    return raw, expected_table(rows)


def is_blank(row):
    return len(row) <= 1 and not "".join(cell for cell, _ in row).strip(" \t")


def expected_table(rows):
    """What docs/data.md's CSV rules say these generated rows are: their values, or None where gpubp must refuse."""
    rows = [row for row in rows if not is_blank(row)]
    if not rows:
        return None
    first = rows[0]
    numbers = [value is not None for _, value in first]
    names = [value is None and cell.strip(" \t") for cell, value in first]
    if not any(numbers) and any(names):
        rows = rows[1:]  # a header
    elif any(names):
        return None  # a first row that mixes numbers and names
    elif all(numbers) and [value for _, value in first] in ([*range(len(first))], [*range(1, len(first) + 1)]):
        return None  # 0, 1, … or 1, 2, …: pandas' numbered header, or data? Ambiguous, so refused
    if not rows or any(len(row) != len(rows[0]) for row in rows):
        return None
    if any(value is None for row in rows for _, value in row):
        return None
    return np.array([[value for _, value in row] for row in rows])


@FAST
@given(csv_files())
def test_the_csv_reader_reads_exactly_the_data_rows_or_refuses_in_one_line(file):
    raw, expected = file
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.csv"
        path.write_bytes(raw)
        try:
            values = read_csv(path).values
        except gpubp.DataError as exc:
            assert expected is None, f"refused a valid file: {exc}"
            assert "\n" not in str(exc)
            event("refused")
            return
    event("accepted")
    assert expected is not None, f"accepted an invalid file as {values}"
    assert values.shape == expected.shape and np.array_equal(values, expected, equal_nan=True)


@FAST
@given(st.binary(max_size=300), st.sampled_from([b"", b"\xef\xbb\xbf", b"PK\x03\x04", b"\x93NUMPY", b"\0\0\x08\x03"]))
def test_any_bytes_are_read_or_refused_with_a_gpubp_error(raw, prefix):
    with tempfile.TemporaryDirectory() as folder:
        for name, read in (
            ("data.csv", read_csv),
            ("data.npz", load_npz),
            ("model.npz", gpubp.load),
            ("images", lambda p: read_idx(p, IMAGES_MAGIC)),
        ):
            path = Path(folder) / name
            path.write_bytes(prefix + raw)
            with contextlib.suppress(gpubp.GpubpError):
                read(path)


# ----- NPZ files from known arrays --------------------------------------------------------------------------------


@st.composite
def npz_arrays(draw):
    """``(arrays, expected n)``: the arrays of an NPZ dataset and its number of samples, or None (refuse).

    Each file is clean, or has one or more of: odd shapes, another dtype, labels of another length, bad labels, a
    test split that is half there or of another width.
    """
    odd_shape, odd_dtype, odd_length, odd_labels, odd_test = (draw(st.integers(0, 4)) == 0 for _ in range(5))
    n, width = draw(st.integers(1 - odd_shape, 6)), draw(st.integers(1 - odd_shape, 3))
    dtype = draw(
        st.sampled_from(["complex128", "U3", "bool", "int64"] if odd_dtype else ["float64", "float32", "uint8"])
    )
    x = np.ones(n, dtype) if odd_shape and draw(st.booleans()) else np.ones((n, width), dtype)
    y_length = draw(st.integers(0, 7)) if odd_length else n
    choices = [0.0, 1.0, 2.0, 1.5, -1.0, 1e20, np.nan, np.inf] if odd_labels else [0.0, 1.0, 2.0]
    labels = draw(st.lists(st.sampled_from(choices), min_size=y_length, max_size=y_length))
    y = np.array(labels, np.float64)
    if draw(st.booleans()):
        y = y[:, None]
    arrays = {"X": x, "y": y}
    valid = (
        dtype not in ("complex128", "U3")
        and x.ndim == 2
        and n > 0
        and width > 0
        and y_length == n
        and all(v in (0.0, 1.0, 2.0) for v in labels)
    )
    test = draw(st.sampled_from(["X_test", "y_test", "wider"] if odd_test else ["none", "both"]))
    if test != "none":
        if test != "y_test":
            arrays["X_test"] = np.ones((2, width + (test == "wider")))
        if test != "X_test":
            arrays["y_test"] = np.array([0, 1])
        valid = valid and test == "both"
    return arrays, n if valid else None


@FAST
@given(npz_arrays())
def test_the_npz_reader_pairs_every_sample_with_its_label_or_refuses(case):
    arrays, expected = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.npz"
        np.savez(path, **arrays)
        try:
            rows = load_npz(path)
        except gpubp.DataError as exc:
            assert expected is None, f"refused a valid file: {exc}"
            event("refused")
            return
    event("accepted")
    assert expected is not None and len(rows.x) == len(rows.y) == expected and rows.y.ndim == 1


# ----- IDX files from known headers ------------------------------------------------------------------------------


@st.composite
def idx_files(draw):
    """``(header magic, dims, payload length)`` of an IDX images file: sound, or with one part wrong."""
    magic, dims = IMAGES_MAGIC, draw(st.lists(st.integers(1, 4), min_size=3, max_size=3))
    count, extra = int(np.prod(dims)), 0
    wrong = draw(st.sampled_from(["none", "none", "magic", "dims", "payload"]))
    if wrong == "magic":
        magic = draw(st.sampled_from([0x801, 0x903, 0x804, 0xD03, 0x08000003]))
    if wrong == "dims":
        dims[draw(st.integers(0, 2))] = draw(st.sampled_from([0, 2**31, 2**32 - 1]))
    if wrong == "payload":
        extra = draw(st.sampled_from([-2, -1, 1, 5]))
    return magic, dims, max(0, min(count, 64) + extra)


@FAST
@given(idx_files(), st.booleans())
def test_the_idx_reader_checks_its_header_before_it_trusts_it(file, gz):
    magic, dims, payload = file
    count = 1
    for d in dims:
        count *= d  # Python ints: the header's claim, however large
    raw = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + bytes(payload)
    valid = magic == IMAGES_MAGIC and count > 0 and payload == count
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("images.gz" if gz else "images")
        path.write_bytes(gzip.compress(raw) if gz else raw)
        try:
            images = read_idx(path, IMAGES_MAGIC)
        except gpubp.DataError:
            assert not valid
            event("refused")
            return
    event("accepted")
    assert valid and images.shape == tuple(dims)


# ----- the command line --------------------------------------------------------------------------------------------


def snapshot(folder):
    return {p: (p.read_bytes(), p.stat().st_mode) for p in Path(folder).rglob("*") if p.is_file()}


def check_outcome(status, stdout, stderr, expected_rows, count):
    """Exit 0 with ``expected_rows`` read (``count()`` says how many were), or exit 2 with one line."""
    assert "Traceback" not in stderr
    event(f"exit {status}")
    if status == 2:
        assert len(stderr.strip().splitlines()) == 1 and stderr.startswith("gpubp"), stderr
        return
    assert status == 0, stderr
    assert expected_rows is not None, f"accepted an invalid file: {stdout}{stderr}"
    assert count() == expected_rows, stdout + stderr


def samples_trained(stdout, stderr, folder):
    line = next(line for line in stdout.splitlines() if line.startswith("data: "))
    words = line.split()
    return int(words[2]) + int(words[5])


def labels_predicted(stdout, stderr, folder):
    """The labels predict wrote (to stdout or to --out out.txt), checked against the count it says it read."""
    out = Path(folder) / "out.txt"
    labels = (out.read_text() if out.exists() else stdout).split()
    assert f"read {len(labels)} rows" in stderr and f"wrote {len(labels)} labels" in stderr
    return len(labels)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A model of 3 inputs, in a folder of its own (so that the fuzzed files cannot touch it)."""
    path = tmp_path_factory.mktemp("model") / "model.npz"
    gpubp.save(gpubp.Network([3, 4, 3], device="cpu", seed=0), path)
    return path


TRAIN = ["train", "--data", "data.csv", "--epochs", 1, "--batch-size", 1, "--out", "run", "--quiet", "--device", "cpu"]


def fuzz_command(file, args, what, run, expected_rows, name="data.csv"):
    """Run ``args`` beside ``file`` and an earlier file of the user's; check the outcome and that nothing changed."""
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / name).write_bytes(file)
        (Path(folder) / "labels.txt").write_text("the user's own file\n")
        os.chmod(Path(folder) / "labels.txt", 0o640)
        before = snapshot(folder)
        status, stdout, stderr = run(args, folder)
        after = snapshot(folder)
        if "labels.txt" in args:
            expected_rows = None  # the user's file is there: predict must refuse to replace it
        check_outcome(status, stdout, stderr, expected_rows, lambda: what(stdout, stderr, folder))
    assert {p: after[p] for p in before} == before


def in_process(args, cwd):
    """``gpubp ARGS`` through ``main`` (no subprocess; a traceback is an exception): status, stdout and stderr."""
    result = run(*args, cwd=cwd)
    return result.returncode, result.stdout, result.stderr


def in_subprocess(args, cwd):
    result = run_gpubp(*args, cwd=cwd)
    return result.returncode, result.stdout, result.stderr


def rows_of(table):
    return None if table is None else len(table)


@settings(FAST, max_examples=examples(50))  # each accepted file trains and plots
@given(csv_files(labels=True))
def test_train_in_process_trains_on_every_data_row_or_refuses_in_one_line(file):
    raw, expected = file
    fuzz_command(raw, TRAIN, samples_trained, in_process, rows_of(expected))


@settings(FAST, max_examples=examples(60))
@given(csv_files(width=3), st.sampled_from([[], [], ["--out", "out.txt"], ["--out", "labels.txt"]]))
def test_predict_in_process_labels_every_data_row_or_refuses_in_one_line(model, file, out):
    raw, expected = file
    args = ["predict", model, "data.csv", *out]
    fuzz_command(raw, args, labels_predicted, in_process, rows_of(expected))


@settings(FAST, max_examples=examples(40))
@given(npz_arrays())
def test_train_in_process_on_npz_pairs_every_sample_or_refuses_in_one_line(case):
    arrays, expected = case
    file = io.BytesIO()
    np.savez(file, **arrays)
    if expected is not None and "y_test" in arrays:
        expected += len(arrays["y_test"])  # its own test split: trained on X, tested on X_test
    args = [*TRAIN[:2], "data.npz", *TRAIN[3:]]
    fuzz_command(file.getvalue(), args, samples_trained, in_process, expected, name="data.npz")


@pytest.mark.slow
@SLOW
@given(csv_files(labels=True))
def test_the_gpubp_command_trains_on_every_data_row_or_refuses_in_one_line(file):
    raw, expected = file
    fuzz_command(raw, TRAIN, samples_trained, in_subprocess, rows_of(expected))


@pytest.mark.slow
@SLOW
@given(csv_files(width=3))
def test_the_gpubp_command_labels_every_data_row_or_refuses_in_one_line(model, file):
    raw, expected = file
    fuzz_command(raw, ["predict", model, "data.csv"], labels_predicted, in_subprocess, rows_of(expected))
