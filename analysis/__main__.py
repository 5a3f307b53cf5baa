"""Entry point for `python -m analysis SWEEP_DIR`."""

import sys

from analysis.cli import main

sys.exit(main())
