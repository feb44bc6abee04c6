"""Issue 10's data classes that are not errors, or are best seen in-process: every data row of a CSV is read once
whatever its encoding details, the CSV number rule, unreadable files, and the Python API's validation; and issue
16's: a first row of column numbers, other separators, unclosed quotes, cells shown as the number rule reads them,
bool labels."""

from pathlib import Path

import numpy as np
import pytest

import gpubp
from gpubp.data import check_classes, load_dataset, read_dataset
from gpubp.data.tables import read_csv

from helpers import one_line_error, run, separable_data

ROWS = separable_data(n=7, features=4)[0]


def csv_text(rows, sep=",", newline="\n", quote=False, pad=""):
    cell = (lambda v: f'"{v:.4f}"') if quote else (lambda v: f"{pad}{v:.4f}{pad}")
    return "".join(sep.join(cell(v) for v in row) + newline for row in rows)


VARIANTS = {
    "plain": csv_text(ROWS).encode(),
    "BOM, data first": b"\xef\xbb\xbf" + csv_text(ROWS).encode(),
    "BOM and header": b"\xef\xbb\xbf" + b"a,b,c,d\n" + csv_text(ROWS).encode(),
    "CRLF": csv_text(ROWS, newline="\r\n").encode(),
    "CR only": csv_text(ROWS, newline="\r").encode(),
    "blank lines": b"\n \n" + csv_text(ROWS).replace("\n", "\n\n\t\n").encode() + b"\n\n",
    "no final newline": csv_text(ROWS).rstrip("\n").encode(),
    "quoted numbers": csv_text(ROWS, quote=True).encode(),
    "spaces around numbers": csv_text(ROWS, pad=" \t").encode(),
    "quoted header": b'"a","b","c","d"\r\n' + csv_text(ROWS, newline="\r\n").encode(),
}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.npz"
    gpubp.save(gpubp.Network([4, 5, 3], device="cpu", seed=0), path)
    return path


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_predict_prints_one_label_per_data_row_and_says_how_many(model, tmp_path, variant):
    (tmp_path / "rows.csv").write_bytes(VARIANTS[variant])
    result = run("predict", model, "rows.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    expected = gpubp.load(model, device="cpu").predict(np.round(ROWS, 4))
    assert result.stdout.split() == [str(label) for label in expected]
    assert f"read {len(ROWS)} rows from rows.csv" in result.stderr
    assert ("after its header row" in result.stderr) == variant.endswith("header")


def test_train_keeps_the_first_row_of_a_file_that_starts_with_a_byte_order_mark(tmp_path):
    x, y = separable_data(n=40, features=4)
    text = "".join(",".join([str(label)] + [f"{v:.4f}" for v in row]) + "\n" for row, label in zip(x, y))
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    result = run("train", "--data", "bom.csv", "--epochs", 1, "--out", "run", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "data: bom.csv, 32 training and 8 test samples" in result.stdout


def test_header_yes_and_no_are_obeyed_exactly(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_bytes(VARIANTS["BOM, data first"])
    assert len(read_csv(path, "no").values) == 7 and len(read_csv(path, "auto").values) == 7
    assert len(read_csv(path, "yes").values) == 6  # told that the first row is a header: it is skipped
    path.write_bytes(VARIANTS["BOM and header"])
    with pytest.raises(gpubp.DataError, match=r"row 1, column 1: 'a' is not a number"):
        read_csv(path, "no")


@pytest.mark.parametrize(
    "cell, number",
    [
        ("3", True),
        ("-0.5", True),
        (".5", True),
        ("5.", True),
        ("+1e5", True),
        ("1E-3", True),
        (" 3 ", True),
        ("\t2\t", True),
        ('"7"', True),
        ("nan", True),
        ("-Inf", True),
        ("infinity", True),
        ("NaN", True),
        ("1_000", False),
        ("0x1", False),
        ("\u0663", False),
        ("\uff13", False),
        ("1e", False),
        ("e5", False),
        ("\u00a03", False),
        ("1 2", False),
        ('"1,5"', False),
        ("--1", False),
        ("1d5", False),
        ("true", False),
    ],
)
def test_one_rule_decides_both_whether_a_cell_is_a_number_and_its_value(tmp_path, cell, number):
    path = tmp_path / "cells.csv"
    path.write_text(f"0,2\n1,{cell}\n", encoding="utf-8")  # not "0,1": that reads as column numbers
    if number:
        table = read_csv(path)
        expected = float(cell.strip('"'))
        assert len(table.values) == 2 and np.array_equal(table.values[1, 1], expected, equal_nan=True)
    else:
        with pytest.raises(gpubp.DataError, match="row 2, column 2"):
            read_csv(path)


def test_a_file_that_cannot_be_opened_is_one_data_error(tmp_path, monkeypatch):
    (tmp_path / "a.csv").write_text("0,2\n1,2\n")
    gpubp.save(gpubp.Network([2, 2], device="cpu", seed=0), tmp_path / "model.npz")

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(gpubp.DataError, match=r"a.csv cannot be read \(Permission denied\)"):
        load_dataset(str(tmp_path / "a.csv"))
    with pytest.raises(gpubp.ModelFileError, match=r"model.npz cannot be read \(Permission denied\)"):
        gpubp.load(tmp_path / "model.npz", device="cpu")


def test_npz_labels_as_a_column_are_accepted(tmp_path):
    x, y = separable_data(n=30, features=4)
    np.savez(tmp_path / "col.npz", X=x, y=y[:, None])
    (x_train, y_train), (x_test, y_test) = load_dataset(str(tmp_path / "col.npz"))
    assert y_train.ndim == 1 and len(y_train) + len(y_test) == 30
    net = gpubp.Network([4, 3, 3], device="cpu", seed=0)
    assert net.evaluate((x, y[:, None])) == net.evaluate((x, y))


@pytest.mark.parametrize(
    "labels, message",
    [
        ([2, 2, 2], "needs at least two classes"),
        ([0, 1, 1000000], "the largest label, 1000000"),
        ([0, 1, 2, 30], "the largest label, 30"),
    ],
)
def test_training_labels_must_number_at_least_two_classes_without_stray_ones(labels, message):
    with pytest.raises(gpubp.DataError, match=message):
        check_classes(np.array(labels))


def test_labels_that_leave_a_few_classes_empty_are_fine():
    assert check_classes(np.array([0, 5, 9])) == 10
    assert check_classes(np.arange(1000) % 10) == 10


@pytest.mark.parametrize("seed", [-1, 1.5, True, "1", 2.0])
def test_a_bad_seed_is_an_input_error(seed):
    with pytest.raises(gpubp.InputError, match=r"seed \(the seed\) must be a whole number >= 0"):
        gpubp.Network([3, 2], device="cpu", seed=seed)


def test_good_seeds_are_accepted():
    a = gpubp.Network([3, 2], device="cpu", seed=np.int64(5))
    b = gpubp.Network([3, 2], device="cpu", seed=5)
    assert np.array_equal(a.parameters()[0][0], b.parameters()[0][0])
    gpubp.Network([3, 2], device="cpu", seed=2**70)
    gpubp.Network([3, 2], device="cpu", seed=None)


@pytest.mark.parametrize(
    "sizes, message",
    [
        ([4, float("inf")], "sizes must be a list of whole numbers"),
        ([4, True, 2], "sizes must be a list of whole numbers"),
        ([4, "5", 2], "sizes must be a list of whole numbers"),
        ([4, float("nan")], "sizes must be a list of whole numbers"),
        ([4, 10**9, 10**9], "GiB of memory but this machine has"),
    ],
)
def test_impossible_sizes_are_input_errors(sizes, message):
    with pytest.raises(gpubp.InputError, match=message):
        gpubp.Network(sizes, device="cpu")


def test_non_finite_weights_are_not_saved_and_the_old_file_stays(tmp_path):
    path = tmp_path / "model.npz"
    good = gpubp.Network([3, 2], device="cpu", seed=0)
    gpubp.save(good, path)
    before = path.read_bytes()
    bad = gpubp.Network([3, 2], device="cpu", seed=1)
    bad.weights[0][0, 0] = np.nan  # as a diverged run leaves it (set_parameters refuses NaN)
    with pytest.raises(gpubp.InputError, match="NaN or infinite weights"):
        gpubp.save(bad, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def test_api_messages_show_values_as_given():
    net = gpubp.Network([2, 3, 2], device="cpu", seed=0)
    with pytest.raises(gpubp.InputError, match=r"found 0\.\.1e\+20") as info:
        net.evaluate((np.ones((2, 2)), np.array([1e20, 0])))
    assert "-9223372036854775808" not in str(info.value)
    with pytest.raises(gpubp.InputError, match=r"X holds 1e\+39 in column 1, beyond the range of float32"):
        net.evaluate((np.array([[0, 0], [1e39, 0]]), [0, 1]))
    with pytest.raises(gpubp.InputError, match="complex numbers"):
        net.predict(np.ones((2, 2)) + 1j)
    net64 = gpubp.Network([2, 3, 2], dtype="float64", device="cpu", seed=0)
    assert net64.evaluate((np.array([[0, 0], [1e39, 0]]), [0, 1])) in (0, 1, 2)


@pytest.mark.parametrize("fraction", [0, 1, -0.5, float("nan"), "x", True])
def test_the_test_fraction_is_checked_wherever_it_is_used(fraction, tmp_path):
    np.savez(tmp_path / "d.npz", X=np.zeros((10, 2)), y=np.arange(10) % 2)
    for name in ("digits", str(tmp_path / "d.npz")):
        with pytest.raises(
            gpubp.InputError, match=r"test_fraction \(the test fraction\) must be a finite number in \(0, 1\)"
        ):
            load_dataset(name, test_fraction=fraction)


def test_an_npz_member_that_claims_more_than_memory_is_refused_not_allocated(tmp_path):
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**13,)})
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as archive:
        for name in ("X.npy", "y.npy"):
            archive.writestr(name, header.getvalue() + bytes(24))
    with pytest.raises(gpubp.DataError, match="huge.npz is not a readable NPZ file"):
        load_dataset(str(tmp_path / "huge.npz"))
    with pytest.raises(gpubp.ModelFileError, match="huge.npz is not a readable model file"):
        gpubp.load(tmp_path / "huge.npz", device="cpu")


def test_a_name_with_a_nul_byte_is_a_data_error():
    with pytest.raises(gpubp.DataError, match="cannot be read: embedded null byte"):
        load_dataset("a\0.csv")


@pytest.mark.parametrize(
    "raw, row",
    [
        (b"0,1\r1,2\r1,\xe9\r", 3),  # Latin-1 with old Mac line endings
        (b"0,1\r\n1,2\r\n" * 2000 + b"1,\xff\r\n", 4001),  # far past the first kilobytes
        ("a,b\n0,1\n".encode("utf-16"), 1),  # UTF-16, byte-order mark and all
    ],
)
def test_a_file_that_is_not_utf8_is_refused_at_its_row(tmp_path, raw, row):
    (tmp_path / "x.csv").write_bytes(raw)
    with pytest.raises(gpubp.DataError, match=rf"x.csv, row {row}: byte 0x[0-9a-f]{{2}} is not UTF-8 text"):
        read_csv(tmp_path / "x.csv")


def test_a_stray_label_is_named_by_its_row_before_the_split(tmp_path):
    np.savez(tmp_path / "a.npz", X=np.ones((4, 2)), y=[0, 1, 0, 1], X_test=np.ones((3, 2)), y_test=[0, 500, 1])
    with pytest.raises(gpubp.DataError, match=r"a.npz, y_test: the largest label, 500 in row 2 \(1 sample"):
        load_dataset(str(tmp_path / "a.npz"))
    (tmp_path / "a.csv").write_text("label,x\n" + "".join(f"{k % 2},{k}\n" for k in range(20)) + "\n4000,1\n")
    with pytest.raises(gpubp.DataError, match=r"a.csv, first column: the largest label, 4000 in row 23"):
        load_dataset(str(tmp_path / "a.csv"))


# ----- issue 16: the first row, separators, quotes and whitespace ----------------------------------------------


def numeric_rows(n=50, features=3):
    x, y = separable_data(n=n, features=features)
    return "".join(",".join([str(label)] + [f"{v:.4f}" for v in row]) + "\n" for row, label in zip(x, y))


@pytest.mark.parametrize("header", ["0,1,2,3", "1,2,3,4", "0.0,1.0,2.0,3.0", '"0","1","2","3"', " 0 ,1, 2,3"])
def test_a_first_row_of_column_numbers_is_refused_under_auto_and_read_as_told(tmp_path, header):
    """pandas' to_csv(index=False) of unnamed columns writes 0,1,…,k−1 above them; auto read it as a data row (51
    labels for 50 rows)."""
    (tmp_path / "p.csv").write_text(header + "\n" + numeric_rows())
    result = run("train", "--data", "p.csv", "--epochs", 1, "--out", "run", cwd=tmp_path)
    line = one_line_error(result, "p.csv, row 1: the first row")
    assert "--header yes if it is a header, --header no if it is data" in line
    assert not (tmp_path / "run").exists()
    assert read_dataset(str(tmp_path / "p.csv"), header="yes").split.rows == 50
    assert read_dataset(str(tmp_path / "p.csv"), header="no").split.rows == 51


@pytest.mark.parametrize(
    "separator, name", [(";", "semicolons (;)"), ("\t", "tabs"), ("|", "bars (|)"), (" ", "spaces")]
)
@pytest.mark.parametrize("header", [False, True])
def test_another_separator_is_named_not_taken_for_a_header(tmp_path, separator, name, header):
    """A semicolon file's first row was taken as a header and the error named row 2, never the separator."""
    rows = numeric_rows().replace(",", separator)
    text = (separator.join(["label", "a", "b", "c"]) + "\n" if header else "") + rows
    (tmp_path / "s.csv").write_text(text)
    row = 2 if header and separator == " " else 1  # "label a b c" is one name with spaces: the data row tells
    line = one_line_error(run("train", "--data", "s.csv", cwd=tmp_path), f"s.csv, row {row}: its cells seem")
    assert f"separated by {name}" in line


def test_a_semicolon_file_with_decimal_commas_is_named(tmp_path):
    (tmp_path / "eu.csv").write_text("0;0,5;1,5\n1;2,5;0,25\n")
    one_line_error(run("train", "--data", "eu.csv", cwd=tmp_path), "row 1: its cells seem separated by semicolons")


@pytest.mark.parametrize(
    "text, row, to",
    [
        ('0,2,1\n1,"2,3\n0,1,2\n1,2,3\n', 2, "to the end of the file"),
        ('0,2,1\n1,"2\n3",4\n0,1,2\n', 2, "to row 3"),
        ('0,2,1\n0,"1,2\n' + "1,2,3\n" * 30_000, 2, "to the end of the file"),  # past csv's field size limit
        ('"0,1,2\n1,2,3\n', 1, "to the end of the file"),
    ],
)
def test_an_unclosed_quote_is_reported_where_it_opened(tmp_path, text, row, to):
    """It was reported at the last row."""
    (tmp_path / "q.csv").write_text(text)
    line = one_line_error(run("train", "--data", "q.csv", cwd=tmp_path), f"q.csv, row {row}: a quote opened")
    assert to in line


@pytest.mark.parametrize("text", ["1,0\xa0,2\n0,1,2\n", "0,2,1\n1,0\xa0,2\n"])
def test_a_cell_is_shown_stripped_as_the_number_rule_strips_it(tmp_path, text):
    """A first-row cell holding 0 and a no-break space was shown as '0', which reads as a number."""
    (tmp_path / "nbsp.csv").write_text(text)
    line = one_line_error(run("train", "--data", "nbsp.csv", cwd=tmp_path), "'0\\xa0'")
    assert "'0'" not in line


def test_npz_labels_of_dtype_bool_are_labels(tmp_path):
    x, y = separable_data(n=40, features=3, classes=2)
    np.savez(tmp_path / "b.npz", X=x, y=y.astype(bool))
    dataset = read_dataset(str(tmp_path / "b.npz"))
    assert dataset.classes.tolist() == [False, True]
    assert np.array_equal(np.concatenate([dataset.train[1], dataset.test[1]]).sum(), y.sum())
