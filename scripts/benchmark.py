#!/usr/bin/env python3
"""Runs the benchmark package scripts/bench/ (its docstring says what each phase measures)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.bench.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
