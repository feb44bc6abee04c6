"""CI hides nothing: under ``CI`` any skip but a ``gpu``-marked test's fails the run with its reason, and .ci/run
runs the README's test command as it stands there."""

import importlib.util
import os
import re
import shutil
import subprocess
import sys

import pytest

from helpers import REPO, environment

TESTS = """
import pytest


def test_passes():
    pass


def test_skips():
    pytest.skip("the tool is missing")


@pytest.mark.gpu
def test_skips_for_lack_of_a_gpu():
    pytest.skip("no usable GPU")


@pytest.mark.xfail(reason="a known bug")
def test_fails_as_expected():
    assert False
"""


def run_pytest(folder, ci):  # a second pytest, a second or two to start: the tests that call it are marked slow
    env = environment()
    env.pop("CI", None)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", str(folder)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def suite(tmp_path, name, text):
    folder = tmp_path / name
    folder.mkdir()
    for helper in (
        "conftest.py",
        "helpers.py",
        "data_server.py",
        "kernel_sources.py",
    ):  # conftest, what it imports, its plugin
        shutil.copy(REPO / "tests" / helper, folder)
    (folder / "pytest.ini").write_text("[pytest]\nmarkers =\n    gpu: needs a CUDA GPU\n    cupy: needs CuPy\n")
    (folder / f"test_{name}.py").write_text(text)
    return folder


@pytest.mark.slow
def test_in_ci_only_gpu_tests_may_skip(tmp_path):
    folder = suite(tmp_path, "skips", TESTS)
    result = run_pytest(folder, "true")
    assert result.returncode == 1, result.stdout
    summary = result.stdout[result.stdout.index("short test summary") :]
    assert re.search(
        r"FAILED \S+::test_skips - skipped in CI, where only tests marked gpu may skip: the tool is "
        r"missing$",
        result.stdout,
        flags=re.M,
    )
    assert "SKIPPED" in summary and "no usable GPU" in summary and "XFAIL" in summary
    assert "1 failed, 1 passed, 1 skipped, 1 xfailed" in result.stdout
    for ci in (None, "false"):
        assert run_pytest(folder, ci).returncode == 0


@pytest.mark.slow
def test_in_ci_a_module_skipped_whole_fails_too(tmp_path):
    folder = suite(
        tmp_path,
        "module",
        'import pytest\n\npytest.importorskip("no_such_tool_here")\n\n\ndef test_never_runs():\n    pass\n',
    )
    result = run_pytest(folder, "1")
    assert result.returncode != 0
    assert "skipped in CI, where only tests marked gpu may skip" in result.stdout
    assert "no_such_tool_here" in result.stdout
    assert run_pytest(folder, None).returncode == 5  # no test ran, and nothing failed


@pytest.mark.slow
def test_without_cupy_the_cupy_tests_are_deselected_and_said_to_be(tmp_path):
    folder = suite(
        tmp_path,
        "cupy",
        "import pytest\n\n\n@pytest.mark.cupy\ndef test_reads_cupy():\n"
        "    import cupy  # noqa: F401\n\n\ndef test_plain():\n    pass\n",
    )
    result = run_pytest(folder, "true")
    assert result.returncode == 0, result.stdout
    if importlib.util.find_spec("cupy") is None:
        assert "1 passed, 1 deselected" in result.stdout
        assert "1 tests marked cupy were deselected: they need CuPy installed (no GPU)" in result.stdout
    else:
        assert "2 passed" in result.stdout and "deselected" not in result.stdout


@pytest.mark.slow
def test_a_test_that_leaves_the_stand_in_cupy_imported_fails_and_the_next_one_does_not_see_it(tmp_path):
    folder = suite(
        tmp_path,
        "leak",
        "import sys\n\nfrom helpers import FAKE_CUPY\n\n\ndef test_leaks():\n"
        "    sys.path.insert(0, str(FAKE_CUPY))\n    import cupy  # noqa: F401\n"
        "    sys.path.remove(str(FAKE_CUPY))\n\n\ndef test_after():\n"
        '    assert "cupy" not in sys.modules or "fake" not in sys.modules["cupy"].__version__\n',
    )
    shutil.copytree(REPO / "tests" / "fake_cupy", folder / "fake_cupy")
    result = run_pytest(folder, None)
    assert "ERROR at teardown of test_leaks" in result.stdout and "left the stand-in CuPy imported" in result.stdout
    assert "2 passed, 1 error" in result.stdout and re.search(r"^PASSED \S+::test_after$", result.stdout, flags=re.M)


def test_ci_runs_the_readme_test_command_as_written():
    script = (REPO / ".ci" / "run").read_text()
    awk = re.search(r"command=\$\(awk '([^']+)' README.md\)", script).group(1)
    found = subprocess.run(["awk", awk, "README.md"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    readme = (REPO / "README.md").read_text()
    block = readme[readme.index("<!-- ci: test command") :]
    written = block.split("```bash\n", 1)[1].split("\n", 1)[0].strip()
    assert found.strip() == written and ".venv/bin/python -m pytest" in written
    assert 'bash -c "$command"' in script and 'export CI="${CI:-true}"' in script
    # A new user's environment has no CuPy: nothing installs it before the README's command runs.
    before = script[: script.index('bash -c "$command"')]
    assert "pip install" not in before
    assert ".venv-cupy/bin/python -m pytest -m cupy" in script[script.index('bash -c "$command"') :]
    assert os.access(REPO / ".ci" / "run", os.X_OK)


@pytest.mark.slow
def test_every_gpu_test_finds_its_fixtures_without_a_gpu():
    """The gpu tests skip here, in their ``cupy`` fixture, before pytest looks up their other fixtures: a lost
    parametrize ("fixture 'dtype' not found") would show only on a GPU. ``--setup-plan`` resolves every fixture of
    every gpu test and runs none."""
    files = [str(path) for path in sorted((REPO / "tests").glob("test_*.py")) if "mark.gpu" in path.read_text()]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--setup-plan",
            "-m",
            "gpu",
            "-q",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
        ]
        + files,
        cwd=REPO,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0 and "not found" not in result.stdout, result.stdout[-3000:]
    assert "test_gpu.py::test_each_row_kernel_matches_numpy_on_edge_rows[bias_softmax-float32]" in result.stdout
