"""``python -m graphnca ...`` (and ``torchrun ... -m graphnca train ...``)."""
import sys

from .cli import main

sys.exit(main())
