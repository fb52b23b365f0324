"""The JSON Schemas of the connector file format and of ``conn-reconcile.yaml`` (for editors
and yaml-language-server), generated from their models."""

from __future__ import annotations

from typing import Any

from conn_reconcile.model.connector import SECRET_REF_PATTERN, ConnectorSpec

SCHEMA_ID = "https://github.com/conn-reconcile/conn-reconcile/schema/connector.json"


def json_schema() -> dict[str, Any]:
    schema = ConnectorSpec.model_json_schema()
    defs = schema.get("$defs", {})
    ref_rule = {
        "type": "string",
        "pattern": SECRET_REF_PATTERN,
        "description": "an environment reference: ${VAR} (not CO_API_KEY, CO_API_URL, CONN_RECONCILE_*, "
        "GITHUB_*, ACTIONS_*, RUNNER_*)",
    }
    for model, fieldname in (("OAuthSpec", "client_secret"), ("ServiceAuthSpec", "token")):
        props = defs.get(model, {}).get("properties", {})
        if fieldname in props:
            props[fieldname] = {**ref_rule, "title": props[fieldname].get("title", fieldname)}
    schema["not"] = {"required": ["oauth", "service_auth"]}
    schema["properties"]["environments"] = {
        "type": "array",
        "items": {"type": "string"},
        "minItems": 1,
        "title": "Environments",
        "description": "only in these environments of conn-reconcile.yaml (not sent to the API)",
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "conn-reconcile connector",
        "description": "One Cohere connector, as kept in connectors/*.yaml. Secrets only as ${VAR} references.",
        **{k: v for k, v in schema.items() if k != "title"},
    }


CONFIG_SCHEMA_ID = "https://github.com/conn-reconcile/conn-reconcile/schema/config.json"


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema of ``conn-reconcile.yaml``."""
    from conn_reconcile.config.model import ConfigFile

    schema = _key_patterns(ConfigFile.model_json_schema())
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": CONFIG_SCHEMA_ID,
        "title": "conn-reconcile configuration",
        "description": "conn-reconcile.yaml: settings plan and apply share; paths relative to this file.",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def _key_patterns(value: Any) -> Any:
    """pydantic writes a mapping whose keys have a pattern as ``patternProperties``, which lets
    any other key through; the model refuses one: ``propertyNames`` says so."""
    if isinstance(value, list):
        return [_key_patterns(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _key_patterns(v) for k, v in value.items()}
    keyed = out.get("patternProperties")
    if out.get("type") == "object" and isinstance(keyed, dict) and len(keyed) == 1:
        ((pattern, values),) = keyed.items()
        del out["patternProperties"]
        out["additionalProperties"] = values
        out["propertyNames"] = {**out.get("propertyNames", {}), "pattern": pattern}
        out = dict(sorted(out.items()))  # keys sorted, as pydantic writes them
    return out
