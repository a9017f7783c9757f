"""Install from source in one command (issue 20): every `pip install` line of the README, the docs
and the console runs as written, offline: `--no-index --find-links` of a wheelhouse that holds
the dependencies from the index but no grokimagine and no grokimagine-client (given to pip
through its PIP_* variables, so the line itself is unchanged)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = [
    REPO / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
    REPO / "sdk/python/README.md",
    *sorted((REPO / "src/grokimagine/console").rglob("*.html")),
    *sorted((REPO / "src/grokimagine/console").rglob("*.js")),
    *sorted((REPO / "src/grokimagine/engines").rglob("*.py")),
]
# A token of the line: quoted, or a run of characters that cannot end a shell word in prose.
_LINE = re.compile(r"pip install((?: (?:\"[^\"\s]*\"|'[^'\s]*'|[^\s'\"`<>#,;&]+))+)")

# Installed for real in a fresh virtual environment (python -m venv), in this order.
SERVER_LINES = ['"git+$REPO_URL"', "."]
CLIENT_LINES = ["'./sdk/python[cli]'", "./sdk/python"]
# Checked with --dry-run in the suite's environment, which scripts/test.sh made with torch and
# the gpu extra: the lines of the GPU pages, and the third-party lines around them.
DRY_RUN_LINES = [
    "'.[gpu]'",
    "-e '.[gpu]'",
    "-e '.[test,gpu]'",
    "torch",
    "torch==2.13.0",
    "-U huggingface_hub",
    "openai==3.51.0",  # docs/openai-sdk.md: the official client the tests use
]
# Other projects' servers for the GPU hosts (docs/gpu-fleet.md): installed there, from their
# own index, never here; checked only to stay third-party (no grokimagine in them).
OTHER_HOSTS_LINES = ['"sglang[diffusion]"', "vllm-omni"]


def documented_install_lines() -> set[str]:
    """The arguments of every `pip install` the documents show."""
    found: set[str] = set()
    for document in DOCUMENTS:
        found.update(m.group(1).strip() for m in _LINE.finditer(document.read_text("utf-8")))
    return found


def test_every_documented_install_line_is_checked() -> None:
    documented = documented_install_lines()
    assert documented == {*SERVER_LINES, *CLIENT_LINES, *DRY_RUN_LINES, *OTHER_HOSTS_LINES}
    for line in OTHER_HOSTS_LINES:  # a package of an index, not a path or a project of ours
        assert "grokimagine" not in line and not line.strip("\"'").startswith((".", "-e"))


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dependencies' wheels and the build backend's, downloaded once for all xdist workers
    (the only step that needs an index); never a wheel of ours."""
    # Shared by the xdist workers of a session (and by later sessions with the same pyproject
    # files, which name the folder): the downloads happen once.
    stamp = hashlib.sha256(
        (REPO / "pyproject.toml").read_bytes() + (REPO / "sdk/python/pyproject.toml").read_bytes()
    ).hexdigest()[:16]
    shared = tmp_path_factory.getbasetemp().parent / f"wheelhouse-{stamp}"
    with FileLock(f"{shared}.lock"):
        if not (shared / "complete").exists():
            shutil.rmtree(shared, ignore_errors=True)
            wanted = [".", "./sdk/python[cli]", "hatchling", "editables"]  # editables: -e
            _pip(sys.executable, ["download", "--dest", str(shared), *wanted], timeout=900)
            for ours in shared.glob("grokimagine*"):
                ours.unlink()
            (shared / "complete").touch()
    return shared


def _pip(python: str, args: list[str], timeout: float = 600) -> None:
    done = subprocess.run(
        [python, "-m", "pip", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"pip {args}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def _run_as_written(
    line: str, venv_bin: Path, wheelhouse: Path, *, dry_run: bool = False, **env: str
) -> str:
    """Run `pip install LINE` with the given environment's pip, offline; its output. (A dry run
    is a flag after the line: PIP_DRY_RUN would reach the pip that installs the build backend.)"""
    environment = {
        **os.environ,
        "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}",
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheelhouse),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        # No bytecode at install: the lines are checked, not timed, and compiling every
        # dependency is a third of each install on a small machine.
        "PIP_NO_COMPILE": "1",
        **env,
    }
    environment.pop("PYTHONPATH", None)  # the fresh environment sees only what pip put there
    done = subprocess.run(
        ["bash", "-c", f"pip install {line}" + (" --dry-run" if dry_run else "")],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"pip install {line}: exit {done.returncode}\n{output[-4000:]}"
    return output


def _fresh_venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=300)
    return path / "bin"


def _run(venv_bin: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(venv_bin / argv[0]), *argv[1:]],
        cwd=venv_bin.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_server_installs_alone_from_git_and_from_the_checkout(
    tmp_path: Path, wheelhouse: Path
) -> None:
    if not (REPO / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout: the git line has nothing to install from")
    venv_bin = _fresh_venv(tmp_path / "venv")
    _run_as_written(SERVER_LINES[0], venv_bin, wheelhouse, REPO_URL=f"file://{REPO}")
    _run_as_written(SERVER_LINES[1], venv_bin, wheelhouse)
    for command in (["grokimagine", "--help"], ["grokimagine-client", "--help"]):
        done = _run(venv_bin, *command)
        assert done.returncode == 0 and "usage:" in done.stdout, done.stdout + done.stderr
    # The whole server imports from the wheel: the app, its console and the client inside it.
    probe = "import grokimagine.console.app, grokimagine_client, rich; print(grokimagine.__file__)"
    done = _run(venv_bin, "python", "-c", probe)
    assert done.returncode == 0, done.stderr
    assert str(tmp_path / "venv") in done.stdout


def test_the_client_installs_alone(tmp_path: Path, wheelhouse: Path) -> None:
    venv_bin = _fresh_venv(tmp_path / "venv")
    for line in CLIENT_LINES:
        _run_as_written(line, venv_bin, wheelhouse)
    done = _run(venv_bin, "grokimagine-client", "--help")
    assert done.returncode == 0 and "usage: grokimagine-client" in done.stdout, done.stderr
    done = _run(venv_bin, "python", "-c", "import grokimagine_client, rich, grokimagine")
    assert "No module named 'grokimagine'" in done.stderr  # the client alone, not the server


@pytest.mark.parametrize("line", DRY_RUN_LINES)
def test_gpu_and_third_party_lines_resolve(line: str, wheelhouse: Path) -> None:
    output = _run_as_written(line, Path(sys.executable).parent, wheelhouse, dry_run=True)
    assert "ERROR" not in output
    assert "Would install" in output or "already satisfied" in output
