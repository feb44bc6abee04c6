"""Datasets downloaded on first use, with no internet: a server on 127.0.0.1 started here serves generated IDX
files under the real file names, and a registry file (GPUBP_DATA_REGISTRY) gives their checksums and sizes.

Each case runs the ``gpubp`` command (in this process, or in processes of its own where two run at once or one is
killed; or the Python API) against that server and checks what it printed and
what it left in the cache: only whole, verified files under data-file names, and nothing else.
"""

import gzip
import hashlib
import io
import os
import re
import threading
from urllib.parse import urlparse

import numpy as np
import pytest

from gpubp.data import download, load_dataset, registry
from gpubp.errors import DataError

from data_server import (
    GOOD,
    OTHER,
    assert_cached,
    assert_one_line_error,
    cache_contents,
    dead_url,
    start,
    wait_for,
    write_registry,
)
from helpers import run, write_mnist

# --- the real registry ---------------------------------------------------------------------------------------


def test_real_registry_has_the_published_form():
    assert {"mnist", "fashion-mnist"} <= set(registry.BUILT_IN)
    sums = []
    for dataset in registry.BUILT_IN.values():
        assert [f.name for f in dataset.files] == [
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
        ]
        for base in dataset.urls:
            parts = urlparse(base + dataset.files[0].name)
            assert parts.scheme in ("https", "http") and parts.netloc and base.endswith("/")
            assert parts.path.endswith("/train-images-idx3-ubyte.gz") and not parts.query
        for file in dataset.files:
            algorithm, _, digest = file.checksum.partition(":")
            assert algorithm == "md5" and re.fullmatch(r"[0-9a-f]{32}", digest), file
            assert file.size > 0
            sums.append(digest)
        images, labels = dataset.files[0].size, dataset.files[1].size
        assert images > 100 * labels  # gzipped 60,000 images dwarf 60,000 labels: sizes not swapped
    assert len(set(sums)) == len(sums)  # no sum pasted twice
    for name in ("mnist", "fashion-mnist"):  # an https source comes first where one exists
        assert registry.BUILT_IN[name].urls[0].startswith("https://")
    assert registry.BUILT_IN["mnist"].files[0].checksum == "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873"


