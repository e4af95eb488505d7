"""The conformance tests, grouped by what they exercise. Each docstring says what to fix.

Each group lives in its own module; this one assembles them into :class:`AdapterTests`."""

from __future__ import annotations

from sessionful.testing._factory_tests import FactoryTests
from sessionful.testing._manager_tests import ManagerTests
from sessionful.testing._package_tests import PackageTests
from sessionful.testing._persistence_tests import PersistenceTests
from sessionful.testing._turn_tests import TurnTests

__all__ = [
    "AdapterTests",
    "FactoryTests",
    "ManagerTests",
    "PackageTests",
    "PersistenceTests",
    "TurnTests",
]


# pytest runs inherited tests from the last base in the MRO first: this order runs the boundary
# tests first, so the failure that explains the others comes at the top.
class AdapterTests(PackageTests, ManagerTests, PersistenceTests, TurnTests, FactoryTests):
    """The whole conformance suite. Subclass it as ``Test<YourAdapter>``; see the package doc."""
