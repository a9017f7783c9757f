"""Input images of a generation request: fetched or decoded at submission, then validated.

Each source is an ``http(s)`` URL, fetched through the SSRF guard, or a
``data:image/<type>;base64,`` URI. Every image must be a PNG, JPEG, WEBP or GIF that Pillow
decodes in full (the first frame of an animation), within the size cap and the pixel cap.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import httpx
from PIL import Image, UnidentifiedImageError

from grokimagine.net.guard import (
    FetchError,
    FetchTooLarge,
    describe_size,
    guarded_client,
    guarded_get,
)
from grokimagine.net.policy import Allowlist
from grokimagine.vocabulary import MAX_IMAGES

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
# MPO is what Pillow calls a JPEG that carries extra pictures (many camera photos).
FORMAT_MIME = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "WEBP": "image/webp",
    "GIF": "image/gif",
}
DEFAULT_MAX_PIXELS = 40_000_000

_DATA_URI = re.compile(r"data:image/[a-z0-9.+-]+;base64,", re.IGNORECASE)


@dataclass(frozen=True)
class LoadedImage:
    """A validated input image. ``echo`` is what the task's ``request.images`` shows."""

    data: bytes
    mime: str  # from the decoded format, not from a header or the data URI
    sha256: str
    echo: str  # the URL as given, or "data:<mime>;sha256=<hex digest>"
    width: int
    height: int


class ImageRejected(Exception):
    """An image (or the list) is not acceptable. ``message`` names it; ``status`` is 400 or 413."""

    def __init__(self, index: int | None, message: str, status: int = 400):
        super().__init__(message)
        self.index = index
        self.message = message
        self.status = status


class ImageTooLargeError(ImageRejected):
    """An image over the size limit (413)."""

    def __init__(self, index: int | None, message: str) -> None:
        super().__init__(index, message, 413)


class InvalidImage(Exception):
    """Raised by :func:`inspect_image`: not an acceptable image. The message is safe to show."""


async def load_images(
    sources: Sequence[str],
    *,
    allowlist: Allowlist | Iterable[str],
    max_bytes: int,
    timeout: float,
    max_images: int = MAX_IMAGES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_redirects: int = 3,
) -> list[LoadedImage]:
    """Fetch or decode every source concurrently and validate it; same order as ``sources``.

    Raises :class:`ImageRejected` for the first image found bad (the others are abandoned).
    """
    if len(sources) > max_images:
        raise ImageRejected(None, f"images: at most {max_images} images are allowed")
    if not sources:
        return []
    policy = Allowlist.coerce(allowlist)
    async with contextlib.AsyncExitStack() as stack:
        client = None
        if any(_scheme(source) in ("http", "https") for source in sources):
            client = await stack.enter_async_context(
                guarded_client(policy, timeout=timeout, max_connections=len(sources))
            )
        tasks = [
            asyncio.create_task(
                _load_one(
                    index,
                    source,
                    client=client,
                    allowlist=policy,
                    max_bytes=max_bytes,
                    timeout=timeout,
                    max_pixels=max_pixels,
                    max_redirects=max_redirects,
                )
            )
            for index, source in enumerate(sources)
        ]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise


def _scheme(source: str) -> str:
    return source.split(":", 1)[0].lower() if ":" in source else ""


async def _load_one(
    index: int,
    source: str,
    *,
    client: httpx.AsyncClient | None,
    allowlist: Allowlist,
    max_bytes: int,
    timeout: float,
    max_pixels: int,
    max_redirects: int,
) -> LoadedImage:
    name = f"images[{index}]"
    scheme = _scheme(source)
    if scheme == "data":
        data = _decode_data_uri(index, source, max_bytes)
    elif scheme in ("http", "https"):
        try:
            body = await guarded_get(
                source,
                allowlist=allowlist,
                max_bytes=max_bytes,
                timeout=timeout,
                max_redirects=max_redirects,
                client=client,
            )
        except FetchTooLarge as exc:
            raise _too_large(index, exc.limit) from exc
        except FetchError as exc:
            raise ImageRejected(index, f"{name}: {exc.message}") from exc
        data = body.content
    else:
        raise ImageRejected(
            index, f"{name}: only http(s) URLs and data:image/...;base64 URIs are accepted"
        )
    try:
        mime, width, height = await asyncio.to_thread(inspect_image, data, max_pixels)
    except InvalidImage as exc:
        raise ImageRejected(index, f"{name}: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    echo = f"data:{mime};sha256={digest}" if scheme == "data" else source
    return LoadedImage(data, mime, digest, echo, width, height)


def _too_large(index: int, limit: int) -> ImageRejected:
    return ImageTooLargeError(
        index, f"images[{index}]: the image is larger than {describe_size(limit)}"
    )


def _decode_data_uri(index: int, source: str, max_bytes: int) -> bytes:
    """Decode a ``data:image/...;base64,`` URI strictly (no whitespace, no other alphabet)."""
    header = _DATA_URI.match(source)
    if header is None:
        raise ImageRejected(
            index, f"images[{index}]: a data URI must have the form data:image/<type>;base64,..."
        )
    payload = source[header.end() :]
    # Refuse before decoding: base64 takes 4 characters for every 3 bytes.
    if len(payload) > 4 * ((max_bytes + 2) // 3):
        raise _too_large(index, max_bytes)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageRejected(index, f"images[{index}]: the data URI is not valid base64") from exc
    if len(data) > max_bytes:
        raise _too_large(index, max_bytes)
    return data


def inspect_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[str, int, int]:
    """Validate an encoded image fully; return its real mime type, width and height.

    Blocking (decodes the image): call it in a thread. Raises :class:`InvalidImage`.
    """
    try:
        # ``formats`` keeps Pillow from trying its other (less hardened) decoders.
        with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as image:
            mime = FORMAT_MIME.get(image.format or "")
            width, height = image.size
            if mime is None:
                raise InvalidImage("not a PNG, JPEG, WEBP or GIF image")
            # Our own cap, checked from the header before anything is decoded, so that
            # Pillow's process-wide MAX_IMAGE_PIXELS need not be changed.
            if width * height > max_pixels:
                raise InvalidImage(_too_many_pixels(width, height, max_pixels))
            image.verify()
        # verify() leaves the image unusable: open again to decode the pixels.
        with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as image:
            image.load()
    except InvalidImage:
        raise
    except Image.DecompressionBombError as exc:
        raise InvalidImage("the image has too many pixels") from exc
    except UnidentifiedImageError as exc:
        raise InvalidImage("not a PNG, JPEG, WEBP or GIF image") from exc
    except Exception as exc:
        # Decoders fail on hostile input with many exception types (OSError, SyntaxError,
        # struct.error, zlib.error, ...): each one means a damaged file.
        raise InvalidImage("the image is damaged or truncated") from exc
    return mime, width, height


def _too_many_pixels(width: int, height: int, max_pixels: int) -> str:
    limit = f"at most {max_pixels / 1e6:g} megapixels"
    return f"the image has too many pixels ({width}x{height}; {limit})"
