"""``python -m zoo ...`` is the ``zoo`` command (recipe files run as scripts start it so)."""

import sys

from zoo.cli import main

sys.exit(main())
