"""Source videos of an extend or edit: fetched, decoded or copied at submission, then probed.

A source is a completed task of the same account (``task_id``, ``video_index``) or a ``video``:
an ``http(s)`` URL fetched through the SSRF guard, or a ``data:video/mp4;base64,`` (or webm)
URI. Every source must be an MP4 holding H.264 or a WebM holding VP8, VP9 or AV1 that PyAV
decodes to the last frame, within the size, pixel and duration caps.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import io
import re
from dataclasses import dataclass
from typing import Any

import av

from grokimagine.domain.errors import InvalidRequestError
from grokimagine.net.guard import FetchError, FetchTooLarge, describe_size, guarded_get
from grokimagine.net.policy import Allowlist
from grokimagine.vocabulary import RATIOS, VideoSize

# The containers and codecs accepted, by what PyAV calls them.
_MP4_FORMAT = "mov,mp4,m4a,3gp,3g2,mj2"
_WEBM_FORMAT = "matroska,webm"
_MP4_CODECS = frozenset({"h264"})
_WEBM_CODECS = frozenset({"vp8", "vp9", "av1"})
DEFAULT_MAX_VIDEO_PIXELS = 1920 * 1080
MAX_SOURCE_FPS = 120
# Output sizes of extend and edit: the source's shape, scaled down to fit these, even sides.
MAX_OUTPUT_SHORT_SIDE = 720
MAX_OUTPUT_LONG_SIDE = 1280
MIN_OUTPUT_SIDE = 16

_DATA_URI = re.compile(r"data:video/(mp4|webm);base64,", re.IGNORECASE)


class VideoRejected(InvalidRequestError):
    """The source video is not acceptable; the message names the field and why (a 400)."""


class InvalidVideo(Exception):
    """Raised by :func:`inspect_video`: not an acceptable video. The message is safe to show."""


@dataclass(frozen=True)
class VideoProbe:
    """What decoding a video found out."""

    mime: str
    width: int
    height: int
    seconds: float
    fps: float
    frames: int


@dataclass(frozen=True)
class LoadedVideo:
    """A validated source video. ``echo`` is what the task's ``request.source`` shows."""

    data: bytes
    sha256: str
    probe: VideoProbe
    echo: dict[str, Any]

    @property
    def mime(self) -> str:
        return self.probe.mime


@dataclass(frozen=True)
class VideoLimits:
    """The caps on a source video."""

    max_bytes: int
    max_seconds: float
    timeout: float
    max_pixels: int = DEFAULT_MAX_VIDEO_PIXELS


def inspect_video(data: bytes, max_seconds: float, max_pixels: int) -> VideoProbe:
    """Decode every frame of ``data``; return its format and geometry, or raise InvalidVideo.

    Blocking (decodes the video): call it in a thread. Decoding stops as soon as the video
    proves longer than ``max_seconds``, so a long video costs no more than an allowed one.
    """
    mime = _container_mime(data)
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            expected = _MP4_FORMAT if mime == "video/mp4" else _WEBM_FORMAT
            if container.format.name != expected:
                raise InvalidVideo("not an MP4 or WebM video")
            if not container.streams.video:
                raise InvalidVideo("the file holds no video stream")
            stream = container.streams.video[0]
            codec = stream.codec_context.name
            allowed = _MP4_CODECS if mime == "video/mp4" else _WEBM_CODECS
            if codec not in allowed:
                names = "H.264" if mime == "video/mp4" else "VP8, VP9 or AV1"
                raise InvalidVideo(f"the video is {codec}; accepted in this container: {names}")
            width, height = stream.codec_context.width, stream.codec_context.height
            if width < 2 or height < 2:
                raise InvalidVideo("the video has no picture size")
            if width * height > max_pixels:
                limit = f"at most {max_pixels / 1e6:g} megapixels"
                raise InvalidVideo(f"the video is too large ({width}x{height}; {limit})")
            frames, end = 0, 0.0
            max_frames = int(max_seconds * MAX_SOURCE_FPS) + 1
            rate = float(stream.average_rate or stream.guessed_rate or 24)
            for frame in container.decode(stream):
                frames += 1
                start = frame.time if frame.time is not None else (frames - 1) / rate
                end = max(end, start + 1 / rate)
                if end > max_seconds + 0.05 or frames > max_frames:
                    raise InvalidVideo(f"the video is longer than {max_seconds:g} s")
    except InvalidVideo:
        raise
    except (av.FFmpegError, ValueError, OSError, EOFError) as exc:
        raise InvalidVideo("the video is damaged or truncated") from exc
    if frames == 0:
        raise InvalidVideo("the video has no frames")
    return VideoProbe(mime, width, height, round(end, 3), round(frames / end, 3), frames)


