"""How the command line shows things: a live rich panel on a terminal, JSON lines elsewhere."""

from __future__ import annotations

import contextlib
import io
import json
import select
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from grokimagine_client.errors import GrokImagineError
from grokimagine_client.types import Task

Update = Callable[[Task], None]


class Display:
    """JSON lines: one object per line, for scripts and pipes."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def _line(self, event: str, **fields: Any) -> None:
        self.out.write(json.dumps({"event": event, **fields}, default=str) + "\n")
        self.out.flush()

    def task(self, task: Task, *, brief: bool = False) -> None:
        """One task as it is now."""
        self._line("task", **task.to_dict())

    @contextlib.contextmanager
    def live(self, task_id: str) -> Iterator[Update]:
        """A callback that shows each new state of the task while the block runs."""
        started = time.monotonic()

        def update(task: Task) -> None:
            self._line(
                "update",
                task_id=task.id,
                status=task.status,
                progress=task.progress,
                queue_position=task.queue_position,
                consumed_credits=task.consumed_credits,
                elapsed=round(time.monotonic() - started, 2),
            )

        yield update

    def finished(self, task: Task) -> None:
        """The task completed."""
        self._line("completed", task_id=task.id, videos=task.videos, task=task.to_dict())

    def saved(self, task_id: str, path: Path) -> None:
        """A video was written."""
        self._line("saved", task_id=task_id, path=str(path))

    def note(self, task_id: str, event: str, text: str) -> None:
        """Something happened to the task (canceled, left running)."""
        self._line(event, task_id=task_id, message=text)

    def record(self, data: dict[str, Any], text: str) -> None:
        """An answer other than a task (balance, quote)."""
        self._line("result", **data)

    def error(self, error: GrokImagineError) -> None:
        """A failure, with everything needed to find the task again."""
        self._line(
            "error",
            message=error.message,
            code=error.code,
            status=error.status,
            task_id=error.task_id,
        )

    def ask_cancel(self, task_id: str) -> bool:
        """Whether to cancel an interrupted task: nobody to ask here, so it keeps running."""
        return False


class TerminalDisplay(Display):
    """Plain lines for a person; a live panel with rich when it is installed."""

    def __init__(self, out: TextIO) -> None:
        super().__init__(out)
        try:
            from rich.console import Console
        except ImportError:
            self.console = None
        else:
            self.console = Console(file=out)

    def _print(self, text: str) -> None:
        if self.console is not None:
            self.console.print(text, highlight=False)
        else:
            self.out.write(text + "\n")
            self.out.flush()

    def task(self, task: Task, *, brief: bool = False) -> None:
        line = f"{task.id}  {_state(task)}  {task.request.get('prompt', '')!s:.60}"
        if brief:
            self._print(line)
            return
        self._print(line)
        for url in task.videos:
            self._print(f"  {url}")
        if task.error_code:
            self._print(f"  error {task.error_code}: {task.error_message or ''}")

    @contextlib.contextmanager
    def live(self, task_id: str) -> Iterator[Update]:
        started = time.monotonic()
        if self.console is None:
            last: list[str] = []

            def print_update(task: Task) -> None:
                text = f"{task.id}  {_state(task)}  {_clock(time.monotonic() - started)}"
                if [text] != last:
                    last[:] = [text]
                    self._print(text)

            yield print_update
            return
        from rich.live import Live

        panel = _LivePanel(task_id, started)
        with Live(panel, console=self.console, refresh_per_second=8, transient=False):
            yield panel.update

    def finished(self, task: Task) -> None:
        self._print(
            f"done: {task.id} ({len(task.videos)} video(s), {task.consumed_credits} credits)"
        )

    def saved(self, task_id: str, path: Path) -> None:
        self._print(f"saved {path}")

    def note(self, task_id: str, event: str, text: str) -> None:
        self._print(text)

    def record(self, data: dict[str, Any], text: str) -> None:
        self._print(text)

    def error(self, error: GrokImagineError) -> None:
        where = f" (task {error.task_id})" if error.task_id else ""
        code = f" [{error.code}]" if error.code else ""
        text = f"error{code}: {error.message}{where}"
        if self.console is not None:
            self.console.print(text, style="red", highlight=False, markup=False)
        else:
            sys.stderr.write(text + "\n")

    def ask_cancel(self, task_id: str) -> bool:
        return ask_cancel_or_leave(self.out, sys.stdin, task_id)


ANSWER_SECONDS = 10.0  # after this long without an answer, the task is left running
CANCEL_ANSWERS = frozenset({"c", "cancel", "y", "yes"})
LEAVE_ANSWERS = frozenset({"", "l", "leave", "n", "no"})


def ask_cancel_or_leave(
    out: TextIO, answers: TextIO, task_id: str, *, seconds: float = ANSWER_SECONDS
) -> bool:
    """Ask whether to cancel an interrupted task or leave it running; ``True`` to cancel.

    Leaving is the default: on Enter, on end of input, on a second Ctrl-C, and when nobody
    answers within ``seconds``. Anything else is asked again.
    """
    deadline = time.monotonic() + seconds
    prompt = (
        f"\nInterrupted. Cancel task {task_id} (refunded) or leave it running?"
        f" [c]ancel / [L]eave (leaving in {seconds:g} s): "
    )
    while True:
        try:
            out.write(prompt)
            out.flush()
            answer = read_answer(answers, deadline - time.monotonic())
        except (KeyboardInterrupt, EOFError):
            answer = None
        if answer is None:
            out.write("\n")
            return False
        choice = answer.strip().lower()
        if choice in CANCEL_ANSWERS:
            return True
        if choice in LEAVE_ANSWERS:
            return False
        prompt = "Type c to cancel the task or l to leave it running: "


def read_answer(answers: TextIO, seconds: float) -> str | None:
    """A line typed within ``seconds``, or ``None`` (no answer in time, or end of input)."""
    if seconds <= 0:
        return None
    try:
        ready, _, _ = select.select([answers], [], [], seconds)
    except (OSError, ValueError, io.UnsupportedOperation):
        # No file descriptor to wait on (Windows consoles, tests' in-memory text): just read.
        ready = [answers]
    if not ready:
        return None
    line = answers.readline()
    return line if line else None


class _LivePanel:
    """The live line: status, queue position, a progress bar, elapsed time and credits."""

    def __init__(self, task_id: str, started: float) -> None:
        self.task_id = task_id
        self.started = started
        self.task: Task | None = None

    def update(self, task: Task) -> None:
        self.task = task

    def __rich__(self) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        task = self.task
        status = task.status if task else "submitting"
        grid = Table.grid(padding=(0, 1))
        grid.add_row(
            Text(f"{status:<10}", style=_STYLES.get(status, "cyan")),
            Text(self.task_id, style="dim"),
            Text(_queue(task)),
            ProgressBar(total=100, completed=task.progress if task else 0, width=30),
            Text(f"{task.progress if task else 0:>3}%"),
            Text(_clock(time.monotonic() - self.started)),
            Text(f"{task.consumed_credits if task else 0} credits", style="dim"),
        )
        return grid


_STYLES = {"completed": "green", "failed": "red", "canceled": "yellow", "pending": "cyan"}


def _queue(task: Task | None) -> str:
    if task is None or task.queue_position is None:
        return ""
    ahead = task.queue_position
    return "next in queue" if ahead == 0 else f"{ahead} ahead in queue"


def _state(task: Task) -> str:
    parts = [task.status]
    if task.queue_position is not None:
        parts.append(_queue(task))
    if task.status == "processing":
        parts.append(f"{task.progress}%")
    return " ".join(parts)


def _clock(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}:{rest:02d}"


def make_display(out: TextIO, *, force_json: bool = False) -> Display:
    """JSON lines off a terminal (or with ``--json``); a person's display on one."""
    if force_json or not out.isatty():
        return Display(out)
    return TerminalDisplay(out)
