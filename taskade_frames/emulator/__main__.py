"""``python -m taskade_frames.emulator``: serve the emulator until Ctrl-C."""

from ._main import main

raise SystemExit(main())
