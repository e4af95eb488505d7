"""How the adapter is installed and found: the entry point, an import without side effects."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from sessionful._plugins import LOAD_PLUGINS_ENV, Plugins
from sessionful.testing._fixtures import AdapterFixtures
from sessionful.testing._harness import AdapterUnderTest


class PackageTests(AdapterFixtures):
    """How the adapter is installed and found: an entry point, and an import that does nothing."""

    def test_framework_registered_through_entry_point(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """An installed plugin registers this framework under its name, so
        ``SessionManager(framework="<name>")`` finds it exactly as it finds a third party's.

        To fix: in pyproject.toml add ``[project.entry-points.sessionful]`` with
        ``<name> = "<your_module>"``; in that module define
        ``@hookimpl def register_frameworks(register): register(YourFramework())``; reinstall
        the package so the entry point is seen. Check ``SESSIONFUL_LOAD_PLUGINS`` too.
        """
        framework = adapter_under_test.framework
        frameworks = Plugins().get_frameworks()
        found = frameworks.get(adapter_under_test.name)
        assert found is not None, (
            f"no installed plugin registers a framework named {adapter_under_test.name!r} "
            f"(registered: {sorted(frameworks)}; {LOAD_PLUGINS_ENV} may limit which load)"
        )
        assert type(found) is type(framework), (
            f"the framework registered as {adapter_under_test.name!r} is a "
            f"{type(found).__qualname__}, not this suite's {type(framework).__qualname__}"
        )

    def test_package_import_has_no_side_effects(
        self, adapter_under_test: AdapterUnderTest, tmp_path: Path
    ) -> None:
        """Importing the adapter in a fresh interpreter prints nothing, warns nothing, starts no
        thread, configures no logging, changes no environment variable, writes no file and
        does not import pytest or this suite.

        To fix: move work from module level into ``create_agent_factory`` or ``create_agent``
        (connections, model downloads, ``logging.basicConfig``, background threads); import
        test helpers only from tests. Set ``adapter_module`` on the test class if the module
        to import is not the framework class's own.
        """
        module = self.adapter_module or type(adapter_under_test.framework).__module__
        workdir = tmp_path / "cwd"
        workdir.mkdir()
        report_path = tmp_path / "import-report.json"
        done = subprocess.run(
            [sys.executable, "-c", _IMPORT_PROBE, module, str(report_path)],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"`import {module}` failed:\n{done.stderr}"
        assert not done.stdout, f"`import {module}` printed:\n{done.stdout}"
        assert not done.stderr, f"`import {module}` wrote to stderr:\n{done.stderr}"
        report: dict[str, Any] = json.loads(report_path.read_text(encoding="utf-8"))
        effects = {what: found for what, found in report.items() if found}
        written = sorted(p.name for p in workdir.iterdir())
        if written:
            effects["files written to the working directory"] = written
        assert not effects, f"`import {module}` has side effects: {effects}"


# Runs in a fresh interpreter: argv[1] is the module, argv[2] the report path.
_IMPORT_PROBE = """
import importlib, json, logging, os, sys, threading, warnings
module, report_path = sys.argv[1], sys.argv[2]
threads = {t.ident for t in threading.enumerate()}
handlers, level = list(logging.root.handlers), logging.root.level
environ = dict(os.environ)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    importlib.import_module(module)
report = {
    "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
    "threads started": [t.name for t in threading.enumerate() if t.ident not in threads],
    "root logging handlers added": [repr(h) for h in logging.root.handlers if h not in handlers],
    "root logging level changed": logging.root.level != level,
    "environment variables changed": sorted(
        k for k in set(os.environ) | set(environ) if os.environ.get(k) != environ.get(k)
    ),
    "test tools imported": sorted(
        m for m in ("pytest", "_pytest", "pytest_asyncio", "sessionful.testing")
        if m in sys.modules
    ),
}
with open(report_path, "w", encoding="utf-8") as f:
    json.dump(report, f)
"""
