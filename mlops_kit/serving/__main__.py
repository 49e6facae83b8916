"""``python -m mlops_kit.serving``: run the endpoint (see :mod:`.server`)."""
import sys

from mlops_kit.serving.server import main

sys.exit(main())
