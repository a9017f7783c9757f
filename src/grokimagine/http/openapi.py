"""Shaping the OpenAPI document for client generators: stable operation ids, named schemas."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel

REF_TEMPLATE = "#/components/schemas/{model}"


def camel_case_operation_id(route: APIRoute) -> str:
    """The operation id of a route that names none: its endpoint's name in camelCase
    (``list_tasks`` -> ``listTasks``), rather than FastAPI's path-and-method default."""
    head, *rest = route.name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """An ``openapi_extra`` request body that refers to ``model``'s component schema (for
    routes that parse their body themselves; see :func:`add_component_schemas`)."""
    return {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": REF_TEMPLATE.format(model=model.__name__)}}
        },
    }


def add_component_schemas(app: FastAPI, models: list[type[BaseModel]]) -> None:
    """Put ``models`` among the document's component schemas, under their own names."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for model in models:
            schema = model.model_json_schema(ref_template=REF_TEMPLATE)
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
        return document

    app.openapi = openapi  # type: ignore[method-assign]
