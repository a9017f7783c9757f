"""The CI benchmark guard: status and generate against their anchors, compared with the
committed figures; fails when a ratio falls more than ``MARGIN`` under its figure.

    python bench/guard.py [--seconds 3] [--rounds 3] [--delay-us N] [--figures FILE]

A short run of ``bench/http_api.py`` (three alternating rounds, medians): only ratios to the
anchors measured in the same run are compared, never absolute times. The ratio judged is of
CPU per request (the anchor's over the server's, read from /proc while wrk drives each): on a
busy machine other processes take wall-clock time from both sides unevenly, but not CPU time
(requests/s ratios are printed too). ``--delay-us`` slows every request of the server down on
purpose (to show that the guard fails). Exit status 1 when a ratio is under its floor.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

FIGURES = HERE / "guard_figures.json"
# How far under its committed figure a ratio may fall: this shared machine's noise (see
# bench/RESULTS.md, "CI benchmark guard", for the spread measured).
MARGIN = 0.30


@dataclass(frozen=True)
class Verdict:
    """One ratio against its committed figure."""

    name: str
    measured: float
    committed: float

    @property
    def floor(self) -> float:
        """The lowest ratio that passes."""
        return self.committed * (1 - MARGIN)

    @property
    def passed(self) -> bool:
        """Whether the measured ratio is at or above the floor."""
        return self.measured >= self.floor

    def line(self) -> str:
        """As the guard prints it."""
        state = "ok" if self.passed else "FAIL"
        return (
            f"{state:4} {self.name}: {self.measured:.3f} of its anchor's speed (CPU/request) "
            f"(committed {self.committed:.3f}, floor {self.floor:.3f})"
        )


def judge(measured: dict[str, float], committed: dict[str, float]) -> list[Verdict]:
    """A verdict for each committed ratio; a ratio not measured counts as zero."""
    return [Verdict(name, measured.get(name, 0.0), figure) for name, figure in committed.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--delay-us", type=int, default=0)
    parser.add_argument("--figures", type=Path, default=FIGURES)
    args = parser.parse_args(argv)

    from http_api import measure

    summary = measure(
        {"this": HERE.parent},
        seconds=args.seconds,
        rounds=args.rounds,
        connections=args.connections,
        delay_us=args.delay_us,
    )
    committed = json.loads(args.figures.read_text())["ratios"]
    verdicts = judge(summary["cpu_ratios"]["this"], committed)
    for verdict in verdicts:
        print(verdict.line())
    for name, rps in summary["median_rps"].items():
        cpu = summary["median_cpu_us"][name]
        print(f"     {name}: {rps:.0f} requests/s, {cpu:.0f} µs CPU/request (medians)")
    for kind, ratio in summary["ratios"]["this"].items():
        print(f"     {kind}: {ratio:.3f} of its anchor in requests/s (not judged)")
    failed = [verdict.name for verdict in verdicts if not verdict.passed]
    if failed:
        print(f"benchmark guard: {', '.join(failed)} more than {MARGIN:.0%} under the figure")
        return 1
    print("benchmark guard: every ratio within its margin")
    return 0


if __name__ == "__main__":
    sys.exit(main())
