"""The feature server's OpenAPI 3.0 document (hand-written; served at /openapi.json)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from featurehouse import __version__

_REF = "#/components/schemas/"
_ANY: dict[str, Any] = {}
_KEY_VALUE = {"oneOf": [{"type": "integer"}, {"type": "string"}]}
_SERVICE = {
    "type": "string",
    "description": "A feature service's name, instead of `features` (one of the two)",
}
_FEATURE_REF = {
    "type": "string",
    "pattern": r"^[A-Za-z_][A-Za-z0-9_]*([.@]v[0-9]{1,9}|@latest)?:[^:\s]+$",
    "description": "`view:feature` (the view's latest version), `view.vN:feature` or Feast's "
    "`view@vN:feature`",
}


@dataclass(frozen=True)
class Example:
    """A request that works on this server: published features and entity keys."""

    features: tuple[str, ...] = ("feat_customer__orders:count_orders_7d",)
    keys: tuple[tuple[str, Any], ...] = (("customer_id", 1),)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Malformed JSON, bad shape, unknown view/version/feature, bad or missing key",
        401: "Missing or invalid API key",
        404: "The view version is no longer published",
        413: "A limit was exceeded (body size, entities, features); `limit` says which value",
        503: "Redis is unavailable, the registry could not be read, or the store holds no "
        "published view (it lost its data, or nothing was synced: nothing_published); retry",
    }
    return {str(c): _json(_ref("Error"), text[c]) for c in codes}


_FEATURE_ERRORS = (400, 401, 404, 413, 503)


def _schemas(example: Example) -> dict[str, Any]:
    return {**_request_schemas(example), **_response_schemas(), **_other_schemas()}


def _request_schemas(example: Example) -> dict[str, Any]:
    feast_example = {
        "features": list(example.features),
        "entities": {k: [v] for k, v in example.keys},
    }
    native_example = {"features": list(example.features), "entities": [dict(example.keys)]}
    return {
        **_push_schemas(),
        "FeastRequest": {
            "type": "object",
            "example": feast_example,
            "required": ["entities"],
            "properties": {
                "features": {"type": "array", "minItems": 1, "items": _FEATURE_REF},
                "feature_service": _SERVICE,
                "entities": {
                    "type": "object",
                    "minProperties": 1,
                    "description": "Entity key columns: every column the same length",
                    "additionalProperties": {"type": "array", "items": _KEY_VALUE},
                },
                "full_feature_names": {
                    "type": "boolean",
                    "default": False,
                    "description": "Name columns `view__feature` (`view__vN__feature` if pinned)",
                },
                "include_feature_view_version_metadata": {
                    "type": "boolean",
                    "default": False,
                    "description": "Add metadata.feature_view_metadata: [{name, version}]",
                },
            },
        },
        "FeaturesRequest": {
            "type": "object",
            "example": native_example,
            "required": ["entities"],
            "properties": {
                "features": {"type": "array", "minItems": 1, "items": _FEATURE_REF},
                "feature_service": _SERVICE,
                "entities": {
                    "type": "array",
                    "items": {"type": "object", "additionalProperties": _KEY_VALUE},
                },
                "values_only": {
                    "type": "boolean",
                    "default": False,
                    "description": "Each feature as its bare value instead of {value, status, "
                    "event_at}",
                },
            },
        },
    }


def _response_schemas() -> dict[str, Any]:
    statuses = {"type": "string", "enum": ["PRESENT", "NOT_FOUND", "OUTSIDE_MAX_AGE"]}
    return {
        "FeastResponse": {
            "type": "object",
            "required": ["metadata", "results"],
            "properties": {
                "metadata": {
                    "type": "object",
                    "required": ["feature_names"],
                    "properties": {"feature_names": {"type": "array", "items": {"type": "string"}}},
                },
                "results": {
                    "type": "array",
                    "description": "One per column of feature_names: entity keys, then features",
                    "items": {
                        "type": "object",
                        "required": ["values", "statuses", "event_timestamps"],
                        "properties": {
                            "values": {"type": "array", "items": _ANY},
                            "statuses": {"type": "array", "items": statuses},
                            "event_timestamps": {
                                "type": "array",
                                "items": {"type": "string", "format": "date-time"},
                            },
                        },
                    },
                },
            },
        },
    }


def _other_schemas() -> dict[str, Any]:
    return {
        "FeaturesResponse": {
            "type": "object",
            "required": ["rows"],
            "properties": {
                "rows": {
                    "type": "array",
                    "description": "Per entity row: its keys as sent, then per feature reference "
                    "a FeatureValue (or the bare value with values_only)",
                    "items": {"type": "object", "additionalProperties": _ANY},
                }
            },
        },
        "FeatureValue": {
            "type": "object",
            "required": ["value", "status", "event_at"],
            "properties": {
                "value": _ANY,
                "status": {"type": "string", "enum": ["present", "not_found", "expired"]},
                "event_at": {"type": "string", "format": "date-time", "nullable": True},
            },
        },
        "Views": {
            "type": "object",
            "required": ["views"],
            "properties": {"views": {"type": "array", "items": {"type": "object"}}},
        },
        "Health": {
            "type": "object",
            "required": ["status", "redis", "registry"],
            "properties": {
                "status": {"type": "string", "enum": ["ok", "unavailable"]},
                "redis": {"type": "object"},
                "registry": {"type": "object"},
            },
        },
        "Error": {
            "type": "object",
            "required": ["error", "detail"],
            "properties": {
                "error": {"type": "string", "description": "A stable code, e.g. unknown_feature"},
                "detail": {"type": "string", "description": "One line saying what to change"},
                "limit": {"type": "integer", "description": "The limit exceeded (413)"},
            },
        },
    }


def _push_schemas() -> dict[str, Any]:
    column = {"type": "array", "items": {}}
    return {
        "PushRequest": {
            "type": "object",
            "required": ["push_source_name", "df"],
            "properties": {
                "push_source_name": {"type": "string", "description": "The view: view or view.vN"},
                "df": {
                    "type": "object",
                    "description": "Columns: the keys, the event (and created) timestamp, "
                    "every feature; lists of equal length",
                    "additionalProperties": column,
                },
                "to": {"type": "string", "enum": ["online", "offline", "online_and_offline"]},
                "allow_registry_cache": {"type": "boolean", "description": "Ignored (Feast)"},
            },
        },
        "PushResponse": {
            "type": "object",
            "properties": {
                "view": {"type": "string"},
                "version": {"type": "integer", "nullable": True},
                "rows": {"type": "integer"},
                "to": {"type": "string"},
                "written": {"type": "integer", "description": "Rows merged online"},
                "skipped_older": {"type": "integer", "description": "Older than served"},
                "file": {"type": "string", "description": "The offline Parquet file"},
            },
        },
    }


def _post(
    summary: str, request: str, response: str, answer: str = "Feature values"
) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(request)}},
            },
            "responses": {
                "200": _json(_ref(response), answer),
                **_errors(*_FEATURE_ERRORS),
            },
        }
    }


_PUSH = (
    "Write precomputed feature values (Feast's push)",
    "PushRequest",
    "PushResponse",
    "Written",
)


def _paths() -> dict[str, Any]:
    public: dict[str, Any] = {"security": []}
    return {
        "/get-online-features": _post(
            "Feature values, Feast's request and response shape", "FeastRequest", "FeastResponse"
        ),
        "/v1/features": _post(
            "Feature values, one row per entity", "FeaturesRequest", "FeaturesResponse"
        ),
        "/push": _post(*_PUSH),
        "/v1/views": {
            "get": {
                "summary": "Published view versions, their keys and features",
                "responses": {"200": _json(_ref("Views"), "The catalog"), **_errors(401, 503)},
            }
        },
        "/v1/noop": {
            "post": {
                "summary": "Does nothing through the same stack (latency baseline)",
                "requestBody": {"content": {"application/json": {"schema": {}}}},
                "responses": {
                    "200": _json({"type": "object"}, "An empty object"),
                    **_errors(400, 401, 413),
                },
            }
        },
        "/health": {
            "get": {
                **public,
                "summary": "200 when Redis answers and the registry is loaded, else 503",
                "responses": {
                    "200": _json(_ref("Health"), "Healthy"),
                    "503": _json(_ref("Health"), "Unhealthy"),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (text exposition format)",
                "responses": {
                    "200": {
                        "description": "Metrics",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **_errors(401),
                },
            }
        },
        "/openapi.json": {
            "get": {
                **public,
                "summary": "This document",
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.0 document")},
            }
        },
    }


def openapi_document(secured: bool, example: Example | None = None) -> dict[str, Any]:
    """The whole document; `secured`: API keys are required (all but /health, /openapi.json);
    `example`: a request that works (published features), shown in the request schemas."""
    paths = _paths()
    components: dict[str, Any] = {"schemas": _schemas(example or Example())}
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "Featurehouse feature server",
            "version": __version__,
            "description": "Online feature values from Redis, published by `featurehouse sync`.",
        },
        "paths": paths,
        "components": components,
    }
    if secured:
        components["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }
        doc["security"] = [{"bearer": []}, {"apiKey": []}]
    else:
        for item in paths.values():
            for operation in item.values():
                operation.pop("security", None)
    return doc
