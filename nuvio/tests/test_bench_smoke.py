"""The benchmark harness, end to end with tiny numbers, so it cannot rot.

``bench/run.py --smoke`` starts the same Procfile stack and baseline as
``make bench`` (its own databases, Redis db 3, ports 8100 and 8200), drives
every scenario for a second and checks its guarantees. The figures mean
nothing at this size; what is checked is that every scenario ran, answered
without a 5xx, every reserve (a two-item one with a promo code among them)
made its hold, and the sell-out sold exactly its capacity. It needs
PostgreSQL, Redis, ``wrk`` and ``pgbench``: without them it skips locally and
fails in CI (``.ci/run`` installs ``wrk``).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nuvio.testing import requires_postgres, requires_redis

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [requires_postgres, requires_redis]


@pytest.fixture
def load_tools():
    missing = [tool for tool in ("wrk", "pgbench", "psql", "createdb") if not shutil.which(tool)]
    if missing:
        reason = f"the benchmark needs {', '.join(missing)} (apt-get install -y wrk)"
        if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
            pytest.fail(f"{reason}; .ci/run installs it", pytrace=False)
        pytest.skip(reason)


def test_the_benchmark_runs_every_scenario_and_keeps_its_guarantees(load_tools, tmp_path):
    output = tmp_path / "results.json"
    performance_doc = (ROOT / "docs" / "performance.md").read_text()

    finished = subprocess.run(
        [sys.executable, "bench/run.py", "--smoke", "--duration", "1", "--reps", "1",
         "--output", str(output)],
        cwd=ROOT, capture_output=True, text=True, timeout=480, check=False,
    )  # fmt: skip

    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    results = json.loads(output.read_text())
    scenarios = results["scenarios"]
    for name in ("hot_reserve_32", "hot_reserve_128", "spread_reserve_32", "list_cached",
                 "list_20_rows", "detail"):  # fmt: skip
        assert scenarios[name]["nuvio"]["median"] > 0, name
        assert scenarios[name]["baseline"]["median"] > 0, name
        assert results["paired_ratios"][name]["median"] > 0, name
    for name in ("multi_reserve_32", "list_uncached", "search_1k", "search_100k",
                 "list_cached_100k"):  # fmt: skip
        assert scenarios[name]["nuvio"]["median"] > 0, name
    assert scenarios["pgbench_hot"]["pgbench"]["median"] > 0
    (sellout,) = results["sellout"]
    assert sellout["holds"] == 50
    assert sellout["statuses"] == {"201": 50, "409": 150}
    assert results["errors_5xx"] == 0
    assert results["reserve_non_201"] == {
        "hot_reserve_32": 0, "multi_reserve_32": 0, "hot_reserve_128": 0, "spread_reserve_32": 0,
    }  # fmt: skip
    assert results["paired_ratios"]["multi_vs_hot_reserve_32"]["median"] > 0
    assert all(check["inventory_problems"] == 0 for check in results["checks"].values())
    assert set(results["ratios"]) >= {
        "hot_reserve_vs_baseline_32", "multi_vs_hot_reserve_32", "hot_vs_spread_nuvio",
        "cached_list_vs_baseline_hello",
        "detail_vs_baseline_20_rows", "search_p95_100k_vs_1k", "rss_growth",
    }  # fmt: skip
    assert "| hot_reserve_32 |" in finished.stdout
    assert "| multi_reserve_32 |" in finished.stdout
    assert "| event page vs baseline 20-row list |" in finished.stdout
    # The same read mix with and without a replica: most reads left the primary.
    replica = results["replica_reads"]
    assert "skipped" not in replica, replica
    assert replica["with_replica"]["replica_share"]["statements"] > 0.5
    assert replica["primary_only"]["replica_share"]["statements"] == 0
    assert results["paired_ratios"]["queue_poll_cpu_vs_cached_list"]["median"] > 0
    # A smoke run's figures mean nothing: they never replace the real run's.
    assert (ROOT / "docs" / "performance.md").read_text() == performance_doc
