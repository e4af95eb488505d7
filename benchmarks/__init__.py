"""The performance figures of sessionful, written to ``docs/benchmarks.md`` by ``make bench``.

The page is a list of independent sections. A section is a function that measures and returns
its markdown; it is registered with :func:`section` in a module of a group listed in
:data:`GROUPS` (``core`` lives in ``benchmarks/core.py``). A group's module is imported only when
one of its sections runs, so a group that needs an optional dependency cannot break the others.

Run ``python -m benchmarks`` for everything, ``python -m benchmarks core`` for a group,
``python -m benchmarks core.overhead`` for one section; ``--list`` names them all. A partial run
rewrites only its own sections of the page and keeps the others, each stamped with the run that
measured it. Every figure on the page is measured by the run that writes it; none is typed in.
"""

from benchmarks._runner import GROUPS, Context, Section, main, section

__all__ = ["GROUPS", "Context", "Section", "main", "section"]
