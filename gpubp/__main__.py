"""``python -m gpubp …`` is the ``gpubp`` command (``python -m gpubp train`` where the script is not on PATH)."""

import sys

from .cli import main

sys.exit(main())
