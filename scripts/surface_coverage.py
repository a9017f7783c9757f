"""Which surface tests must run on PostgreSQL too (tests/conftest.py: SURFACES, both_databases).

    python scripts/surface_coverage.py

Runs every PostgreSQL test twice under coverage of ``domain/`` and ``storage/``, on all cores:
the tests outside the surfaces, then the surfaces' tests (all of them, marked or not). A line
that only a surface's PostgreSQL run reaches must stay reached by a test marked
``both_databases``. Prints the lines that none of the marked tests reaches, and the fewest
surface tests (greedy) that would reach them; exits 1 when there are any.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import coverage
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.conftest import SURFACES  # noqa: E402

Line = tuple[str, int]


def measure(data_file: Path, config: Path, *selection: str) -> coverage.CoverageData:
    """Run the PostgreSQL tests of ``selection`` under coverage, one context per test."""
    environment = {**os.environ, "COVERAGE_FILE": str(data_file)}
    environment["GROKIMAGINE_TEST_EVERY_DATABASE"] = "1"
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "postgresql"]
    command += ["-n", str((os.cpu_count() or 1) + 1), f"--cov-config={config}", "--cov"]
    command += ["--cov-context=test", "--cov-report=", *selection]
    done = subprocess.run(command, cwd=REPO, env=environment)
    if done.returncode not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        sys.exit(f"pytest exited {done.returncode}")
    found = coverage.CoverageData(basename=str(data_file))
    found.read()
    return found


def lines_by_test(data: coverage.CoverageData) -> dict[str, set[Line]]:
    """The lines each test reached (its context: the test's node id)."""
    reached: dict[str, set[Line]] = defaultdict(set)
    for path in data.measured_files():
        for number, contexts in data.contexts_by_lineno(path).items():
            for context in contexts:
                if context:
                    reached[context.split("|")[0]].add((path, number))
    return reached


def main() -> int:
    with tempfile.TemporaryDirectory() as work:
        config = Path(work) / "coveragerc"
        config.write_text("[run]\nsource = grokimagine.domain,grokimagine.storage\n")
        ignored = [f"--ignore={surface}" for surface in SURFACES]
        others = lines_by_test(measure(Path(work) / "others", config, "tests", *ignored))
        surfaces = lines_by_test(measure(Path(work) / "surfaces", config, *SURFACES))
    elsewhere = set().union(*others.values())
    by_test = {test: lines - elsewhere for test, lines in surfaces.items()}
    needed = set().union(*by_test.values())
    marked = marked_tests() & by_test.keys()
    missing = needed - set().union(*(by_test[test] for test in marked))
    print(f"{len(needed)} lines of domain/ and storage/ reached on PostgreSQL only by surfaces;")
    print(f"{len(needed) - len(missing)} of them by the {len(marked)} marked runs.")
    while missing:
        test = max(by_test, key=lambda name: len(by_test[name] & missing))
        print(f"  mark both_databases: {test} ({len(by_test[test] & missing)} lines)")
        missing -= by_test[test]
    return 1 if needed - set().union(*(by_test[test] for test in marked)) else 0


def marked_tests() -> set[str]:
    """The node ids of the surface tests marked ``both_databases``, as pytest collects them."""
    environment = {**os.environ, "GROKIMAGINE_TEST_EVERY_DATABASE": "1"}
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    command += ["-m", "both_databases", *SURFACES]
    done = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True)
    return {line for line in done.stdout.splitlines() if "::" in line}


if __name__ == "__main__":
    raise SystemExit(main())