def test_the_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    mnist = registry.BUILT_IN["mnist"]
    monkeypatch.delenv(download.CACHE_ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert download.cache_folder(mnist) == tmp_path / "xdg" / "gpubp" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # ignored, as the XDG spec says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert download.cache_folder(mnist) == tmp_path / "home" / ".cache" / "gpubp" / "mnist"
    monkeypatch.setenv(download.CACHE_ENV_VAR, str(tmp_path / "mine"))
    assert download.cache_folder(mnist) == tmp_path / "mine" / "mnist"
    assert download.folder_for(mnist, data_dir=tmp_path / "given") == tmp_path / "given"


# --- downloading -----------------------------------------------------------------------------------------------


def test_first_use_downloads_verifies_and_reports_progress_then_uses_the_cache(server, env, tmp_path):
    server.serve("good", GOOD)
    write_registry(tmp_path / "registry.json", [f"{server.base}/good/"])
    result = run("data", "fetch", "testset", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name, data in GOOD.items():  # stderr is not a terminal: a plain line as each file starts and ends
        assert f"downloading {server.base}/good/{name} ({len(data):,} bytes)" in result.stderr
        assert f"saved {tmp_path / 'cache' / 'testset' / name} (sha256 verified)" in result.stderr
    assert f"testset: 4 files in {tmp_path / 'cache' / 'testset'}" in result.stdout
    assert_cached(tmp_path)
    assert len(server.requests) == 4
    umask = os.umask(0)
    os.umask(umask)
    assert all((tmp_path / "cache" / "testset" / name).stat().st_mode & 0o777 == 0o666 & ~umask for name in GOOD)

    listed = run("data", "list", env=env, cwd=tmp_path).stdout
    assert re.search(r"^testset +cached +0\.\d MB +" + re.escape(str(tmp_path / "cache" / "testset")), listed, re.M)
    assert re.search(r"^mnist +not downloaded +11\.6 MB", listed, re.M)
    path = run("data", "path", "testset", env=env, cwd=tmp_path)
    assert path.stdout == f"{tmp_path / 'cache' / 'testset'}\n" and path.stderr == ""

    trained = run("train", "--data", "testset", "--epochs", 1, "--out", "run", "--quiet", env=env, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "data: testset, 60 training and 20 test samples" in trained.stdout
    assert "downloading" not in trained.stderr and len(server.requests) == 4  # files already there are used


def test_train_and_evaluate_download_on_first_use(server, env, tmp_path):
    server.serve("good", GOOD)
    write_registry(tmp_path / "registry.json", [f"{server.base}/good/"])
    trained = run("train", "--data", "testset", "--epochs", 1, "--out", "run", "--quiet", env=env, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "downloading" in trained.stderr and "60 training and 20 test samples" in trained.stdout
    env[download.CACHE_ENV_VAR] = str(tmp_path / "other-cache")
    evaluated = run("evaluate", "run/model.npz", "--data", "testset", env=env, cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "data: testset, test split recorded in the model, 20 samples" in evaluated.stdout
    assert sorted(p.name for p in (tmp_path / "other-cache" / "testset").iterdir()) == sorted([*GOOD, ".lock"])
    assert len(server.requests) == 8


def test_the_python_api_downloads_with_a_tqdm_bar(server, monkeypatch, tmp_path):
    server.serve("good", GOOD)
    monkeypatch.setenv(registry.REGISTRY_ENV_VAR, str(write_registry(tmp_path / "r.json", [f"{server.base}/good/"])))
    monkeypatch.setenv(download.CACHE_ENV_VAR, str(tmp_path / "cache"))
    monkeypatch.delenv(download.MIRROR_ENV_VAR, raising=False)
    with pytest.raises(DataError, match="testset is not downloaded into .*gpubp data fetch testset"):
        load_dataset("testset", download=False)
    assert server.requests == []
    stream = io.StringIO()
    dataset = registry.get("testset")
    download.ensure(dataset, download.cache_folder(dataset), download.Progress(stream, bar=True))
    assert re.search(r"\rtrain-images-idx3-ubyte\.gz: +0%\|", stream.getvalue())  # tqdm's bar, then cleared
    (x, y), (x_test, y_test) = load_dataset("testset", download=True)
    images = np.frombuffer(gzip.decompress(GOOD["train-images-idx3-ubyte.gz"])[16:], np.uint8)
    np.testing.assert_array_equal(x, images.reshape(60, 784) / np.float32(255))
    np.testing.assert_array_equal(y_test, np.arange(20) % 10)
    assert x.shape == (60, 784) and x_test.shape == (20, 784) and len(server.requests) == 4


def test_a_404_from_the_first_mirror_then_the_second(server, env, tmp_path):
    server.serve("good", GOOD)
    write_registry(tmp_path / "registry.json", [f"{server.base}/gone/", f"{server.base}/good/"])
    result = run("data", "fetch", "testset", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"failed: {server.base}/gone/train-images-idx3-ubyte.gz: HTTP 404" in result.stderr
    assert_cached(tmp_path)


def test_a_checksum_mismatch_is_an_error_and_caches_nothing(server, env, tmp_path):
    server.serve("tampered", OTHER)
    write_registry(tmp_path / "registry.json", [f"{server.base}/tampered/"])
    result = run("data", "fetch", "testset", env=env, cwd=tmp_path)
    assert result.returncode == 2
    expected = hashlib.sha256(GOOD["train-images-idx3-ubyte.gz"]).hexdigest()
    assert (
        f"sha256 checksum mismatch (got {hashlib.sha256(OTHER['train-images-idx3-ubyte.gz']).hexdigest()}, "
        f"expected {expected}): the downloaded file was deleted" in result.stderr
    )
    assert "gpubp data: error: cannot download testset" in result.stderr.splitlines()[-1]
    assert cache_contents(tmp_path) == []


def test_a_mirror_cannot_skip_verification(server, env, tmp_path):
    """GPUBP_DATA_MIRROR is tried first, and its files must still match the registry's checksums."""
    server.serve("good", GOOD)
    server.serve("tampered", OTHER)
    write_registry(tmp_path / "registry.json", [dead_url(), f"{server.base}/good/"])
    env[download.MIRROR_ENV_VAR] = f"{server.base}/tampered"
    result = run("data", "fetch", "testset", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("checksum mismatch") == 2  # the images; the labels of both are arange(n) % 10
    assert_cached(tmp_path)
    assert server.requests[:2] == ["/tampered/train-images-idx3-ubyte.gz", "/good/train-images-idx3-ubyte.gz"]


def test_a_mirror_serves_when_the_registry_urls_are_unreachable(server, env, tmp_path):
    server.serve("internal/mirror", GOOD)
    write_registry(tmp_path / "registry.json", [dead_url()])
    env[download.MIRROR_ENV_VAR] = f"{server.base}/internal/mirror/"
    assert run("data", "fetch", "testset", env=env, cwd=tmp_path).returncode == 0
    assert_cached(tmp_path)


@pytest.mark.parametrize("extra", [b"", b"more bytes than the registry promised"])
def test_a_dropped_connection_caches_nothing_and_a_retry_succeeds(server, env, tmp_path, extra):
    name = "train-labels-idx1-ubyte.gz"
    server.serve("flaky", GOOD)
    whole = GOOD[name] + extra
    server.routes[f"/flaky/{name}"] = ("drop", whole, len(whole) // 2 if not extra else len(whole))
    write_registry(tmp_path / "registry.json", [f"{server.base}/flaky/"])
    result = run("data", "fetch", "testset", env=env, cwd=tmp_path)
    assert result.returncode == 2
    reason = "sent more than the expected" if extra else f"after {len(whole) // 2:,} of {len(whole):,} bytes"
    assert reason in result.stderr.splitlines()[-1], result.stderr
    assert cache_contents(tmp_path) == ["train-images-idx3-ubyte.gz"]  # the file before it, whole and verified
    server.routes[f"/flaky/{name}"] = GOOD[name]
    retry = run("data", "fetch", "testset", env=env, cwd=tmp_path)
    assert retry.returncode == 0, retry.stderr
    assert "train-images-idx3-ubyte.gz" not in retry.stderr  # kept, not fetched again
    assert_cached(tmp_path)


def test_no_server_at_all_gives_the_offline_message(env, tmp_path):
    base = dead_url()
    write_registry(tmp_path / "registry.json", [base])
    result = run("train", "--data", "testset", env=env, cwd=tmp_path)
    line = assert_one_line_error(
        result,
        "gpubp train: error: cannot download testset",
        "Offline, get",
        f"from {base} and put them in {tmp_path / 'cache' / 'testset'}",
        "--data-dir",
    )
    assert all(name in line for name in GOOD)
    assert cache_contents(tmp_path) == []


def test_a_stalled_server_times_out_and_the_next_mirror_serves(server, monkeypatch, tmp_path):
    stall = threading.Event()
    server.serve("good", GOOD)
    server.routes["/slow/train-images-idx3-ubyte.gz"] = ("stall", GOOD["train-images-idx3-ubyte.gz"], 100, stall)
    monkeypatch.setattr(download, "TIMEOUT_S", 0.5)
    monkeypatch.delenv(download.MIRROR_ENV_VAR, raising=False)
    monkeypatch.setenv(
        registry.REGISTRY_ENV_VAR,
        str(write_registry(tmp_path / "r.json", [f"{server.base}/slow/", f"{server.base}/good/"])),
    )
    folder = tmp_path / "cache"
    stream = io.StringIO()
    try:
        download.ensure(registry.get("testset"), folder, download.Progress(stream, bar=False))
    finally:
        stall.set()
    size = len(GOOD["train-images-idx3-ubyte.gz"])
    assert f"the connection failed after 100 of {size:,} bytes (TimeoutError)" in stream.getvalue()
    assert sorted(p.name for p in folder.iterdir()) == sorted([*GOOD, ".lock"])


@pytest.fixture
def stalled_images(server, tmp_path):
    """The images of a good copy served up to their middle, then held until the event is set."""
    gate = threading.Event()
    server.serve("good", GOOD)
    name = "train-images-idx3-ubyte.gz"
    server.routes[f"/good/{name}"] = ("stall", GOOD[name], len(GOOD[name]) // 2, gate)
    write_registry(tmp_path / "registry.json", [f"{server.base}/good/"])
    yield gate
    gate.set()


def test_two_processes_fetching_at_once_leave_one_good_copy(server, env, tmp_path, stalled_images):
    first = start("data", "fetch", "testset", env=env, cwd=tmp_path, log=tmp_path / "first.log")
    try:
        wait_for(lambda: server.requests, "the first process's request")
        second = start("data", "fetch", "testset", env=env, cwd=tmp_path, log=tmp_path / "second.log")
        try:
            wait_for(
                lambda: "waiting for another gpubp process" in (tmp_path / "second.log").read_text(),
                "the second process to wait for the first",
            )
            stalled_images.set()
            assert second.wait(120) == 0, (tmp_path / "second.log").read_text()
        finally:
            second.kill()
        assert first.wait(120) == 0, (tmp_path / "first.log").read_text()
    finally:
        first.kill()
    assert "downloading http" not in (tmp_path / "second.log").read_text()  # it found the first one's files
    assert len(server.requests) == 4
    assert_cached(tmp_path)


def test_a_killed_download_leaves_no_data_file_and_the_next_run_cleans_up(server, env, tmp_path, stalled_images):
    folder = tmp_path / "cache" / "testset"
    process = start("data", "fetch", "testset", env=env, cwd=tmp_path, log=tmp_path / "killed.log")
    try:
        wait_for(
            lambda: folder.is_dir() and any(p.stat().st_size for p in folder.glob(".*.part")), "the download to start"
        )
    finally:
        process.kill()
        process.wait(60)
    stalled_images.set()
    assert [p.name for p in folder.iterdir() if not p.name.startswith(".")] == []  # only the hidden .part
    assert len(list(folder.glob(".train-images-idx3-ubyte.gz.*.part"))) == 1
    (folder / ".notes.part").write_text("a hidden file of the user's, not gpubp's to delete")
    result = run("data", "fetch", "testset", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert cache_contents(tmp_path) == sorted([*GOOD, ".notes.part"])  # gpubp's leftover .part is gone
    assert all((folder / name).read_bytes() == data for name, data in GOOD.items())


# --- where the files are read from -------------------------------------------------------------------------------


def test_existing_folders_come_before_the_cache_and_are_never_written(env, tmp_path):
    """--data-dir, then ./data/mnist for mnist, then the cache; the user's folders are read as they are."""
    env[download.MIRROR_ENV_VAR] = dead_url()  # any download attempt would fail loudly
    write_registry(tmp_path / "registry.json", [dead_url()])
    write_mnist(tmp_path / "data" / "mnist", n_train=30)
    own = run("train", "--data", "mnist", "--epochs", 1, "--out", "a", "--quiet", env=env, cwd=tmp_path)
    assert own.returncode == 0 and "mnist, 30 training and 20 test samples" in own.stdout, own.stderr
    assert run("data", "path", "mnist", env=env, cwd=tmp_path).stdout == "data/mnist\n"
    write_mnist(tmp_path / "mine", n_train=40, gz=True)
    given = run(
        "train",
        "--data",
        "testset",
        "--data-dir",
        "mine",
        "--epochs",
        1,
        "--out",
        "b",
        "--quiet",
        env=env,
        cwd=tmp_path,
    )
    assert given.returncode == 0 and "testset, 40 training and 20 test samples" in given.stdout, given.stderr
    write_mnist(tmp_path / "cache" / "testset", n_train=50)  # put there by hand, raw: used as they are
    cached = run("train", "--data", "testset", "--epochs", 1, "--out", "c", "--quiet", env=env, cwd=tmp_path)
    assert cached.returncode == 0 and "testset, 50 training and 20 test samples" in cached.stdout, cached.stderr
    assert not (tmp_path / "cache" / "mnist").exists() and not (tmp_path / "cache" / "testset" / ".lock").exists()
    fetched = run("data", "fetch", "mnist", env=env, cwd=tmp_path)
    assert fetched.stdout == "mnist: 4 files in data/mnist (./data/mnist is read before the cache)\n", fetched.stderr
    (tmp_path / "data" / "mnist" / "t10k-labels-idx1-ubyte").unlink()
    assert_one_line_error(
        run("data", "fetch", "mnist", env=env, cwd=tmp_path),
        "data/mnist exists and gpubp reads it before the cache, but t10k-labels-idx1-ubyte is missing",
    )


# --- a cache that is not what the registry says (issue 16) ---------------------------------------------------


def damage(folder, how):
    """Damage the cached train-images file ``how``; returns the path that is now damaged."""
    name = "train-images-idx3-ubyte.gz"
    whole = (folder / name).read_bytes()
    if how == "one byte":
        (folder / name).write_bytes(b"x")
    elif how == "truncated gzip":
        (folder / name).write_bytes(whole[: len(whole) // 2])
    elif how == "bad CRC, same size":
        (folder / name).write_bytes(whole[:-8] + bytes(b ^ 0xFF for b in whole[-8:-4]) + whole[-4:])
    elif how == "a truncated raw file shadowing it":
        (folder / name[:-3]).write_bytes(gzip.decompress(whole)[:1000])
        return folder / name[:-3]
    return folder / name


@pytest.mark.parametrize(
    "how", ["one byte", "truncated gzip", "bad CRC, same size", "a truncated raw file shadowing it"]
)
def test_a_damaged_cached_file_is_marked_by_list_and_replaced_by_fetch(server, env, tmp_path, how):
    """Before the check, any file of the right name was "cached", and gpubp data fetch exited 0."""
    server.serve("good", GOOD)
    write_registry(tmp_path / "registry.json", [f"{server.base}/good/"])
    assert run("data", "fetch", "testset", env=env, cwd=tmp_path).returncode == 0
    folder = tmp_path / "cache" / "testset"
    damaged = damage(folder, how)
    listed = run("data", "list", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"^testset +1 damaged ", listed.stdout, re.M), listed.stdout
    assert f"damaged: {damaged} " in listed.stdout and "gpubp data fetch testset replaces it" in listed.stdout
    refetched = run("data", "fetch", "testset", env=env, cwd=tmp_path)
    assert refetched.returncode == 0, refetched.stderr
    assert f"replaced {damaged}, which " in refetched.stderr
    assert_cached(tmp_path)
    assert re.search(r"^testset +cached ", run("data", "list", env=env, cwd=tmp_path).stdout, re.M)


def test_a_folder_named_like_a_data_file_is_named_never_removed(server, env, tmp_path):
    server.serve("good", GOOD)
    write_registry(tmp_path / "registry.json", [f"{server.base}/good/"])
    assert run("data", "fetch", "testset", env=env, cwd=tmp_path).returncode == 0
    folder = tmp_path / "cache" / "testset"
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    (folder / "t10k-labels-idx1-ubyte.gz").mkdir()
    (folder / "t10k-labels-idx1-ubyte.gz" / "mine.txt").write_text("the user's")
    assert "damaged: " in run("data", "list", env=env, cwd=tmp_path).stdout
    assert_one_line_error(
        run("data", "fetch", "testset", env=env, cwd=tmp_path), "t10k-labels-idx1-ubyte.gz is a folder, not a file"
    )
    assert (folder / "t10k-labels-idx1-ubyte.gz" / "mine.txt").read_text() == "the user's"


def test_a_failed_download_leaves_no_folder_and_no_lock_behind(env, tmp_path):
    """An offline fetch left an empty dataset folder holding a .lock."""
    write_registry(tmp_path / "registry.json", [dead_url()])
    assert run("data", "fetch", "testset", env=env, cwd=tmp_path).returncode == 2
    assert not (tmp_path / "cache").exists()


def test_data_list_prints_nothing_before_its_error(env, tmp_path):
    write_registry(tmp_path / "registry.json", [dead_url()])
    (tmp_path / "afile").write_text("the user's")
    env[download.CACHE_ENV_VAR] = str(tmp_path / "afile")
    result = run("data", "list", env=env, cwd=tmp_path)
    assert result.stdout == ""
    assert_one_line_error(result, "is a file, not a folder")
