"""Input images: fetched through the guard or decoded from data URIs, validated with Pillow."""

from __future__ import annotations

import base64
import hashlib
import io
import random
import struct
import threading
import zlib
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from grokimagine.domain.media.images import (
    ImageRejected,
    InvalidImage,
    LoadedImage,
    inspect_image,
    load_images,
)

if TYPE_CHECKING:
    from tests.helpers.servers import LocalServer

# Every test here runs with connect_log: no connection leaves loopback, even if the guard fails.
pytestmark = pytest.mark.usefixtures("connect_log")

MiB = 1024 * 1024
LOOPBACK = ["127.0.0.1"]


def encode(fmt: str, size: tuple[int, int] = (32, 24), **options: object) -> bytes:
    """An image of seeded noise (so that its compressed data is long enough to cut)."""
    noise = random.Random(f"{fmt}{size}").randbytes(size[0] * size[1] * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, noise).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def animated_gif() -> bytes:
    frames = [Image.new("P", (16, 16), color) for color in (1, 2, 3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=40)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` grey pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * 4, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


async def load(sources: list[str], **options: object) -> list[LoadedImage]:
    settings: dict[str, object] = {"allowlist": LOOPBACK, "max_bytes": MiB, "timeout": 5}
    settings.update(options)
    return await load_images(sources, **settings)  # type: ignore[arg-type]


async def rejected(sources: list[str], **options: object) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        await load(sources, **options)
    return caught.value


# --- success ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("GIF", "image/gif")],
)
async def test_loads_each_allowed_format_over_http(
    server: LocalServer, fmt: str, mime: str
) -> None:
    data = encode(fmt)
    # The server's content type is wrong on purpose: the decoded format decides.
    url = server.add(f"/img.{fmt.lower()}", body=data, headers={"Content-Type": "text/plain"})
    [image] = await load([url])
    assert image == LoadedImage(
        data=data,
        mime=mime,
        sha256=hashlib.sha256(data).hexdigest(),
        echo=url,
        width=32,
        height=24,
    )


async def test_loads_a_chunked_response_without_content_length(server: LocalServer) -> None:
    data = encode("PNG", (64, 64))
    url = server.add("/chunked.png", chunks=[data[i : i + 500] for i in range(0, len(data), 500)])
    [image] = await load([url])
    assert image.data == data
    assert (image.width, image.height) == (64, 64)


async def test_data_uri_is_decoded_and_echoed_by_digest() -> None:
    data = encode("PNG")
    digest = hashlib.sha256(data).hexdigest()
    # Declared as JPEG, really a PNG: the real type is reported and echoed.
    [image] = await load([data_uri(data, "image/jpeg")], allowlist=[])
    assert image.data == data
    assert image.mime == "image/png"
    assert image.echo == f"data:image/png;sha256={digest}"
    assert image.sha256 == digest


async def test_animated_gif_is_accepted() -> None:
    [image] = await load([data_uri(animated_gif(), "image/gif")])
    assert (image.mime, image.width, image.height) == ("image/gif", 16, 16)


async def test_fetches_several_images_concurrently_and_keeps_their_order(
    server: LocalServer,
) -> None:
    # Each answer waits until all three requests have arrived: a sequential loader would break
    # the barrier (BrokenBarrierError in the handler, hence no answer and a failed fetch).
    barrier = threading.Barrier(3, timeout=5)
    sizes = [(10, 11), (12, 13), (14, 15)]
    urls = [
        server.add(f"/{n}.png", body=encode("PNG", size), before=barrier.wait)
        for n, size in enumerate(sizes)
    ]
    inline = data_uri(encode("JPEG", (16, 17)), "image/jpeg")
    images = await load([*urls, inline])
    assert [(i.width, i.height) for i in images] == [*sizes, (16, 17)]
    assert [i.echo for i in images[:3]] == urls


async def test_no_images() -> None:
    assert await load([]) == []


# --- refusals ---------------------------------------------------------------------------------


async def test_more_than_max_images() -> None:
    error = await rejected([data_uri(encode("PNG"))] * 5)
    assert (error.status, error.index) == (400, None)
    assert "at most 4 images" in error.message


@pytest.mark.parametrize(
    "source",
    [
        "file:///etc/passwd",
        "ftp://example.com/a.png",
        "gopher://example.com/",
        "javascript:alert(1)",
        "/relative/path.png",
        " http://example.com/a.png",
    ],
)
async def test_other_schemes_are_refused(source: str) -> None:
    error = await rejected([source])
    assert (error.status, error.index) == (400, 0)
    assert error.message.startswith("images[0]: only http(s) URLs and data:image/")


async def test_forbidden_address_names_the_image(
    server: LocalServer, connect_log: list[tuple[str, int]]
) -> None:
    good = data_uri(encode("PNG"))
    url = server.add("/a.png", body=encode("PNG"))
    error = await rejected([good, url], allowlist=[])
    assert (error.status, error.index) == (400, 1)
    assert error.message == "images[1]: the address is not allowed"
    assert connect_log == []
    assert server.requests == []


async def test_redirect_to_metadata_address_is_refused(server: LocalServer) -> None:
    url = server.add("/a.png", status=302, headers={"Location": "http://169.254.169.254/"})
    error = await rejected([url])
    assert error.message == "images[0]: the address is not allowed"


async def test_http_image_over_the_cap_is_413(server: LocalServer) -> None:
    data = encode("PNG", (64, 64))
    url = server.add("/big.png", body=data)
    error = await rejected([url], max_bytes=len(data) - 1)
    assert (error.status, error.index) == (413, 0)
    assert error.message.startswith("images[0]: the image is larger than")


async def test_chunked_image_over_the_cap_is_413(server: LocalServer) -> None:
    url = server.add("/endless.png", chunks=[b"\x89PNG" + b"\0" * 4092], endless=True)
    error = await rejected([url], max_bytes=64 * 1024)
    assert (error.status, error.index) == (413, 0)


async def test_data_uri_over_the_cap_is_413() -> None:
    data = encode("PNG", (64, 64))
    error = await rejected([data_uri(data)], max_bytes=len(data) - 1)
    assert (error.status, error.index) == (413, 0)
    assert error.message == f"images[0]: the image is larger than {len(data) - 1} bytes"
    # Exactly at the cap is fine.
    [image] = await load([data_uri(data)], max_bytes=len(data))
    assert image.data == data


async def test_non_image_is_refused(server: LocalServer) -> None:
    url = server.add(
        "/page.png", body=b"<html>not an image</html>", headers={"Content-Type": "image/png"}
    )
    error = await rejected([url])
    assert (error.status, error.index) == (400, 0)
    assert error.message == "images[0]: not a PNG, JPEG, WEBP or GIF image"


async def test_image_of_another_format_is_refused() -> None:
    error = await rejected([data_uri(encode("BMP"), "image/bmp")])
    assert error.message == "images[0]: not a PNG, JPEG, WEBP or GIF image"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
async def test_truncated_image_is_refused(server: LocalServer, fmt: str) -> None:
    data = encode(fmt, (64, 64))
    url = server.add("/cut", body=data[: len(data) * 2 // 3])
    error = await rejected([url])
    assert (error.status, error.index) == (400, 0)
    assert error.message == "images[0]: the image is damaged or truncated"


async def test_corrupted_png_checksum_is_refused() -> None:
    data = bytearray(encode("PNG", (64, 64)))
    data[60] ^= 0xFF  # inside the image data: its chunk checksum no longer matches
    error = await rejected([data_uri(bytes(data))])
    assert error.message == "images[0]: the image is damaged or truncated"


@pytest.mark.parametrize(
    ("size", "message"),
    [
        # Over our 40 megapixel cap, under Pillow's own limit.
        (
            (8000, 8000),
            "images[0]: the image has too many pixels (8000x8000; at most 40 megapixels)",
        ),
        # Over Pillow's limit too: its DecompressionBombError is a refusal as well.
        ((100_000, 100_000), "images[0]: the image has too many pixels"),
    ],
)
async def test_decompression_bomb_is_refused(size: tuple[int, int], message: str) -> None:
    pillow_limit = Image.MAX_IMAGE_PIXELS
    bomb = png_claiming(*size)
    assert len(bomb) < 64 * 1024
    error = await rejected([data_uri(bomb)])
    assert (error.status, error.index) == (400, 0)
    assert error.message.startswith(message)
    assert pillow_limit == Image.MAX_IMAGE_PIXELS  # Pillow's global setting left alone


def test_pixel_cap_is_a_parameter() -> None:
    data = encode("PNG", (100, 100))
    assert inspect_image(data, max_pixels=10_000) == ("image/png", 100, 100)
    with pytest.raises(InvalidImage, match=r"\(100x100; at most 0\.009999 megapixels\)"):
        inspect_image(data, max_pixels=9_999)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("data:image/png;base64,iVBORw0KGgo=!!", "not valid base64"),
        ("data:image/png;base64,iVBORw0KGgo", "not valid base64"),  # missing padding
        ("data:image/png;base64,iVBO Rw0K", "not valid base64"),
        ("data:text/plain;base64,aGVsbG8=", "data:image/<type>;base64"),
        ("data:image/png,rawbytes", "data:image/<type>;base64"),
        ("data:;base64,aGVsbG8=", "data:image/<type>;base64"),
        ("data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=", "not a PNG, JPEG, WEBP or GIF image"),
        ("data:image/png;base64,", "not a PNG, JPEG, WEBP or GIF image"),
    ],
)
async def test_bad_data_uris(source: str, message: str) -> None:
    error = await rejected([data_uri(encode("PNG")), source])
    assert (error.status, error.index) == (400, 1)
    assert error.message.startswith("images[1]: ")
    assert message in error.message


async def test_a_bad_image_is_reported_without_waiting_for_the_others(server: LocalServer) -> None:
    release = threading.Event()
    slow = server.add("/slow.png", body=encode("PNG"), before=lambda: release.wait(10))
    try:
        # The fetch of images[0] would hang for the whole timeout; the bad images[1] ends it.
        error = await rejected([slow, "data:text/plain;base64,aGk="], timeout=30)
    finally:
        release.set()
    assert error.index == 1
