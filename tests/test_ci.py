"""CI hides nothing: under ``CI`` any skip but a ``gpu``-marked test's fails the run with its reason, and .ci/run
runs the README's test command as it stands there."""

import os
import re
import shutil
import subprocess
import sys

from cli_helpers import REPO, environment

TESTS = '''
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
'''


def run_pytest(folder, ci):
    env = environment()
    env.pop("CI", None)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", str(folder)], cwd=folder,
                          env=env, capture_output=True, text=True, timeout=120)


def suite(tmp_path, name, text):
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(REPO / "tests" / "conftest.py", folder)
    (folder / "pytest.ini").write_text("[pytest]\nmarkers =\n    gpu: needs a CUDA GPU\n")
    (folder / f"test_{name}.py").write_text(text)
    return folder


def test_in_ci_only_gpu_tests_may_skip(tmp_path):
    folder = suite(tmp_path, "skips", TESTS)
    result = run_pytest(folder, "true")
    assert result.returncode == 1, result.stdout
    summary = result.stdout[result.stdout.index("short test summary"):]
    assert re.search(r"FAILED \S+::test_skips - skipped in CI, where only tests marked gpu may skip: the tool is "
                     r"missing$", result.stdout, flags=re.M)
    assert "SKIPPED" in summary and "no usable GPU" in summary and "XFAIL" in summary
    assert "1 failed, 1 passed, 1 skipped, 1 xfailed" in result.stdout
    for ci in (None, "false"):
        assert run_pytest(folder, ci).returncode == 0


def test_in_ci_a_module_skipped_whole_fails_too(tmp_path):
    folder = suite(tmp_path, "module", 'import pytest\n\npytest.importorskip("no_such_tool_here")\n\n\n'
                                       'def test_never_runs():\n    pass\n')
    result = run_pytest(folder, "1")
    assert result.returncode != 0
    assert "skipped in CI, where only tests marked gpu may skip" in result.stdout
    assert "no_such_tool_here" in result.stdout
    assert run_pytest(folder, None).returncode == 5  # no test ran, and nothing failed


def test_ci_runs_the_readme_test_command_as_written():
    script = (REPO / ".ci" / "run").read_text()
    awk = re.search(r"command=\$\(awk '([^']+)' README.md\)", script).group(1)
    found = subprocess.run(["awk", awk, "README.md"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    readme = (REPO / "README.md").read_text()
    block = readme[readme.index("<!-- ci: test command"):]
    written = block.split("```bash\n", 1)[1].split("\n", 1)[0].strip()
    assert found.strip() == written and ".venv/bin/python -m pytest" in written
    assert 'bash -c "$command"' in script and 'export CI="${CI:-true}"' in script
    assert os.access(REPO / ".ci" / "run", os.X_OK)
