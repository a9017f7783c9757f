"""The CI benchmark guard (bench/guard.py): its verdicts, and that it fails on a slowdown."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from guard import MARGIN, judge  # noqa: E402


def test_a_ratio_passes_down_to_its_margin_under_the_figure_and_fails_below() -> None:
    committed = {"status": 0.25, "generate": 0.10}
    within = judge({"status": 0.25 * (1 - MARGIN) + 1e-9, "generate": 0.5}, committed)
    assert [verdict.passed for verdict in within] == [True, True]
    under = judge({"status": 0.25 * (1 - MARGIN) - 0.001, "generate": 0.10}, committed)
    assert [verdict.passed for verdict in under] == [False, True]
    assert under[0].line().startswith("FAIL status")
    missing = judge({"status": 0.3}, committed)
    assert [verdict.passed for verdict in missing] == [True, False]


def test_the_committed_figures_name_status_and_generate() -> None:
    figures = json.loads((ROOT / "bench" / "guard_figures.json").read_text())["ratios"]
    assert set(figures) == {"status", "generate"}
    assert all(0 < value < 1 for value in figures.values())


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk (Debian package) is not installed")
def test_the_guard_fails_when_every_request_is_slowed_down(tmp_path: Path) -> None:
    # 20 ms of CPU burnt per request puts the server's CPU per request 20-100 times over its
    # usual, far under either figure: the guard must fail, on a quiet machine or a busy one.
    result = subprocess.run(
        [
            *(sys.executable, ROOT / "bench" / "guard.py", "--seconds", "1", "--rounds", "1"),
            *("--delay-us", "20000", "--connections", "8"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL status" in result.stdout and "FAIL generate" in result.stdout, result.stdout
