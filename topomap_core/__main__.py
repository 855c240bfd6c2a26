"""``python -m topomap_core``: see :mod:`topomap_core.cli`."""

import sys

from .cli import main

sys.exit(main())
