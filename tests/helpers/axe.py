"""axe-core (Deque's accessibility engine) from the npm registry, installed at test time into a
git-ignored folder, and run in a Playwright page."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

AXE_VERSION = "4.14.1"
AXE_HOME = Path(__file__).resolve().parents[1] / ".axe-core"  # git-ignored
SERIOUS = ("serious", "critical")


def axe_script() -> Path:
    """``axe.min.js``, installed with npm on first use; skips the test where npm cannot."""
    script = AXE_HOME / "node_modules" / "axe-core" / "axe.min.js"
    if script.exists():
        return script
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    AXE_HOME.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [npm, "install", "--no-save", "--no-audit", "--no-fund", f"axe-core@{AXE_VERSION}"],
        cwd=AXE_HOME,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0 or not script.exists():
        pytest.skip(f"npm install axe-core failed: {done.stderr[-500:]}")
    return script


def serious_violations(page: Any) -> list[str]:
    """Run axe on the page (its context must bypass the CSP to take the script); each serious
    or critical violation as ``rule: selector (impact)``."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(axe_script()))
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))"
    )
    return [
        f"{violation['id']}: {node} ({violation['impact']})"
        for violation in violations
        if violation["impact"] in SERIOUS
        for node in violation["nodes"]
    ]
