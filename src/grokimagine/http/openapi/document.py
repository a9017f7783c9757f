"""The OpenAPI document, corrected where FastAPI's defaults do not match what the server does."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

BEARER_SCHEME = "bearerAuth"
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def install_openapi(app: FastAPI) -> None:
    """Serve a document that declares the Bearer scheme and leaves out FastAPI's 422 (the
    server answers invalid requests with 400 ``INVALID_REQUEST``)."""

    build = app.openapi
    corrected: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if not corrected:
            corrected.append(correct_document(build()))
        return corrected[0]

    app.openapi = openapi  # type: ignore[method-assign]


def correct_document(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` without 422 responses, with ``Authorization: Bearer`` on every ``/v1``
    operation."""
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {})[BEARER_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key: gi_live_... (charged) or gi_test_... (never charged).",
    }
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
            if path.startswith("/v1/"):
                operation["security"] = [{BEARER_SCHEME: []}]
    for operation in _webhook_operations(document):
        operation.get("responses", {}).pop("422", None)
    schemas = components.get("schemas", {})
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    return document


def _webhook_operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        operation
        for operations in document.get("webhooks", {}).values()
        for operation in operations.values()
    ]
