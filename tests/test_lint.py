"""The code passes ruff, lint and format check, at 120 columns (pyproject.toml's ``[tool.ruff]``), as CI checks it."""

import subprocess

import pytest

from helpers import REPO, find_tool


@pytest.mark.parametrize("check", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_passes(check):
    ruff = find_tool("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (the test extra installs it)")
    result = subprocess.run([ruff, *check, "--no-cache", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
