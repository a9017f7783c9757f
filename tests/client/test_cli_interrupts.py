"""Ctrl-C in the command line: cancel or leave, a default when nobody answers, no traceback."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator

import pytest

from grokimagine_client import cli
from grokimagine_client.progress import ask_cancel_or_leave


@pytest.fixture
def silent_input() -> Iterator[io.TextIOWrapper]:
    """A pipe nobody writes to: like a person who walked away from the terminal."""
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "r") as answers:
        yield answers
    os.close(write_end)


def _typed(text: str) -> io.TextIOWrapper:
    read_end, write_end = os.pipe()
    os.write(write_end, text.encode())
    os.close(write_end)
    return os.fdopen(read_end, "r")


@pytest.mark.parametrize(
    ("typed", "cancels"),
    [("c\n", True), ("cancel\n", True), ("y\n", True), ("l\n", False), ("\n", False)],
)
def test_the_prompt_offers_cancel_or_leave(typed: str, cancels: bool) -> None:
    out = io.StringIO()
    with _typed(typed) as answers:
        assert ask_cancel_or_leave(out, answers, "task_1") is cancels
    assert "[c]ancel / [L]eave" in out.getvalue()
    assert "Cancel task task_1 (refunded)" in out.getvalue()


def test_an_unclear_answer_is_asked_again() -> None:
    out = io.StringIO()
    with _typed("what?\nc\n") as answers:
        assert ask_cancel_or_leave(out, answers, "task_1") is True
    assert "Type c to cancel the task or l to leave it running" in out.getvalue()


def test_nobody_answering_leaves_the_task_running(silent_input: io.TextIOWrapper) -> None:
    out = io.StringIO()
    # Nobody ever types: the answer can only come from the default, whatever the timing.
    assert ask_cancel_or_leave(out, silent_input, "task_1", seconds=0.2) is False
    assert "leaving in 0.2 s" in out.getvalue()


def test_end_of_input_leaves_the_task_running() -> None:
    with _typed("") as answers:
        assert ask_cancel_or_leave(io.StringIO(), answers, "task_1") is False


def test_ctrl_c_while_starting_up_exits_130_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    # The command imports its client when it runs (httpx only then): patch it where it lives.
    monkeypatch.setattr("grokimagine_client._sync.GrokImagine", interrupted)
    assert cli.main(["balance", "--api-key", "gi_live_x"]) == cli.EXIT_INTERRUPTED
    monkeypatch.setattr(cli, "parser", interrupted)
    assert cli.main(["balance"]) == cli.EXIT_INTERRUPTED
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err


def test_the_server_command_exits_130_on_ctrl_c_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from grokimagine import cli as server_cli

    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(server_cli, "_parser", interrupted)
    assert server_cli.main(["balance"]) == 130
