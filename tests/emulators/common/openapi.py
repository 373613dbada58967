"""An OpenAPI 3.0 document as the emulators and the fidelity tests use it.

Two jobs: find the operation a request is for (so an emulator routes by the spec's own
operation ids), and validate request and response bodies against the spec's schemas.

OpenAPI 3.0 schemas are close to JSON Schema draft 4 but not equal: ``nullable`` has no
JSON Schema meaning, so it is rewritten into an explicit ``null`` alternative. ``oneOf``
becomes ``anyOf``: generated specs (Vercel's especially) list variants that overlap, and a
body matching two of them is still a body the real API sends.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


REFERENCE = Path(__file__).resolve().parents[2] / "reference"


def specs_dir() -> Path:
    """Where the official specs live: ENVSTACK_SPECS_DIR, else tests/reference/specs (SOURCES.md there)."""
    override = os.environ.get("ENVSTACK_SPECS_DIR")
    if override:
        return Path(override)
    return REFERENCE / "specs"


def recorded_dir() -> Path:
    """Answers Supabase's own API gave, recorded by the Supabase CLI's end-to-end suite."""
    return specs_dir().parent / "fixtures" / "supabase-management-recorded"


def _to_json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _to_json_schema(value) for key, value in node.items() if key != "nullable"}
    if "oneOf" in converted:
        converted["anyOf"] = converted.pop("oneOf")
    converted.pop("discriminator", None)
    if not node.get("nullable"):
        return converted
    kind = converted.get("type")
    if isinstance(kind, str) and not any(k in converted for k in ("anyOf", "allOf", "$ref")):
        converted["type"] = [kind, "null"]
        if "enum" in converted:
            converted["enum"] = [*converted["enum"], None]
        return converted
    return {"anyOf": [converted, {"type": "null"}]}


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    template: str
    definition: Mapping[str, Any] = field(repr=False)

    def response_schema(self, status: int) -> tuple[bool, Any]:
        """(documented, schema) for a status: documented is False when the spec lists no such status."""
        responses: Mapping[str, Any] = self.definition.get("responses", {})
        entry = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")
        if entry is None:
            return False, None
        content = entry.get("content") or {}
        media = content.get("application/json") or next(iter(content.values()), None)
        return True, (media or {}).get("schema")

    def request_schema(self) -> Any:
        body = self.definition.get("requestBody") or {}
        content = body.get("content") or {}
        media = content.get("application/json") or next(iter(content.values()), None)
        return (media or {}).get("schema")


class OpenApiSpec:
    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        # One validator whose root holds every component, so "#/components/..." refs resolve;
        # each body is checked by an evolved copy with the operation's schema swapped in.
        self._root = jsonschema.Draft4Validator({"components": _to_json_schema(document.get("components", {}))})
        self._routes: list[tuple[int, re.Pattern[str], Operation]] = []
        for template, item in document.get("paths", {}).items():
            pattern = _path_pattern(template)
            literal_segments = sum(1 for part in template.split("/") if part and not part.startswith("{"))
            for method in _METHODS:
                if method in item:
                    definition = item[method]
                    operation = Operation(
                        operation_id=str(definition.get("operationId", f"{method} {template}")),
                        method=method.upper(),
                        template=template,
                        definition=definition,
                    )
                    self._routes.append((literal_segments, pattern, operation))
        # More literal segments first, so /v1/projects/available-regions beats /v1/projects/{ref}.
        self._routes.sort(key=lambda route: -route[0])
        self.operations = {op.operation_id: op for _, _, op in self._routes}

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        method = method.upper()
        for _, pattern, operation in self._routes:
            if operation.method != method:
                continue
            found = pattern.match(path)
            if found:
                # Group names carry a position prefix (p<i>_) so repeated names cannot clash.
                return operation, {k.split("_", 1)[1]: v for k, v in found.groupdict().items()}
        return None

    def _errors(self, schema: Any, instance: Any) -> list[str]:
        validator = self._root.evolve(schema=_to_json_schema(schema))
        return sorted(_describe(error) for error in validator.iter_errors(instance))

    def validate_schema(self, schema: Mapping[str, Any], body: Any) -> list[str]:
        """Problems with a body against a schema of the caller's (refs into the spec resolve)."""
        return self._errors(schema, body)

    def validate_response(self, method: str, path: str, status: int, body: Any) -> list[str]:
        """Problems with a response (empty when it is one the spec allows)."""
        matched = self.match(method, path)
        if matched is None:
            return [f"{method} {path}: no such operation in the spec"]
        return self.validate_operation_response(matched[0].operation_id, status, body)

    def validate_operation_response(self, operation_id: str, status: int, body: Any) -> list[str]:
        """Problems with an answer to the named operation (for paths the spec lists under
        another version, which the real API serves all the same)."""
        operation = self.operations[operation_id]
        documented, schema = operation.response_schema(status)
        if not documented:
            return [f"{operation.operation_id}: status {status} is not documented"]
        if schema is None or body is None:
            return []
        return [f"{operation.operation_id} {status} {problem}" for problem in self._errors(schema, body)]

    def validate_request(self, operation: Operation, body: Any) -> list[str]:
        schema = operation.request_schema()
        if schema is None:
            return []
        return self._errors(schema, body)

    def validate_query(self, operation: Operation, query: Mapping[str, list[str]]) -> list[str]:
        """Problems with a request's query parameters: missing required ones, values that do
        not convert to the declared type or break the declared limits. Unknown parameters
        pass, as most real APIs ignore them."""
        problems: list[str] = []
        for parameter in operation.definition.get("parameters", []):
            if parameter.get("in") != "query":
                continue
            name, schema = parameter["name"], parameter.get("schema") or {}
            values = query.get(name)
            if not values:
                if parameter.get("required"):
                    problems.append(f"{name}: a required query parameter is missing")
                continue
            value = _query_value(values, schema)
            problems += [
                f"{name}{problem.removeprefix('<body>')}" if problem.startswith("<body>") else f"{name}/{problem}"
                for problem in self._errors(schema, value)
            ]
        return problems


