"""Regenerate ``data_samples/workspace.json``: ``python -m taskade_frames.emulator._sample``.

Kept apart from the builder so that running it does not re-import a module the
package has already loaded.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from ._sample_workspace import SAMPLE_FILE, build_sample


def main(argv: Sequence[str] | None = None) -> int:
    """Write the sample (default: the repository's ``data_samples/workspace.json``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    target = Path(args[0]) if args else SAMPLE_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    workspace = build_sample()
    workspace.save(target)
    print(f"wrote {target.name}: {workspace!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
