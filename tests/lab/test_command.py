"""The installed command: `pip install` of the repository into a fresh virtual
environment, then `pg-hotstandby ... full` against the lab, run from a directory
outside the repository (no fabric.yaml or fabfile/ to fall back on)."""
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# pip builds in the source tree: installing from a copy keeps build/ out of the
# repository, and a build/ left there by an earlier install out of the wheel;
# ./dev's .venv (some 250 MB) is not source either.
NOT_SOURCE = shutil.ignore_patterns(".git", ".lab", ".venv", "build", "dist", "*.egg-info",
                                    "__pycache__", ".pytest_cache")


def run(cmd, **kwargs):
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{cmd}:\n{result.stdout}{result.stderr}"
    return result


@pytest.fixture(scope="session")
def command(tmp_path_factory):
    """<fresh venv>/bin/pg-hotstandby; a failing venv or install fails the tests."""
    root = tmp_path_factory.mktemp("command")
    source, venv = root / "source", root / "venv"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    run([sys.executable, "-m", "venv", str(venv)], timeout=120)
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
         "--disable-pip-version-check", str(source)], timeout=900)
    return venv / "bin" / "pg-hotstandby"


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A working directory outside the repository, which is not on the path either."""
    monkeypatch.delenv("PYTHONPATH", raising=False)
    return tmp_path


def test_version_is_the_installed_package_version(command, elsewhere):
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    result = run([str(command), "--version"], cwd=elsewhere, timeout=60)
    assert result.stdout.splitlines()[0] == f"pg-hotstandby {version}"


def test_full_with_the_installed_command(command, elsewhere, lab_factory):
    lab = lab_factory(pg=15)
    result = lab.fab("full", program=[str(command)], cwd=elsewhere)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "smoke test passed" in result.stdout
    assert "FAIL" not in result.stdout
