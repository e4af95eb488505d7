"""The packages install from their files, not only from the workspace.

Builds every member's sdist and wheel with ``uv build`` (as ``make dist`` does), checks what the
sdists hold, then installs only the built wheels, and their dependencies from the package index,
into a fresh virtualenv outside the workspace: no editable install, no source tree on the path,
run from a temporary directory. The installed ``sessionful`` command and the installed
``sessionful.testing`` must then work as a user's would. About half a minute with uv's cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

import sessionful

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
MEMBERS = {
    "sessionful": ("core", "sessionful"),
    "sessionful-stub": ("adapters/stub", "sessionful_stub"),
    "sessionful-langgraph": ("adapters/langgraph", "sessionful_langgraph"),
    "sessionful-openai-agents": ("adapters/openai-agents", "sessionful_openai_agents"),
}
"""distribution -> (member directory, import package)."""

NEVER_IN_AN_SDIST = ("__pycache__", ".venv", ".pytest_cache", ".mypy_cache", ".ruff_cache", "tests")


def _uv() -> str:
    local = ROOT / ".tools" / "bin" / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if found is None:
        pytest.fail("uv is needed to build the packages: run `make setup`")
    return found


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment, less anything that would point at the workspace or configure sessionful."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"}
        and not key.startswith("SESSIONFUL_")
    }
    env.update(extra)
    return env


def _run(args: list[str], cwd: Path, env: Mapping[str, str], timeout: float = 300) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, (
        f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    )
    return done.stdout


@dataclass(frozen=True)
class Built:
    dist: Path
    venv: Path
    work: Path  # an empty directory outside the workspace, the cwd of every command

    @property
    def env(self) -> dict[str, str]:
        bin_dir = str(self.venv / "bin")
        path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
        return _clean_env(PATH=path, COLUMNS="200")  # rich tables unwrapped

    def run(self, *args: str, timeout: float = 300) -> str:
        return _run([str(self.venv / "bin" / args[0]), *args[1:]], self.work, self.env, timeout)

    def artifact(self, distribution: str, suffix: str) -> Path:
        stem = distribution.replace("-", "_")
        (found,) = self.dist.glob(f"{stem}-*{suffix}")
        return found


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    base = tmp_path_factory.mktemp("dist")
    dist, venv, work = base / "dist", base / "venv", base / "work"
    work.mkdir()
    uv = _uv()
    _run([uv, "build", "--all-packages", "--quiet", "-o", str(dist)], ROOT, _clean_env())
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], work, _clean_env())
    wheels = {name: next(dist.glob(f"{name.replace('-', '_')}-*.whl")) for name in MEMBERS}
    requirements = [
        f"{name}{'[all]' if name == 'sessionful' else ''} @ {wheel.as_uri()}"
        for name, wheel in wheels.items()
    ]
    _run(
        [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), *requirements],
        work,
        _clean_env(UV_PYTHON_DOWNLOADS="never"),
    )
    yield Built(dist, venv, work)


@pytest.mark.parametrize("distribution", MEMBERS)
def test_every_member_builds_a_wheel_and_an_sdist(built: Built, distribution: str) -> None:
    version = sessionful.__version__
    assert built.artifact(distribution, ".whl").name.startswith(
        f"{distribution.replace('-', '_')}-{version}-"
    )
    assert built.artifact(distribution, ".tar.gz").name.endswith(f"-{version}.tar.gz")


@pytest.mark.parametrize("distribution", MEMBERS)
def test_an_sdist_holds_the_license_readme_and_py_typed_and_nothing_unneeded(
    built: Built, distribution: str
) -> None:
    member, package = MEMBERS[distribution]
    with tarfile.open(built.artifact(distribution, ".tar.gz")) as sdist:
        names = sdist.getnames()
    top = names[0].split("/")[0]
    inside = {name.removeprefix(f"{top}/") for name in names}
    assert {"LICENSE", "README.md", "pyproject.toml", f"src/{package}/py.typed"} <= inside
    for name in inside:
        parts = name.split("/")
        assert not any(part in NEVER_IN_AN_SDIST for part in parts), name
        assert not name.endswith(".pyc"), name
    assert (ROOT / member / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()


@pytest.mark.parametrize("distribution", MEMBERS)
def test_a_wheel_holds_the_license_and_py_typed(built: Built, distribution: str) -> None:
    _, package = MEMBERS[distribution]
    with zipfile.ZipFile(built.artifact(distribution, ".whl")) as wheel:
        names = wheel.namelist()
    assert f"{package}/py.typed" in names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)


def test_the_wheel_holds_the_offline_docs_assets_and_their_licenses(built: Built) -> None:
    from sessionful.service.http._docs import ASSETS

    with zipfile.ZipFile(built.artifact("sessionful", ".whl")) as wheel:
        names = set(wheel.namelist())
    static = "sessionful/service/http/static"
    for path, _ in ASSETS.values():
        assert f"{static}/{path}" in names, path
    for notice in ("swagger-ui/LICENSE", "swagger-ui/NOTICE", "redoc/LICENSE", "README.md"):
        assert f"{static}/{notice}" in names, notice


def test_the_installed_packages_come_from_the_wheels_not_the_workspace(built: Built) -> None:
    shown = built.run(
        "python",
        "-c",
        "import sys, sessionful, sessionful_stub, sessionful_langgraph as lg;"
        "print(sessionful.__file__, sessionful_stub.__file__, lg.__file__, *sys.path, sep='\\n')",
    )
    for line in filter(None, shown.splitlines()):
        assert not Path(line).resolve().is_relative_to(ROOT), line
    assert str(built.venv.resolve()) in str(Path(shown.splitlines()[0]).resolve())


def test_version(built: Built) -> None:
    assert built.run("sessionful", "--version").strip() == f"sessionful {sessionful.__version__}"
    shown = built.run("python", "-c", "import sessionful; print(sessionful.__version__)")
    assert shown.strip() == sessionful.__version__


def test_plugins_lists_every_adapter(built: Built) -> None:
    listed = built.run("sessionful", "plugins")
    frameworks = [line for line in listed.splitlines() if "framework" in line]
    for name in ("stub", "langgraph", "openai-agents"):
        assert any(f" {name} " in line and f"sessionful-{name}==" in line for line in frameworks), (
            listed
        )


def test_demo(built: Built) -> None:
    shown = built.run("sessionful", "demo", timeout=300)
    assert shown.strip()


def test_the_stub_passes_the_installed_conformance_suite(built: Built) -> None:
    suite = built.work / "conformance"
    suite.mkdir()
    # The stub's own conformance file, as its repository has it: it imports only installed code.
    own = ROOT / "adapters" / "stub" / "tests" / "test_conformance.py"
    (suite / "test_stub_conformance.py").write_text(own.read_text())
    shown = _run(
        [
            str(built.venv / "bin" / "python"),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(suite),
            str(suite),
        ],
        suite,
        built.env,
    )
    last = shown.strip().splitlines()[-1]
    assert " passed" in last and "failed" not in last and "error" not in last, shown