def _container_mime(data: bytes) -> str:
    """The container from its first bytes: an ISO ``ftyp`` box, or an EBML header of a WebM."""
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return "video/mp4"
    if data[:4] == b"\x1a\x45\xdf\xa3" and b"webm" in data[:64]:
        return "video/webm"
    raise InvalidVideo("not an MP4 or WebM video")


async def load_video(
    source: str, *, allowlist: Allowlist, limits: VideoLimits, field: str = "video"
) -> LoadedVideo:
    """Fetch or decode the ``video`` source and validate it; raise :class:`VideoRejected`."""
    scheme = source.split(":", 1)[0].lower() if ":" in source else ""
    if scheme == "data":
        data = _decode_data_uri(source, limits.max_bytes, field)
        echo_value = f"data:video;sha256={hashlib.sha256(data).hexdigest()}"
    elif scheme in ("http", "https"):
        try:
            body = await guarded_get(
                source, allowlist=allowlist, max_bytes=limits.max_bytes, timeout=limits.timeout
            )
        except FetchTooLarge as exc:
            raise too_large(field, exc.limit) from exc
        except FetchError as exc:
            raise VideoRejected(f"The {field} parameter is not valid: {exc.message}") from exc
        data = body.content
        echo_value = source
    else:
        raise VideoRejected(
            f"The {field} parameter is not valid: only http(s) URLs and"
            " data:video/mp4;base64 (or webm) URIs are accepted"
        )
    probe = await probe_video(data, limits, field)
    return LoadedVideo(data, hashlib.sha256(data).hexdigest(), probe, {field: echo_value})


async def probe_video(data: bytes, limits: VideoLimits, field: str) -> VideoProbe:
    """Probe ``data`` in a thread; :class:`VideoRejected` naming ``field`` if unacceptable."""
    try:
        return await asyncio.to_thread(inspect_video, data, limits.max_seconds, limits.max_pixels)
    except InvalidVideo as exc:
        raise VideoRejected(f"The {field} parameter is not valid: {exc}") from exc


def too_large(field: str, limit: int) -> VideoRejected:
    """The refusal of a source over the size cap."""
    return VideoRejected(
        f"The {field} parameter is not valid: the video is larger than {describe_size(limit)}"
    )


def _decode_data_uri(source: str, max_bytes: int, field: str) -> bytes:
    """Decode a ``data:video/mp4;base64,`` URI strictly (no whitespace, no other alphabet)."""
    header = _DATA_URI.match(source)
    if header is None:
        raise VideoRejected(
            f"The {field} parameter is not valid: a data URI must have the form"
            " data:video/mp4;base64,... (or data:video/webm;base64,...)"
        )
    payload = source[header.end() :]
    if len(payload) > 4 * ((max_bytes + 2) // 3):
        raise too_large(field, max_bytes)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VideoRejected(f"The {field} parameter is not valid: not valid base64") from exc
    if len(data) > max_bytes:
        raise too_large(field, max_bytes)
    return data


def output_size(width: int, height: int) -> VideoSize:
    """The size of an extend's or edit's result: the source's shape within the output caps."""
    scale = min(
        1.0,
        MAX_OUTPUT_SHORT_SIDE / min(width, height),
        MAX_OUTPUT_LONG_SIDE / max(width, height),
    )

    def side(value: int) -> int:
        return max(MIN_OUTPUT_SIDE, int(value * scale) // 2 * 2)

    return VideoSize(side(width), side(height))


def nearest_ratio(width: int, height: int) -> str:
    """The API ratio closest to ``width:height`` (the task's ``ratio`` column needs one)."""

    def distance(ratio: str) -> float:
        w, h = (int(part) for part in ratio.split(":"))
        return abs(w / h - width / height)

    return min(RATIOS, key=distance)
