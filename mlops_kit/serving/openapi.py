"""The endpoint's OpenAPI document, written by hand from the model's signature.

``/invocations`` is a plain Starlette route (no pydantic model, no dependency
injection: that costs more than scoring one row), so FastAPI has nothing to
describe it from. This module builds the description instead, once, when
``/openapi.json`` is first asked for; the request path never touches it.

The request body is ``oneOf`` the four MLflow input formats, each with the
signature's columns as typed properties (``double`` -> number or null,
``long`` -> 64-bit integer, ``string`` -> string, optional columns nullable
and not required), so a client generator or a fuzzer (schemathesis, in
``tests/test_reliability_serving.py``) knows what a valid request is. Every
refusal is documented with its status and the ``{"error_code", "message"}``
body the endpoint answers.

The schema is stricter than the parser in two places, on purpose:
``dataframe_split`` lists the columns in signature order (the endpoint takes
any order), and the columnar form of ``inputs``/``instances`` cannot say that
every column has the same length (the endpoint answers 400 when they do not).
"""
from __future__ import annotations

from typing import Any

from mlops_kit.serving.schema import Column, InputSchema

__all__ = ["endpoint_openapi", "request_body_schema"]

OPENAPI_VERSION = "3.1.0"

_INT_RANGES = {"long": (-(2**63), 2**63 - 1), "integer": (-(2**31), 2**31 - 1)}
_JSON_TYPES = {"double": "number", "float": "number", "long": "integer", "integer": "integer",
               "boolean": "boolean", "string": "string"}
#: signature types whose nulls the endpoint turns into NaN
_NULLABLE = {"double", "float"}
_SCALAR: dict[str, Any] = {"type": ["string", "number", "boolean", "null"]}
_ERROR_REF = {"$ref": "#/components/schemas/Error"}


def _value_schema(column: Column) -> dict[str, Any]:
    """What one JSON value of ``column`` may be."""
    json_type = _JSON_TYPES.get(column.type)
    if json_type is None:  # "any" (lookup keys) or a type parsed untyped
        return dict(_SCALAR)
    schema: dict[str, Any] = {"type": json_type}
    if column.type in _NULLABLE or not column.required:
        schema["type"] = [json_type, "null"]
    if column.type in _INT_RANGES:
        schema["minimum"], schema["maximum"] = _INT_RANGES[column.type]
    return schema


def _record_schema(schema: InputSchema) -> dict[str, Any]:
    """One row as ``{column: value}``."""
    if schema.columns is None:
        return {"type": "object", "minProperties": 1, "additionalProperties": _SCALAR}
    return {
        "type": "object",
        "properties": {c.name: _value_schema(c) for c in schema.columns},
        "required": [c.name for c in schema.columns if c.required],
        "additionalProperties": False,
    }


def _columnar_schema(schema: InputSchema) -> dict[str, Any]:
    """``{column: [value, ...]}``, one list per column."""
    def values(item: dict[str, Any]) -> dict[str, Any]:
        return {"type": "array", "items": item, "minItems": 1}

    if schema.columns is None:
        return {"type": "object", "minProperties": 1, "additionalProperties": values(_SCALAR)}
    return {
        "type": "object",
        "properties": {c.name: values(_value_schema(c)) for c in schema.columns},
        "required": [c.name for c in schema.columns if c.required],
        "additionalProperties": False,
    }


def _split_schema(schema: InputSchema) -> dict[str, Any]:
    """``{"columns": [...], "data": [[...], ...]}`` (pandas' split orient)."""
    if schema.columns is None:
        columns: dict[str, Any] = {"type": "array", "items": {"type": "string"},
                                   "uniqueItems": True, "minItems": 1}
        row: dict[str, Any] = {"type": "array", "items": _SCALAR}
    else:
        names = [c.name for c in schema.columns]
        columns = {"const": names, "description": "The signature's columns in order (the "
                   "endpoint also takes any order and no optional columns)."}
        row = {"type": "array", "prefixItems": [_value_schema(c) for c in schema.columns],
               "minItems": len(names), "maxItems": len(names)}
    return {
        "type": "object",
        "properties": {"columns": columns, "data": {"type": "array", "items": row, "minItems": 1}},
        "required": ["columns", "data"],
        "additionalProperties": False,
    }


