"""Inputs and videos in an S3-compatible object store (AWS S3, MinIO, Ceph, ...), with boto3.

Clients download videos straight from the store through presigned GET URLs that expire; the API
never proxies the bytes. Objects are written with their Content-Type (``video/mp4`` for videos),
which the store sends back with every download.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from grokimagine.settings import Settings
from grokimagine.storage.files import is_valid_key

_CONTENT_TYPES = {".mp4": "video/mp4", ".webp": "image/webp"}
_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}


def _content_type(key: str) -> str:
    suffix = Path(key).suffix.lower()
    return _CONTENT_TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


class S3FileStore:
    """A :class:`~grokimagine.storage.files.FileStore` on one bucket, under an optional prefix."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        public_endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        prefix: str = "",
        addressing_style: str = "auto",
    ) -> None:
        if addressing_style == "auto" and endpoint_url:
            # Self-hosted stores (MinIO and the like) rarely have a DNS name per bucket.
            addressing_style = "path"
        options: dict[str, Any] = {
            "region_name": region,
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
            "config": Config(
                signature_version="s3v4",
                s3={"addressing_style": addressing_style},
                retries={"max_attempts": 5, "mode": "standard"},
            ),
        }
        self.bucket = bucket
        self.prefix = prefix
        self._client = boto3.client("s3", endpoint_url=endpoint_url, **options)
        # Presigning is computed locally: a second client whose URLs name the host that
        # clients reach, when it differs from the one the service talks to.
        self._signer = (
            boto3.client("s3", endpoint_url=public_endpoint_url, **options)
            if public_endpoint_url
            else self._client
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> S3FileStore:
        """The store the ``GROKIMAGINE_S3_*`` settings describe."""
        if not settings.s3.bucket:
            raise ValueError("GROKIMAGINE_STORAGE=s3 needs GROKIMAGINE_S3_BUCKET")
        secret = settings.s3.secret_access_key
        return cls(
            settings.s3.bucket,
            endpoint_url=settings.s3.endpoint_url,
            public_endpoint_url=settings.s3.public_endpoint_url,
            region=settings.s3.region,
            access_key_id=settings.s3.access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None,
            prefix=settings.s3.prefix,
            addressing_style=settings.s3.addressing_style,
        )

    def object_key(self, key: str) -> str:
        """The object's name in the bucket; ``ValueError`` for a key this store never writes."""
        if not is_valid_key(key):
            raise ValueError(f"invalid storage key {key!r}")
        return self.prefix + key

    def put_bytes(self, key: str, data: bytes) -> None:
        self._client.put_object(
            Bucket=self.bucket,
            Key=self.object_key(key),
            Body=data,
            ContentType=_content_type(key),
        )

    def put_file(self, key: str, source: Path) -> None:
        # upload_file switches to a multipart upload for large files.
        self._client.upload_file(
            str(source),
            self.bucket,
            self.object_key(key),
            ExtraArgs={"ContentType": _content_type(key)},
        )

    def get_bytes(self, key: str) -> bytes:
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NOT_FOUND:
                raise FileNotFoundError(key) from exc
            raise
        with answer["Body"] as body:
            return body.read()

    def delete_task_files(self, task_id: str) -> None:
        paginator = self._client.get_paginator("list_objects_v2")
        for kind in ("inputs", "videos"):
            pages = paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}{kind}/{task_id}/")
            for page in pages:
                objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if objects:
                    self._client.delete_objects(
                        Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
                    )

    def task_sizes(self) -> dict[str, int]:
        sizes: dict[str, int] = {}
        paginator = self._client.get_paginator("list_objects_v2")
        for kind in ("inputs", "videos"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}{kind}/"):
                for item in page.get("Contents", []):
                    parts = item["Key"][len(self.prefix) :].split("/")
                    if len(parts) == 3:
                        sizes[parts[1]] = sizes.get(parts[1], 0) + int(item["Size"])
        return sizes

    def video_url(self, key: str, ttl_seconds: int) -> str:
        return self._signer.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self.object_key(key)},
            ExpiresIn=ttl_seconds,
        )
