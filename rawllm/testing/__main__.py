"""``python -m rawllm.testing``: serve MockServer until interrupted.

Prints the server URL as the first stdout line (flushed), so a parent
process can wait for it, then serves until SIGINT or SIGTERM and exits 0.
The ``rawllm mock`` command reuses :func:`add_arguments` and :func:`serve`.
"""

from __future__ import annotations

import sys

from ._runner import run_cli

if __name__ == "__main__":
    sys.exit(run_cli())
