"""The command line of the API: generate, follow, fetch and manage video tasks.

The same commands run as ``grokimagine-client ...`` and as the server's ``grokimagine ...``.
On a terminal they show live progress (with rich, if installed); elsewhere, or with ``--json``,
they print JSON lines. Exit codes: 0 done, 1 failed, 2 bad usage, 3 content rejected,
4 timed out, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from grokimagine_client.errors import (
    APIError,
    ContentRejectedError,
    GrokImagineError,
    TaskCanceledError,
    TaskFailedError,
    TaskTimeoutError,
)
from grokimagine_client.progress import Display, make_display
from grokimagine_client.types import Task

if TYPE_CHECKING:
    from grokimagine_client._sync import GrokImagine

EXIT_DONE, EXIT_FAILED, EXIT_USAGE, EXIT_REJECTED, EXIT_TIMEOUT, EXIT_INTERRUPTED = (
    0,
    1,
    2,
    3,
    4,
    130,
)
COMMANDS = (
    "generate",
    "status",
    "wait",
    "download",
    "tasks",
    "cancel",
    "delete",
    "balance",
    "quote",
    "extend",
    "edit",
)


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the API commands to an ``argparse`` sub-command set (the server's CLI uses this)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--api-key", help="the API key (default: $GROKIMAGINE_API_KEY)")
    common.add_argument(
        "--base-url", help="the server (default: $GROKIMAGINE_BASE_URL or http://127.0.0.1:8000)"
    )
    common.add_argument("--json", action="store_true", help="JSON lines, even on a terminal")

    def command(name: str, help_text: str, run: Callable[..., int]) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help_text, parents=[common])
        parser.set_defaults(client_command=run)
        return parser

    generate = command("generate", "generate a video (--wait to follow it)", _generate)
    generate.add_argument("prompt")
    _add_options(generate)
    generate.add_argument("--wait", action="store_true", help="follow the task until it ends")
    generate.add_argument("-o", "--output", help="file or folder for the videos (implies --wait)")
    generate.add_argument("--timeout", type=float, default=900.0, help="seconds to wait")
    generate.add_argument("--idempotency-key", help="default: a fresh one per call")

    status = command("status", "show a task", _status)
    status.add_argument("task_id")
    status.add_argument("--watch", action="store_true", help="follow it until it ends")
    status.add_argument("--timeout", type=float, default=900.0)

    wait = command("wait", "follow a task until it ends", _wait)
    wait.add_argument("task_id")
    wait.add_argument("-o", "--output", help="also download the videos here")
    wait.add_argument("--timeout", type=float, default=900.0)

    download = command("download", "download a completed task's videos", _download)
    download.add_argument("task_id")
    download.add_argument("-o", "--output", help="file or folder (default: here)")

    tasks = command("tasks", "list tasks, newest first", _tasks)
    tasks.add_argument("--status", help="only tasks in this state")
    tasks.add_argument("--limit", type=int, default=20, help="at most this many")

    cancel = command("cancel", "cancel a task (refunded)", _cancel)
    cancel.add_argument("task_id")
    delete = command("delete", "delete a task's files", _delete)
    delete.add_argument("task_id")
    command("balance", "show the account's credits", _balance)
    for name, help_text, run_it in (
        ("extend", "continue a video by --duration seconds (--wait to follow it)", _extend),
        ("edit", "change a video as the prompt says (--wait to follow it)", _edit),
    ):
        operation = command(name, help_text, run_it)
        operation.add_argument("source", help="a task id, a video URL or a video file")
        operation.add_argument("prompt")
        if name == "extend":
            operation.add_argument("--duration", type=int, help="seconds to add (default 6)")
        operation.add_argument("--mode", choices=["fun", "normal", "spicy"])
        operation.add_argument("--video-index", type=int, help="which video of the task")
        operation.add_argument("--callback-url")
        operation.add_argument("--wait", action="store_true", help="follow the task until it ends")
        operation.add_argument("-o", "--output", help="where to save the video (implies --wait)")
        operation.add_argument("--timeout", type=float, default=900.0, help="seconds to wait")
        operation.add_argument("--idempotency-key", help="default: a fresh one per call")

    quote = command("quote", "price a request without running it", _quote)
    quote.add_argument("prompt")
    _add_options(quote)


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=["fun", "normal", "spicy"])
    parser.add_argument("--ratio", choices=["2:3", "3:2", "1:1"])
    parser.add_argument(
        "-i", "--image", action="append", dest="images", help="image file or URL (repeatable)"
    )
    parser.add_argument("--n", type=int, help="videos to make (1-4)")
    parser.add_argument("--duration", type=int, help="seconds per video")
    parser.add_argument("--resolution", choices=["480p", "720p"])
    parser.add_argument("--seed", type=int)
    parser.add_argument("--negative-prompt")
    parser.add_argument("--callback-url")


def parser() -> argparse.ArgumentParser:
    """The ``grokimagine-client`` parser."""
    root = argparse.ArgumentParser(prog="grokimagine-client", description=__doc__)
    add_commands(root.add_subparsers(title="commands", required=True))
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``grokimagine-client``: Ctrl-C at any moment exits 130, no traceback."""
    try:
        return run(parser().parse_args(argv))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def run(args: argparse.Namespace, *, out: Any = None) -> int:
    """Run a parsed API command; returns its exit code."""
    stream = out or sys.stdout
    display = make_display(stream, force_json=args.json)
    try:
        from grokimagine_client._sync import GrokImagine  # httpx: loaded when a command runs

        client = GrokImagine(api_key=args.api_key, base_url=args.base_url)
    except GrokImagineError as exc:
        display.error(exc)
        return EXIT_USAGE
    except KeyboardInterrupt:  # while starting up: nothing was sent yet
        return EXIT_INTERRUPTED
    try:
        with client:
            return int(args.client_command(client, args, display))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except GrokImagineError as exc:
        display.error(exc)
        return _exit_code(exc)


