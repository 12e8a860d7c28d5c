"""The export worker: ``python -m zoo.export RUN_DIR OUT FORMATS TOLERANCE [DATA_DIR]``."""

import sys

from zoo.export.worker import main

main(sys.argv[1:])
