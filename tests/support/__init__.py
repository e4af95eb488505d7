"""What the tests share: fakes (a clock, a hook recorder, a controllable framework), importing a
file by path, and the harnesses in the submodules (``server``, ``cluster``, ``workers``,
``examples``).

``tests/`` is on ``sys.path`` through the root pyproject's ``[tool.pytest.ini_options] pythonpath``,
so a test writes ``from support import FakeClock`` (or ``from support import server``) even under
``--import-mode=importlib``.
"""

from __future__ import annotations

from support.fakes import (
    BOT,
    Cmd,
    ControlledAgent,
    ControlledFactory,
    ControlledFramework,
    FakeClock,
    Make,
    Recorder,
    Step,
    Timed,
)
from support.files import ROOT, load_file

__all__ = [
    "BOT",
    "ROOT",
    "Cmd",
    "Make",
    "Timed",
    "ControlledAgent",
    "ControlledFactory",
    "ControlledFramework",
    "FakeClock",
    "Recorder",
    "Step",
    "load_file",
]
