"""Hostile dataset settings — a cache that is a file or cannot be written, a mirror or registry that is not what
it must be — each get one line on stderr and exit status 2, and leave every file as it was; any JSON at all in
a registry file is either a complete registry or one DataError."""

import hashlib
import json

import pytest

from gpubp.data import download, registry
from gpubp.errors import DataError

from data_server import GOOD, assert_one_line_error, write_registry
from helpers import run


def registry_with(**changes):
    """The test registry's entry, changed; a change to None removes the key."""
    files = {n: {"checksum": "md5:" + hashlib.md5(d).hexdigest(), "size": len(d)} for n, d in GOOD.items()}
    entry = {"urls": ["http://127.0.0.1:9/"], "files": files}
    entry.update(changes)
    return {"testset": {k: v for k, v in entry.items() if v is not None}}


def first_file(**spec):
    files = registry_with()["testset"]["files"]
    files["train-images-idx3-ubyte.gz"] = spec
    return registry_with(files=files)


HOSTILE = {
    "cache is a file": ({download.CACHE_ENV_VAR: "{tmp}/afile"}, None, "the dataset cache {tmp}/afile is a file"),
    "cache under a file": (
        {download.CACHE_ENV_VAR: "{tmp}/afile/cache"},
        None,
        "cannot write the testset files into {tmp}/afile/cache/testset (Not a directory)",
    ),
    "cache unwritable": ({download.CACHE_ENV_VAR: "/proc"}, None, "cannot write the testset files into /proc/testset"),
    "cache dataset folder is a file": (
        {download.CACHE_ENV_VAR: "{tmp}"},
        None,
        "cannot write the testset files into {tmp}/testset",
    ),
    "mirror not http": (
        {download.MIRROR_ENV_VAR: "ftp://example.org/mnist"},
        None,
        "GPUBP_DATA_MIRROR: 'ftp://example.org/mnist' is not an http:// or https:// base URL such",
    ),
    "mirror with an unclosed IPv6 bracket": (
        {download.MIRROR_ENV_VAR: "http://[::1"},
        None,
        "GPUBP_DATA_MIRROR: 'http://[::1' is not an http",
    ),
    "mirror with a query": (
        {download.MIRROR_ENV_VAR: "http://127.0.0.1:9/?q#f"},
        None,
        "GPUBP_DATA_MIRROR: 'http://127.0.0.1:9/?q#f' is not an http",
    ),
    "mirror with a bad port": (
        {download.MIRROR_ENV_VAR: "http://127.0.0.1:99999/"},
        None,
        "GPUBP_DATA_MIRROR: 'http://127.0.0.1:99999/' is not an http",
    ),
    "mirror with a newline": (
        {download.MIRROR_ENV_VAR: "http://127.0.0.1:9/a\nb"},
        None,
        "GPUBP_DATA_MIRROR: 'http://127.0.0.1:9/a\\nb' is not an http",
    ),
    "registry missing": ({registry.REGISTRY_ENV_VAR: "{tmp}/nothere.json"}, None, "cannot be read (not a file)"),
    "registry a folder": ({registry.REGISTRY_ENV_VAR: "{tmp}"}, None, "cannot be read (not a file)"),
    "registry a device": ({registry.REGISTRY_ENV_VAR: "/dev/zero"}, None, "cannot be read (not a file)"),
    "registry huge": ({}, " " * (registry.MAX_REGISTRY_BYTES + 1), "larger than 1,048,576 bytes"),
    "registry nested deep": ({}, "[" * 100_000, "is not valid JSON"),
    "registry not UTF-8": ({}, b"\xff\xfe{}", "cannot be read"),
    "registry not JSON": ({}, "{not json", "is not valid JSON"),
    "registry a list": ({}, [], "must hold a JSON object"),
    "registry redefines mnist": ({}, {"mnist": registry_with()["testset"]}, "'mnist' is a built-in dataset"),
    "registry name escapes": ({}, {"../../etc": registry_with()["testset"]}, "dataset name '../../etc' must be"),
    "registry name a file": ({}, {"x.csv": registry_with()["testset"]}, "dataset name 'x.csv' must be"),
    "registry no checksum": ({}, first_file(size=10), "checksum None is not md5:"),
    "registry short checksum": ({}, first_file(checksum="md5:abc", size=10), "checksum 'md5:abc' is not"),
    "registry unknown hash": ({}, first_file(checksum="crc32:" + "0" * 8, size=10), "is not md5:"),
    "registry no size": ({}, first_file(checksum="md5:" + "0" * 32), 'needs "size"'),
    "registry negative size": ({}, first_file(checksum="md5:" + "0" * 32, size=-1), 'needs "size"'),
    "registry other files": ({}, registry_with(files={"a.gz": {}}), '"files" must name exactly'),
    "registry no urls": ({}, registry_with(urls=None), 'needs "urls"'),
    "registry file url": ({}, registry_with(urls=["file:///etc/"]), "'file:///etc/' is not an http"),
    "registry url with a space": ({}, registry_with(urls=["http://a b/"]), "'http://a b/' is not an http"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_settings_get_one_line_and_exit_2(env, tmp_path, case):
    settings, registry_text, message = HOSTILE[case]
    (tmp_path / "afile").write_text("a file the user had")
    (tmp_path / "testset").write_text("a file where the dataset's folder would go")
    write_registry(tmp_path / "registry.json", ["http://127.0.0.1:9/"])
    if registry_text is not None:
        text = registry_text if isinstance(registry_text, (str, bytes)) else json.dumps(registry_text)
        (tmp_path / "registry.json").write_bytes(text if isinstance(text, bytes) else text.encode())
    env.update({key: value.format(tmp=tmp_path) for key, value in settings.items()})
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    for args in (["data", "fetch", "testset"], ["train", "--data", "testset"]):
        assert_one_line_error(run(*args, env=env, cwd=tmp_path), message.format(tmp=tmp_path))
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def json_values():
    from hypothesis import strategies as st

    scalars = st.none() | st.booleans() | st.integers(-5, 10**9) | st.floats(allow_nan=False) | st.text(max_size=8)
    names = st.sampled_from([*registry.IDX_NAMES, "checksum", "size", "urls", "files", "md5:" + "a" * 32])
    return st.recursive(
        scalars | names,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(names | st.text(max_size=4), inner, max_size=5),
        max_leaves=20,
    )


def test_any_registry_file_is_a_valid_registry_or_one_data_error(tmp_path, monkeypatch):
    """Whatever JSON the registry file holds, gpubp accepts only complete entries and names the problem."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    path = tmp_path / "registry.json"
    monkeypatch.setenv(registry.REGISTRY_ENV_VAR, str(path))
    good = registry_with()["testset"]

    @settings(max_examples=300, deadline=None)
    @given(
        st.dictionaries(st.sampled_from(["testset", "mnist", "Bad Name"]), json_values() | st.just(good), max_size=2)
    )
    def check(entries):
        path.write_text(json.dumps(entries))
        try:
            found = registry.extra_datasets()
        except DataError as exc:
            assert "\n" not in str(exc) and str(exc).startswith(f"{registry.REGISTRY_ENV_VAR}=")
            return
        assert set(found) == set(entries) and all(entries[name] == good for name in found)
        for dataset in found.values():
            assert [f.name for f in dataset.files] == list(registry.IDX_NAMES)
            assert all(f.size >= 1 and registry.check_checksum(f.checksum, "") for f in dataset.files)

    check()