def _describe(error: jsonschema.ValidationError) -> str:
    """Where and what; for a body that fits none of an anyOf's variants, the problem with
    the variant it came closest to (the bare message would only repeat the body)."""
    while error.context:
        variants: dict[object, list[jsonschema.ValidationError]] = {}
        for sub in error.context:
            variants.setdefault(sub.schema_path[0] if sub.schema_path else None, []).append(sub)
        # Closest: a variant of the body's own type, then the one with the fewest problems.
        closest = min(
            variants.values(),
            key=lambda subs: (any(s.validator == "type" and not s.relative_path for s in subs), len(subs)),
        )
        error = min(closest, key=lambda sub: len(sub.absolute_path))
    return f"{'/'.join(str(p) for p in error.absolute_path) or '<body>'}: {error.message[:300]}"


def _query_value(values: list[str], schema: Mapping[str, Any]) -> Any:
    """Query strings as the declared type: arrays from repeated or comma-separated values."""
    if schema.get("type") == "array":
        items = schema.get("items") or {}
        return [_scalar(part, items) for value in values for part in value.split(",") if part]
    return _scalar(values[-1], schema)


def _scalar(value: str, schema: Mapping[str, Any]) -> Any:
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value  # the validator then names the wrong type
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


def _path_pattern(template: str) -> re.Pattern[str]:
    """``/v1/projects/{ref}`` -> a regex whose named groups are the path parameters."""
    parts = []
    for index, segment in enumerate(template.split("/")):
        name = re.fullmatch(r"\{([^}/]+)\}", segment)
        if name is None:
            parts.append(re.escape(segment))
            continue
        group = re.sub(r"\W", "_", name.group(1))
        parts.append(f"(?P<p{index}_{group}>[^/]+)")
    return re.compile("^" + "/".join(parts) + "$")


@functools.lru_cache(maxsize=4)
def load_spec(path: Path | str) -> OpenApiSpec:
    with Path(path).open(encoding="utf-8") as handle:
        return OpenApiSpec(json.load(handle))
