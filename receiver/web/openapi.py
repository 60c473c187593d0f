"""GET /openapi.json: the callback endpoints described from the same field maps the parsers use.

Generated with apispec's marshmallow plugin, so the description cannot drift from the code; the
schemathesis run in the test suite is driven by it.
"""

from __future__ import annotations

import copy

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, current_app, jsonify
from marshmallow import Schema

from receiver.landing.fields import Seconds, Text, VendorTime, WholeNumber

bp = Blueprint("openapi", __name__)

ERROR = {"type": "object", "properties": {"error": {"type": "string"}, "message": {"type": "string"}}}


def vendor_schema(name: str, fields: dict) -> type[Schema]:
    """A schema keyed by the vendor's own field names (the first name listed for each column)."""
    return Schema.from_dict({column: copy.copy(spec[0]) for column, spec in fields.items()}, name=name)


def _vendor_names(schema: type[Schema], fields: dict) -> None:
    """Point each field's data_key at the vendor's field name."""
    for column, (_, *names) in fields.items():
        schema._declared_fields[column].data_key = names[0] if names else column


def build_spec(pushes: dict) -> dict:
    """The OpenAPI 3 document for the callback endpoints of `pushes` (receiver.registry.Push, by vendor)."""
    plugin = MarshmallowPlugin()
    spec = APISpec(title="callrecon callbacks", version="1", openapi_version="3.0.3", plugins=[plugin])
    plugin.map_to_openapi_type(Text, "string", None)
    plugin.map_to_openapi_type(VendorTime, "string", None)
    plugin.map_to_openapi_type(Seconds, "string", None)
    plugin.map_to_openapi_type(WholeNumber, "integer", None)
    described = {source: push.openapi for source, push in pushes.items() if push.openapi}
    for doc in described.values():
        schema = vendor_schema(doc.schema_name, doc.fields)
        _vendor_names(schema, doc.fields)
        spec.components.schema(doc.schema_name, schema=schema)
    spec.components.schema("Error", ERROR)
    for source, doc in described.items():
        ref = {"$ref": f"#/components/schemas/{doc.schema_name}"}
        # e.g. Huawei pushes a bare array (§2.4); Ozonetel one object or an array.
        body = {"type": "array", "items": ref} if doc.array_only else {"oneOf": [ref, {"type": "array", "items": ref}]}
        spec.path(
            path=f"/callbacks/{source}/{{token}}",
            operations={
                "post": {
                    "summary": f"{source} pushes call results here",
                    "parameters": [{"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
                    "responses": {
                        "200": {"description": "stored and landed (or kept as a note)"},
                        "202": {"description": "stored, not (fully) parsed: quarantined; do not resend"},
                        "401": {
                            "description": "unknown token; nothing stored",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                        },
                        "413": {"description": "body over MAX_BODY_BYTES; nothing stored"},
                        "503": {"description": "database unavailable; nothing stored; retry"},
                    },
                }
            },
        )
    return spec.to_dict()


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI description of the callback endpoints."""
    return jsonify(build_spec(current_app.extensions["callrecon_vendors"].pushes))
