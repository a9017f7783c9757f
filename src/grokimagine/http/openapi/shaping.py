"""Shaping the OpenAPI document for client generators: stable operation ids, named schemas."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel

REF_TEMPLATE = "#/components/schemas/{model}"


def camel_case_operation_id(route: APIRoute) -> str:
    """The operation id of a route that names none: its endpoint's name in camelCase
    (``list_tasks`` -> ``listTasks``; ``adminListTasks`` under ``/admin``), rather than
    FastAPI's path-and-method default."""
    head, *rest = route.name.split("_")
    name = head + "".join(word.capitalize() for word in rest)
    # The operator's API has routes named like the customer's (list_tasks): kept apart.
    if route.path.startswith("/admin/"):
        return "admin" + name[0].upper() + name[1:]
    return name


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """An ``openapi_extra`` request body that refers to ``model``'s component schema (for
    routes that parse their body themselves; see :func:`add_component_schemas`)."""
    return {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": REF_TEMPLATE.format(model=model.__name__)}}
        },
    }


def shape_for_generators(app: FastAPI, models: list[type[BaseModel]]) -> None:
    """Put ``models`` among the document's component schemas under their own names, and name
    the success envelopes ``<Data>Response`` rather than pydantic's ``Envelope_<Data>_``."""
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
        _rename_envelopes(document, schemas)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _rename_envelopes(document: dict[str, Any], schemas: dict[str, Any]) -> None:
    renames: dict[str, str] = {}
    for name in list(schemas):
        match = _ENVELOPE.fullmatch(name)
        if match is None:
            continue
        new = match.group(1) + "Response"
        if new in schemas or new in renames.values():
            continue
        schemas[new] = schemas.pop(name)
        schemas[new]["title"] = new
        renames[REF_TEMPLATE.format(model=name)] = REF_TEMPLATE.format(model=new)
    if renames:
        _rewrite_refs(document, renames)


def _rewrite_refs(node: Any, renames: dict[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref in renames:
            node["$ref"] = renames[ref]
        for value in node.values():
            _rewrite_refs(value, renames)
    elif isinstance(node, list):
        for value in node:
            _rewrite_refs(value, renames)


_ENVELOPE = re.compile(r"Envelope_([A-Za-z0-9]+)_")
