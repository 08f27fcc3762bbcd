"""Console entry points (``cococrowd``, and ``bench`` through :mod:`benchmarks.launch`).

Ctrl-C while a command is still importing its modules ends as it does later on (click's
``Aborted!``, exit 1), not in a Python traceback."""
from __future__ import annotations

import importlib
import sys


def run(module: str) -> None:
    """Import ``module`` and call its click ``main``."""
    try:
        main = importlib.import_module(module).main
    except KeyboardInterrupt:
        sys.stderr.write("\nAborted!\n")
        raise SystemExit(1) from None
    main()


def cococrowd() -> None:
    run("cococrowd.cli")
