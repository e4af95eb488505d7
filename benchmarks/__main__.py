"""``python -m benchmarks [group|section ...] [--list] [--quick] [--output PATH]``."""

from benchmarks._runner import main

raise SystemExit(main())
