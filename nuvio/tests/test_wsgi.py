"""The WSGI module a web worker loads: what it loads up front is frozen out
of the garbage collector's full collections."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import gc, json, sys
import nuvio.wsgi
print(json.dumps({
    "frozen": gc.get_freeze_count(),
    "tracked": len(gc.get_objects()),
    "views": "events.api.views" in sys.modules and "bookings.api.views" in sys.modules,
}))
"""


def test_a_worker_freezes_what_it_loads_with_the_views():
    # A fresh interpreter, as a gunicorn worker starts.
    finished = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert finished.returncode == 0, finished.stderr
    probe = json.loads(finished.stdout.strip().splitlines()[-1])
    assert probe["views"]  # the URL configuration and what it imports are loaded
    # Most of what is loaded is frozen: a full collection walks the rest only.
    assert probe["frozen"] > 50_000
    assert probe["tracked"] < probe["frozen"] // 10
