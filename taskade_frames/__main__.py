"""``python -m taskade_frames``: the same as the ``taskade-frames`` command."""

import sys

from .cli import main

sys.exit(main())
