"""Reading OpenAI-shaped request bodies: multipart/form-data as the SDKs send them, or JSON.

The SDKs write nested objects as bracketed form keys (``video[id]``, ``input_reference
[image_url]``) and files as parts; a file becomes a data URI here, so the domain checks it
exactly as it checks a data URI given in JSON (type, size, pixels, duration).
"""

from __future__ import annotations

import base64
import mimetypes
import re
from typing import Any

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from grokimagine.http.errors import ApiError, invalid_request
from grokimagine.http.v1.generate import json_object

_BRACKETED = re.compile(r"^([A-Za-z_]+)\[([A-Za-z_]+)\]$")
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
_MEDIA_TYPE = re.compile(r"^[a-z]+/[a-z0-9.+-]+$")


async def body_fields(
    request: Request, file_fields: dict[str, str], max_file_bytes: int = 0
) -> dict[str, Any]:
    """The body as a dict: form fields (nested by their brackets) or a JSON object.

    ``file_fields`` maps each field that may be a file upload to the nested key its data URI
    goes under (``{"input_reference": "image_url"}``) or ``""`` for the field itself. A file
    over ``max_file_bytes`` is a 413 before it is read into memory (the domain checks the
    limit again on the data URI, as for any).
    """
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(_FORM_TYPES):
        return await json_object(request)
    try:
        form = await request.form(max_files=len(file_fields) or 1, max_fields=50)
    except MultiPartException as exc:
        raise invalid_request(f"the form body could not be read: {exc.message}") from None
    fields: dict[str, Any] = {}
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if name not in file_fields:
                    raise invalid_request(f"The {name} parameter is not valid: no file expected")
                if value.size is not None and value.size > max_file_bytes:
                    raise ApiError(
                        413,
                        f"Payload too large: The {name} parameter is over {max_file_bytes} bytes",
                        "PAYLOAD_TOO_LARGE",
                    )
                uri = await _data_uri(value)
                inner = file_fields[name]
                fields[name] = {inner: uri} if inner else uri
                continue
            nested = _BRACKETED.match(name)
            if nested is not None:
                outer, inner = nested.groups()
                holder = fields.setdefault(outer, {})
                if not isinstance(holder, dict):
                    raise invalid_request(f"The {outer} parameter is given twice")
                holder[inner] = value
            else:
                fields[name] = value
    finally:
        await form.close()
    return fields


async def _data_uri(upload: UploadFile) -> str:
    """The upload as a data URI of its declared media type (the domain checks the bytes)."""
    media_type = (upload.content_type or "").split(";")[0].strip().lower()
    if media_type in ("", "application/octet-stream") and upload.filename:
        # Clients that send bare bytes name the file; its extension says what it is.
        media_type = mimetypes.guess_type(upload.filename)[0] or media_type
    if not _MEDIA_TYPE.match(media_type):
        media_type = "application/octet-stream"
    data = await upload.read()
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"
