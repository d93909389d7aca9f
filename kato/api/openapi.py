"""The OpenAPI document declares every bound the server enforces, so a request the schema
calls valid is not refused for its shape.

FastAPI derives the document from the request models; this module adds what the models do not
carry: the configured ``LimitsSettings`` (item counts and lengths, read from the settings the
app is built with), the rules the engine checks after parsing (non-empty vectors and emotive
names, §2.1) and the shape of gene updates (``Genes``' types and ranges). The server's own
checks are unchanged: the document describes them. Two rules have no JSON Schema form and are
only described: the vectors of one observation have equal lengths, and session metadata is at
most ``max_metadata_bytes`` of JSON.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from kato.api.routes_nodes import declare_node_bounds
from kato.config import LimitsSettings
from kato.core.genes import Genes

Schema = dict[str, Any]

GENE_UPDATES = "GeneUpdates"
CONFIG_PATHS = ("/v2/sessions/{session_id}/config", "/sessions/{session_id}/config")


def install_openapi(app: FastAPI, limits: LimitsSettings) -> None:
    """Serve ``app``'s document with the bounds declared (built once, on first request)."""

    generate = app.openapi

    def build() -> Schema:
        if app.openapi_schema is None:
            declare_bounds(generate(), limits)  # generate() caches it in app.openapi_schema
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]


def declare_bounds(schema: Schema, limits: LimitsSettings) -> None:
    components = schema["components"]["schemas"]
    components[GENE_UPDATES] = gene_updates_schema()
    _declare_observation(components["ObservationIn"]["properties"], limits)
    _declare_observation(components["V3Observation"]["properties"], limits)  # /sessions (3.x)
    for request in ("ObserveSequenceRequest", "V3ObserveSequenceRequest"):
        sequence = components[request]["properties"]["observations"]
        sequence["maxItems"] = limits.max_observations_per_sequence
    _declare_session_create(components["CreateSessionRequest"], limits)
    v3_create = components["V3CreateSessionRequest"]["properties"]  # 3.x: unknown keys are 400
    v3_create["config"] = _optional(_gene_updates_ref(), v3_create["config"])
    declare_node_bounds(schema, limits)  # /v2/nodes (issue 11)
    components["GenesUpdateRequest"]["properties"]["genes"] = _gene_updates_ref()
    for path in CONFIG_PATHS:
        config_update = schema["paths"][path]["post"]["requestBody"]["content"]
        config_update["application/json"]["schema"] = _config_update_schema()


def _config_update_schema() -> Schema:
    return {
        "description": '{"config": {gene: value}} or the bare {gene: value} map',
        "anyOf": [
            _gene_updates_ref(),
            {
                "type": "object",
                "properties": {"config": _gene_updates_ref()},
                "required": ["config"],
                "additionalProperties": False,
            },
        ],
    }


def gene_updates_schema() -> Schema:
    """Any subset of the genes with their types and ranges; ``sort_symbols`` is ``sort``'s
    alias (never both in one update)."""
    genes = Genes.model_json_schema()
    definitions = genes.get("$defs", {})
    properties: Schema = {}
    for name, field in genes["properties"].items():
        ref = field.get("$ref", "")
        resolved = dict(definitions[ref.rsplit("/", 1)[1]]) if ref else dict(field)
        resolved.pop("default", None)
        properties[name] = resolved
    properties["sort_symbols"] = {**properties["sort"], "title": "Sort Symbols (alias of sort)"}
    return {
        "title": GENE_UPDATES,
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "not": {"required": ["sort", "sort_symbols"]},
    }


def _gene_updates_ref() -> Schema:
    return {"$ref": f"#/components/schemas/{GENE_UPDATES}"}


def _present(field: Schema) -> Schema:
    """The non-null branch of an optional field (``anyOf: [X, {type: null}]``)."""
    for branch in field.get("anyOf", [field]):
        if branch.get("type") != "null":
            return dict(branch)
    raise ValueError(f"no non-null branch in {field}")


def _optional(present: Schema, field: Schema | None = None) -> Schema:
    """``present`` or null, keeping the field's title and description."""
    kept = {key: value for key, value in (field or {}).items() if key != "anyOf"}
    return {**kept, "anyOf": [present, {"type": "null"}]}


def _declare_observation(properties: Schema, limits: LimitsSettings) -> None:
    strings = _present(properties["strings"])
    strings["maxItems"] = limits.max_symbols_per_observation
    strings["items"] = {**strings["items"], "maxLength": limits.max_symbol_length}
    properties["strings"] = _optional(strings, properties["strings"])

    vectors = _present(properties["vectors"])
    vectors["maxItems"] = limits.max_vectors_per_observation
    vectors["items"] = {**vectors["items"], "minItems": 1, "maxItems": limits.max_vector_dimension}
    vectors["description"] = "The vectors of one observation have equal lengths."
    properties["vectors"] = _optional(vectors, properties["vectors"])

    emotives = _present(properties["emotives"])
    emotives["maxProperties"] = limits.max_emotives_per_observation
    emotives["propertyNames"] = {"minLength": 1, "maxLength": limits.max_emotive_name_length}
    properties["emotives"] = _optional(emotives, properties["emotives"])


def _declare_session_create(model: Schema, limits: LimitsSettings) -> None:
    # node_id or its alias user_id names the node: exactly one of them as a string (both
    # naming the same node is accepted too, but is not the documented form).
    model["oneOf"] = [
        {"required": [name], "properties": {name: {"type": "string"}}}
        for name in ("node_id", "user_id")
    ]
    properties = model["properties"]
    metadata = properties["metadata"]
    metadata["description"] = (
        f"At most limits.max_metadata_bytes = {limits.max_metadata_bytes} bytes as UTF-8 JSON."
    )
    properties["config"] = _optional(_gene_updates_ref(), properties["config"])
