"""File storage for input images and videos: local files by default.

Keys are relative paths such as ``videos/task_abc/0.mp4``. Stores are blocking; async callers
run them with ``asyncio.to_thread``.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Protocol

from grokimagine.storage.signing import UrlSigner

_KEY = re.compile(r"^(inputs|videos)/task_[A-Za-z0-9_-]{8,80}/[A-Za-z0-9_.-]{1,40}$")


def is_valid_key(key: str) -> bool:
    """Whether ``key`` is one this service writes (guards against path traversal)."""
    return bool(_KEY.match(key)) and ".." not in key


class FileStore(Protocol):
    """Where task inputs and outputs live."""

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``."""
        ...

    def put_file(self, key: str, source: Path) -> None:
        """Store the file ``source`` under ``key`` (the source may be moved)."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """The bytes stored under ``key``; ``FileNotFoundError`` if none."""
        ...

    def delete_task_files(self, task_id: str) -> None:
        """Remove every input and video of a task."""
        ...

    def video_url(self, key: str, ttl_seconds: int) -> str:
        """An absolute, signed URL that serves ``key`` for ``ttl_seconds``."""
        ...

    def task_sizes(self) -> dict[str, int]:
        """Bytes stored per task id (inputs and videos), walking the whole store."""
        ...


class LocalFileStore:
    """Files under a folder, served by the API's ``/files`` route under signed URLs."""

    def __init__(self, root: Path, public_url: str, signer: UrlSigner) -> None:
        self.root = root
        self.public_url = public_url.rstrip("/")
        self.signer = signer
        root.mkdir(parents=True, exist_ok=True)

    def path_of(self, key: str) -> Path:
        """The local path of ``key``; ``ValueError`` for a key this store never writes."""
        if not is_valid_key(key):
            raise ValueError(f"invalid storage key {key!r}")
        return self.root / key

    def put_bytes(self, key: str, data: bytes) -> None:
        target = self.path_of(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader never sees half a file.
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as handle:
            handle.write(data)
        os.replace(handle.name, target)

    def put_file(self, key: str, source: Path) -> None:
        target = self.path_of(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(target.name + ".part")
        shutil.copyfile(source, temporary)
        os.replace(temporary, target)

    def get_bytes(self, key: str) -> bytes:
        return self.path_of(key).read_bytes()

    def delete_task_files(self, task_id: str) -> None:
        for kind in ("inputs", "videos"):
            shutil.rmtree(self.root / kind / task_id, ignore_errors=True)

    def video_url(self, key: str, ttl_seconds: int) -> str:
        query = self.signer.sign_query(key, ttl_seconds)
        return f"{self.public_url}/files/{key}?{query}"

    def task_sizes(self) -> dict[str, int]:
        sizes: dict[str, int] = {}
        for kind in ("inputs", "videos"):
            folder = self.root / kind
            if not folder.is_dir():
                continue
            for task_dir in folder.iterdir():
                total = sum(item.stat().st_size for item in task_dir.iterdir() if item.is_file())
                sizes[task_dir.name] = sizes.get(task_dir.name, 0) + total
        return sizes
