"""Dependency audit for CI: `pip-audit` on the runtime requirements.

    .venv/bin/python .ci/audit.py [requirements.txt ...]

Prints every known vulnerability and exits 1 only when one of them has a fixed
version to move to (something we can act on). A vulnerability without a fix is
reported, not fatal. pip-audit asks PyPI's advisory service; when the network
refuses it (no answer, or packages "not found on PyPI"), nothing could be
audited: that is printed plainly and CI goes on, since a refused connection is
not a vulnerability.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_SECONDS = 300


def verdict(report: dict) -> tuple[int, list[str]]:
    """``(exit code, lines to print)`` for pip-audit's JSON report."""
    lines: list[str] = []
    fixable, unfixed, audited, skipped = [], [], 0, []
    for dep in report.get("dependencies", []):
        if "skip_reason" in dep:
            skipped.append(f"{dep.get('name')}: {dep['skip_reason']}")
            continue
        audited += 1
        for vuln in dep.get("vulns", []):
            entry = (
                f"{dep['name']} {dep.get('version', '?')}: {vuln.get('id')} "
                f"{' '.join(vuln.get('aliases', []))}".rstrip()
            )
            if vuln.get("fix_versions"):
                fixable.append(f"{entry} (fixed in {', '.join(vuln['fix_versions'])})")
            else:
                unfixed.append(f"{entry} (no fixed version yet)")
    lines.append(f"pip-audit: {audited} packages audited, {len(skipped)} could not be audited")
    if skipped and not audited:
        lines.append(
            "pip-audit: NOTHING WAS AUDITED - the PyPI advisory service did not answer "
            "from this network (not a vulnerability; run .ci/audit.py where it is reachable)."
        )
    elif skipped:
        lines += [f"  not audited: {line}" for line in skipped]
    lines += [f"  VULNERABLE, fix available: {line}" for line in fixable]
    lines += [f"  vulnerable, no fix yet (reported only): {line}" for line in unfixed]
    if not fixable and audited:
        lines.append("pip-audit: no known vulnerability with a fix available")
    return (1 if fixable else 0), lines


def main(argv: list[str]) -> int:
    requirements = argv or ["requirements.txt"]
    tool = shutil.which("pip-audit") or str(Path(sys.executable).with_name("pip-audit"))
    args = [tool, "-f", "json", "--progress-spinner", "off"]
    for name in requirements:
        args += ["-r", str(ROOT / name)]
    try:
        done = subprocess.run(  # noqa: S603 (our own tool, our own arguments)
            args, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, cwd=ROOT
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"pip-audit: could not run ({exc}); NOTHING WAS AUDITED (not a failure)")
        return 0
    try:
        report = json.loads(done.stdout)
    except ValueError:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        print("pip-audit: no report (the advisory service or the package index is")
        print("unreachable from here?); NOTHING WAS AUDITED (not a failure). It said:")
        print("\n".join(f"  {line}" for line in tail))
        return 0
    code, lines = verdict(report)
    print("\n".join(lines))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