def _exit_code(error: GrokImagineError) -> int:
    if isinstance(error, ContentRejectedError):
        return EXIT_REJECTED
    if isinstance(error, TaskTimeoutError):
        return EXIT_TIMEOUT
    if isinstance(error, APIError) and error.status == 400:
        return EXIT_USAGE
    return EXIT_FAILED


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "mode": args.mode,
        "ratio": args.ratio,
        "images": args.images,
        "n": args.n,
        "duration": args.duration,
        "resolution": args.resolution,
        "seed": args.seed,
        "negative_prompt": args.negative_prompt,
        "callback_url": args.callback_url,
    }


def _generate(client: GrokImagine, args: argparse.Namespace, display: Display) -> int:
    task = client.videos.create(args.prompt, idempotency_key=args.idempotency_key, **_options(args))
    if not (args.wait or args.output):
        display.task(task)
        return EXIT_DONE
    return _follow(client, task.id, args.timeout, display, output=args.output, first=task)


def _extend(client: GrokImagine, args: argparse.Namespace, display: Display) -> int:
    task = client.videos.extend(
        args.source,
        args.prompt,
        duration=args.duration,
        mode=args.mode,
        video_index=args.video_index,
        callback_url=args.callback_url,
        idempotency_key=args.idempotency_key,
    )
    return _submitted(client, args, display, task)


def _edit(client: GrokImagine, args: argparse.Namespace, display: Display) -> int:
    task = client.videos.edit(
        args.source,
        args.prompt,
        mode=args.mode,
        video_index=args.video_index,
        callback_url=args.callback_url,
        idempotency_key=args.idempotency_key,
    )
    return _submitted(client, args, display, task)


def _submitted(client: GrokImagine, args: argparse.Namespace, display: Display, task: Task) -> int:
    if not (args.wait or args.output):
        display.task(task)
        return EXIT_DONE
    return _follow(client, task.id, args.timeout, display, output=args.output, first=task)


def _wait(client: GrokImagine, args: argparse.Namespace, display: Display) -> int:
    return _follow(client, args.task_id, args.timeout, display, output=args.output)


def _status(client: GrokImagine, args: argparse.Namespace, display: Display) -> int:
    if args.watch:
        return _follow(client, args.task_id, args.timeout, display, output=None)
    display.task(client.videos.retrieve(args.task_id))
    return EXIT_DONE


def _follow(
    client: GrokImagine,
    task_id: str,
    timeout: float,
    display: Display,
    *,
    output: str | None,
    first: Task | None = None,
) -> int:
    """Follow a task with live progress; on Ctrl-C, ask whether to cancel it or leave it."""
    try:
        with display.live(task_id) as live:
            if first is not None:
                live(first)
            try:
                task = client.videos.wait(task_id, timeout=timeout, on_update=live)
            except (TaskFailedError, TaskCanceledError) as exc:
                if exc.task is not None:
                    live(exc.task)
                raise
    except KeyboardInterrupt:
        _interrupted(client, task_id, display)
        return EXIT_INTERRUPTED
    display.finished(task)
    if output is not None:
        for path in client.videos.download(task, output):
            display.saved(task.id, path)
    return EXIT_DONE


def _interrupted(client: GrokImagine, task_id: str, display: Display) -> None:
    if display.ask_cancel(task_id):
        try:
            task = client.videos.cancel(task_id)
        except GrokImagineError as exc:
            display.error(exc)
            return
        except KeyboardInterrupt:  # a second Ctrl-C while canceling: say where things stand
            display.note(
                task_id,
                "left_running",
                f"cancel of {task_id} interrupted; check it with: grokimagine status {task_id}",
            )
            return
        display.note(task_id, "canceled", f"canceled {task_id} ({task.status}); credits refunded")
        return
    display.note(
        task_id,
        "left_running",
        f"{task_id} keeps running; follow it with: grokimagine status {task_id} --watch",
    )


def _download(client: GrokImagine, args: argparse.Namespace, display: Display) -> int:
    for path in client.videos.download(args.task_id, args.output):
        display.saved(args.task_id, path)
    return EXIT_DONE


def _tasks(client: GrokImagine, args: argparse.Namespace, display: Display) -> int:
    pages = client.videos.list(status=args.status, limit=min(100, max(1, args.limit)))
    for listed, task in enumerate(pages, start=1):
        display.task(task, brief=True)
        if listed >= args.limit:
            break
    return EXIT_DONE


def _cancel(client: GrokImagine, args: argparse.Namespace, display: Display) -> int:
    display.task(client.videos.cancel(args.task_id))
    return EXIT_DONE


def _delete(client: GrokImagine, args: argparse.Namespace, display: Display) -> int:
    display.task(client.videos.delete(args.task_id))
    return EXIT_DONE


def _balance(client: GrokImagine, args: argparse.Namespace, display: Display) -> int:
    account = client.account.retrieve()
    display.record(account.to_dict(), f"{account.balance} credits ({account.plan} plan)")
    return EXIT_DONE


def _quote(client: GrokImagine, args: argparse.Namespace, display: Display) -> int:
    quote = client.videos.quote(args.prompt, **_options(args))
    credits = quote.credits
    display.record(quote.to_dict(), f"{credits} credits" if credits is not None else str(quote.raw))
    return EXIT_DONE


if __name__ == "__main__":
    sys.exit(main())