def request_body_schema(schema: InputSchema) -> dict[str, Any]:
    """JSON Schema of an ``/invocations`` body: one of the four MLflow formats."""
    records = {"type": "array", "items": _record_schema(schema), "minItems": 1}
    rows_or_columns = {"oneOf": [records, _columnar_schema(schema)]}
    formats = {
        "dataframe_split": _split_schema(schema),
        "dataframe_records": records,
        "instances": rows_or_columns,
        "inputs": rows_or_columns,
    }
    params = {"type": "object", "description": "Inference parameters passed to the model."}
    return {"oneOf": [
        {"title": key, "type": "object", "properties": {key: body, "params": params},
         "required": [key], "additionalProperties": False}
        for key, body in formats.items()
    ]}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


def _invocations(schema: InputSchema, *, token_required: bool, max_body_bytes: int) -> dict:
    responses = {
        "200": {
            "description": "One prediction per input row.",
            "headers": {"x-request-id": {"description": "The request's X-Request-Id, or a new one; "
                                         "the inference log's request_id.",
                                         "required": True, "schema": {"type": "string"}}},
            "content": {"application/json": {"schema": {
                "type": "object", "required": ["predictions"],
                "properties": {"predictions": {"type": "array"}}}}},
        },
        "400": _error("The body is not JSON, has no rows, or does not match the signature "
                      "(the message names the column, the row and the fix)."),
        "408": _error("The body did not arrive within the body timeout."),
        "413": _error(f"The body is larger than {max_body_bytes} bytes."),
        "415": _error("The Content-Type is not application/json."),
        "500": _error("The model failed on valid input; the endpoint keeps serving."),
    }
    operation: dict[str, Any] = {
        "summary": "Score rows",
        "description": "MLflow-compatible scoring: send rows in any of the four MLflow "
                       "input formats.",
        "operationId": "invocations",
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": request_body_schema(schema)}}},
        "parameters": [{"name": "x-request-id", "in": "header", "required": False,
                        "schema": {"type": "string"},
                        "description": "Carried into the answer and the inference log."}],
        "responses": responses,
    }
    if token_required:
        responses["401"] = _error("No or a wrong bearer token.")
        operation["security"] = [{"bearer": []}]
    return operation


def _get(summary: str, content: dict[str, Any], *, protected: bool) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary,
                                 "responses": {"200": {"description": summary, "content": content}}}
    if protected:
        operation["responses"]["401"] = _error("No or a wrong bearer token.")
        operation["security"] = [{"bearer": []}]
    return operation


def endpoint_openapi(*, title: str, version: str, description: str, schema: InputSchema,
                     token_required: bool, max_body_bytes: int) -> dict[str, Any]:
    """The whole OpenAPI document of one endpoint.

    Parameters
    ----------
    title, version, description : str
        The document's ``info``.
    schema : InputSchema
        What requests must carry (the signature, or the feature-lookup schema).
    token_required : bool
        Document the bearer scheme and 401 answers.
    max_body_bytes : int
        The 413 limit, named in the docs.
    """
    json_object = {"application/json": {"schema": {"type": "object"}}}
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, "description": description},
        "paths": {
            "/invocations": {"post": _invocations(schema, token_required=token_required,
                                                  max_body_bytes=max_body_bytes)},
            "/ping": {"get": _get("Liveness: the model is loaded", {"application/json": {}},
                                  protected=False)},
            "/health": {"get": _get("Model, uptime, inference-log state", json_object,
                                    protected=False)},
            "/version": {"get": _get("Model name, version, alias, run id", json_object,
                                     protected=token_required)},
            "/metrics": {"get": _get("Prometheus metrics", {"text/plain": {}},
                                     protected=token_required)},
        },
        "components": {"schemas": {"Error": {
            "type": "object", "required": ["error_code", "message"],
            "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
            "additionalProperties": False,
        }}},
    }
    if token_required:
        document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    return document
