"""The benchmark of feedgen against a naive baseline (``make bench``; ``python -m bench --help``).

Modules: ``data`` seeds and reuses the CRM, ``child`` runs a full rebuild in a fresh process,
``naive`` is the baseline, ``edits`` makes the 1 % changes and checks what they changed,
``micro`` times rendering and the S3 PUT ceiling, ``report`` prints the table and the JSON,
``run`` puts it all in order.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Under var/, which .gitignore keeps out of the repository; --dir picks another folder.
BENCH_DIR = ROOT / "var" / "bench"
