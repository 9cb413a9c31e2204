"""The CI dependency audit (.ci/audit.py) fails only on a known vulnerability
that has a fix, and never because the advisory service could not be reached."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("ci_audit", ROOT / ".ci" / "audit.py")
audit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(audit)


def _dep(name, vulns=(), **extra):
    return {"name": name, "version": "1.0", "vulns": list(vulns), **extra}


def test_a_vulnerability_with_a_fix_fails():
    vuln = {"id": "PYSEC-1", "fix_versions": ["1.0.1"], "aliases": ["CVE-1"]}
    code, lines = audit.verdict({"dependencies": [_dep("django", [vuln]), _dep("celery")]})
    assert code == 1
    assert any("VULNERABLE" in line and "django" in line and "1.0.1" in line for line in lines)


def test_a_vulnerability_without_a_fix_is_reported_only():
    vuln = {"id": "GHSA-2", "fix_versions": [], "aliases": []}
    code, lines = audit.verdict({"dependencies": [_dep("redis", [vuln])]})
    assert code == 0
    assert any("no fix yet" in line for line in lines)


def test_an_unreachable_advisory_service_says_so_and_passes():
    skipped = {"name": "django", "skip_reason": "Dependency not found on PyPI"}
    code, lines = audit.verdict({"dependencies": [skipped]})
    assert code == 0
    assert any("NOTHING WAS AUDITED" in line for line in lines)


def test_a_clean_report_passes():
    code, lines = audit.verdict({"dependencies": [_dep("django"), _dep("celery")]})
    assert code == 0
    assert lines[-1].endswith("no known vulnerability with a fix available")
