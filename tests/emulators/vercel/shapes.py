"""emulate's project and deployment objects in the shape the spec gives the real ones.

emulate writes ``null`` for many fields the spec types as non-nullable objects or strings
(``link``, ``webAnalytics``, ``autoAssignCustomDomainsUpdatedBy``, ...) where the real API
leaves the field out, lacks the required ``resourceConfig``/``defaultResourceConfig``,
and calls the project tier "hobby" (the spec's tiers are standard, advanced, critical).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.emulators.common.openapi import OpenApiSpec

_RESOURCE_CONFIG = {"functionDefaultRegions": ["iad1"], "functionDefaultTimeout": 300, "fluid": True}


def _properties(spec: OpenApiSpec, operation_id: str) -> Mapping[str, Any]:
    _, schema = spec.operations[operation_id].response_schema(200)
    variants = (schema or {}).get("oneOf") or (schema or {}).get("anyOf") or [schema or {}]
    merged: dict[str, Any] = {}
    for variant in variants:
        merged.update(variant.get("properties") or {})
    return merged


def prune_nulls(body: dict[str, Any], properties: Mapping[str, Any]) -> dict[str, Any]:
    """Leave out the nulls the schema does not allow (the real API omits those fields)."""
    return {
        key: value
        for key, value in body.items()
        if value is not None or key not in properties or properties[key].get("nullable")
    }


def project(spec: OpenApiSpec, raw: dict[str, Any], operation_id: str = "getProject") -> dict[str, Any]:
    shaped = prune_nulls(raw, _properties(spec, operation_id))
    if "latestDeployments" in shaped:
        shaped["latestDeployments"] = [project_deployment(d, shaped) for d in shaped["latestDeployments"] or []]
    if isinstance(shaped.get("targets"), dict):
        shaped["targets"] = {k: project_deployment(d, shaped) for k, d in shaped["targets"].items() if d}
    shaped.setdefault("resourceConfig", dict(_RESOURCE_CONFIG))
    shaped.setdefault("defaultResourceConfig", dict(_RESOURCE_CONFIG))
    if shaped.get("tier") not in (None, "standard", "advanced", "critical"):
        shaped["tier"] = "standard"
    return shaped


def project_deployment(raw: Mapping[str, Any], project: Mapping[str, Any]) -> dict[str, Any]:
    """A project's latestDeployments/targets entry: emulate's few fields plus the required rest."""
    if "uid" in raw:  # a listed deployment: only the fields an entry has
        kept = ("url", "readyState", "readySubstate", "meta", "target", "name", "aliasAssigned")
        raw = {"id": raw["uid"], "createdAt": raw.get("created"), **{k: raw[k] for k in kept if k in raw}}
    deployment_id = str(raw.get("id") or raw.get("uid") or "")
    url = str(raw.get("url") or f"{project.get('name', 'project')}-{deployment_id[-8:]}.vercel.app")
    owner = str(project.get("accountId") or "")
    return {
        **{k: v for k, v in raw.items() if v is not None},
        "id": deployment_id,
        "createdAt": raw.get("createdAt") or raw.get("created") or 0,
        "createdIn": raw.get("createdIn") or "iad1",
        "creator": raw.get("creator") or {"uid": owner, "email": "", "username": ""},
        "deploymentHostname": raw.get("deploymentHostname") or url,
        "name": raw.get("name") or project.get("name", ""),
        "plan": raw.get("plan") or "pro",
        "private": bool(raw.get("private", True)),
        "readyState": raw.get("readyState") or "READY",
        "type": "LAMBDAS",
        "url": url,
        "userId": raw.get("userId") or owner,
    }


def deployment(spec: OpenApiSpec, raw: dict[str, Any], operation_id: str, owner_id: str) -> dict[str, Any]:
    """emulate's deployment with the fields the spec requires and emulate lacks."""
    shaped = prune_nulls(raw, _properties(spec, operation_id))
    state = shaped.get("readyState", "READY")
    created = shaped.get("createdAt") or shaped.get("created") or 0
    defaults: dict[str, Any] = {
        "status": state,
        "buildingAt": created,
        "bootedAt": created,
        "buildSkipped": False,
        "public": False,
        "version": 2,
        "isInConcurrentBuildsQueue": False,
        "isInSystemBuildsQueue": False,
        "build": {"env": []},
        "env": [],
        "projectSettings": {},
        "createdIn": (shaped.get("regions") or ["iad1"])[0],
        "ownerId": owner_id,
        "routes": None,
        "inspectorUrl": inspector_url(shaped),
    }
    for key, value in defaults.items():
        shaped.setdefault(key, value)
    shaped["status"] = state
    if shaped.get("target") == "preview":
        shaped["target"] = None  # the real API has no "preview" target: a preview deployment has none
    return shaped


def listed_deployment(raw: dict[str, Any]) -> dict[str, Any]:
    """An item of getDeployments: emulate leaves out the required inspectorUrl, calls a
    preview deployment's target "preview" where the real API has none, and lacks createdAt
    and ready (when it finished building), which the Vercel CLI's `ls` reads."""
    target = None if raw.get("target") == "preview" else raw.get("target")
    shaped = {**raw, "target": target, "inspectorUrl": raw.get("inspectorUrl") or inspector_url(raw)}
    shaped.setdefault("createdAt", raw.get("created"))
    if raw.get("readyAt") is not None and "ready" not in shaped:
        shaped["ready"] = raw["readyAt"]
    return shaped


def git_ref(raw: Mapping[str, Any]) -> str | None:
    """The branch a deployment was built from, as its meta records it for each Git provider."""
    meta = raw.get("meta") or {}
    for key in ("githubCommitRef", "gitlabCommitRef", "bitbucketCommitRef"):
        if isinstance(meta.get(key), str):
            return str(meta[key])
    source = raw.get("gitSource") or {}
    return str(source["ref"]) if isinstance(source.get("ref"), str) else None


def inspector_url(raw: Mapping[str, Any]) -> str:
    return f"https://vercel.com/{raw.get('name', 'project')}/{raw.get('uid') or raw.get('id')}"


def team(raw: dict[str, Any]) -> dict[str, Any]:
    """emulate's team with the membership fields the spec requires (when the member joined)."""
    joined = raw.get("createdAt") or 0
    membership = {"created": joined, "createdAt": joined, **(raw.get("membership") or {})}
    return {**raw, "membership": membership}


def user(raw: dict[str, Any]) -> dict[str, Any]:
    """emulate's authenticated user with the required flag it lacks."""
    return {"hasTrialAvailable": False, **raw}
