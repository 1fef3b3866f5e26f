"""`python -m trading_system.entrypoints.cli`, as the `trading` script."""

import sys

from trading_system.entrypoints.cli import app

sys.exit(app())  # pragma: no cover
