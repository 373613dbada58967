"""A typed client of the Supabase Management API (the calls envstack makes).

Shapes follow the official OpenAPI spec and the recorded real responses; models ignore
fields we don't use so additions on Supabase's side never break a deploy. Every secret the
API returns is registered with the transport so no error message can ever print it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from envstack.api_urls import SUPABASE_API_URL
from envstack.clients.http import ServiceClient
from envstack.errors import ResourceError

DEFAULT_BASE_URL = SUPABASE_API_URL


class _Model(BaseModel):
    # An answer that fails to validate is named by its fields, never echoed: a traceback of it
    # reaches `pulumi up`'s output, and answers carry keys and passwords.
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)


class Organization(_Model):
    slug: str
    name: str | None = None


class Database(_Model):
    host: str
    version: str | None = None


class Project(_Model):
    ref: str
    name: str
    organization_slug: str | None = None
    region: str | None = None
    status: str
    database: Database | None = None
    created_at: str | None = None


# A Free-plan project Supabase paused (after a week without activity), or is pausing.
PAUSED = frozenset({"PAUSING", "INACTIVE"})


def paused_explanation(what: str, status: str, restore: str) -> str:
    """Why a project answers nobody, and how to wake it (``restore``: where to restore it)."""
    return (
        f"{what} is paused ({status}): Supabase pauses a Free-plan project after a week without activity, "
        f"keeping its data. Restore it (the dashboard's Restore, or POST {restore} with your access token)"
    )


class CreatedProject(_Model):
    ref: str
    name: str
    status: str | None = None


class ServiceHealth(_Model):
    name: str
    healthy: bool
    status: str  # COMING_UP, ACTIVE_HEALTHY or UNHEALTHY


class Pooler(_Model):
    database_type: str
    db_host: str
    db_port: int
    db_user: str
    db_name: str
    pool_mode: str | None = None
    # Often null in real answers: the compute size's defaults apply.
    default_pool_size: int | None = None
    max_client_conn: int | None = None


class ApiKey(_Model):
    id: str | None = None
    name: str
    type: str | None = None
    api_key: str | None = None
    description: str | None = None


class PostgrestConfig(_Model):
    jwt_secret: str | None = None


class SigningKey(_Model):
    """A JWT signing key of Supabase Auth (public parts only: the API never returns a private key)."""

    id: str
    algorithm: str
    status: str  # standby | in_use | previously_used | revoked
    created_at: str | None = None
    updated_at: str | None = None


class AuthConfig(_Model):
    jwt_exp: int | None = None  # seconds a user's access token is valid


class NetworkRestrictions(_Model):
    cidrs: list[str]  # the list asked for, IPv4 then IPv6
    # "applied", or "stored": the list is recorded and Supabase has yet to apply it.
    status: str
    previous: list[str] | None = None  # while stored: the list still in force (its old_config)

    @property
    def applied(self) -> bool:
        return self.status == "applied"

    @property
    def in_force(self) -> list[str] | None:
        """The networks allowed now (None: not known, a stored list without its old one)."""
        return self.cidrs if self.applied else self.previous

    @classmethod
    def of(cls, answer: dict[str, Any]) -> NetworkRestrictions:
        def joined(config: dict[str, Any]) -> list[str]:
            return [*(config.get("dbAllowedCidrs") or []), *(config.get("dbAllowedCidrsV6") or [])]

        old = answer.get("old_config")
        return cls(
            cidrs=joined(answer.get("config") or {}),
            status=str(answer.get("status") or "applied"),
            previous=joined(old) if isinstance(old, dict) else None,
        )


class Branch(_Model):
    id: str
    name: str
    project_ref: str
    parent_project_ref: str
    persistent: bool = False
    git_branch: str | None = None


class BranchConfig(_Model):
    """The branch's own database, as GET /v1/branches/{id} reports it."""

    ref: str
    status: str
    db_host: str
    db_port: int
    db_user: str | None = None
    db_pass: str | None = None
    jwt_secret: str | None = None


class SupabaseClient(ServiceClient):
    service = "supabase"
    default_base_url = DEFAULT_BASE_URL

    def list_organizations(self) -> list[Organization]:
        """The organizations the token can see."""
        return [Organization.model_validate(o) for o in self._api.get("/v1/organizations")]

    def list_organization_projects(self, slug: str, *, search: str | None = None) -> list[Project]:
        """Every project of an organization, following the offset pagination."""
        projects: list[Project] = []
        offset, limit = 0, 100
        while True:
            params: dict[str, Any] = {"offset": offset, "limit": limit}
            if search:
                params["search"] = search
            page = self._api.get(f"/v1/organizations/{slug}/projects", params=params)
            batch = [Project.model_validate(p) for p in page.get("projects", [])]
            projects += batch
            offset += len(batch)
            if not batch or offset >= int(page.get("pagination", {}).get("count", 0)):
                return projects

    def get_project(self, ref: str) -> Project:
        return Project.model_validate(self._api.get(f"/v1/projects/{ref}"))

    def create_project(
        self,
        *,
        name: str,
        organization_slug: str,
        db_pass: str,
        region: str | None = None,
        desired_instance_size: str | None = None,
    ) -> CreatedProject:
        self._api.add_secret(db_pass)
        body: dict[str, Any] = {"name": name, "organization_slug": organization_slug, "db_pass": db_pass}
        if region:
            body["region_selection"] = {"type": "specific", "code": region}
        if desired_instance_size:
            body["desired_instance_size"] = desired_instance_size
        # Never repeated blindly (create_once): a lost answer may hide a created project.
        return CreatedProject.model_validate(self._api.post("/v1/projects", json=body, expected=(201,)))

    def rename_project(self, ref: str, name: str) -> None:
        self._api.patch(f"/v1/projects/{ref}", json={"name": name}, retry_unsafe=True)

    def delete_project(self, ref: str) -> None:
        self._api.delete(f"/v1/projects/{ref}")

    def set_compute_size(self, ref: str, size: str) -> None:
        """Scale the project's compute (the ``ci_<size>`` billing add-on); idempotent."""
        body = {"addon_type": "compute_instance", "addon_variant": f"ci_{size}"}
        self._api.patch(f"/v1/projects/{ref}/billing/addons", json=body, retry_unsafe=True)

    # -- network: SSL enforcement and the addresses allowed in ---------------------------
    def ssl_enforced(self, ref: str) -> bool:
        answer = self._api.get(f"/v1/projects/{ref}/ssl-enforcement")
        return bool(answer["currentConfig"]["database"])

    def set_ssl_enforcement(self, ref: str, enforced: bool) -> bool:
        # Setting what is set is harmless, so a lost answer may be retried.
        body = {"requestedConfig": {"database": enforced}}
        answer = self._api.put(f"/v1/projects/{ref}/ssl-enforcement", json=body)
        return bool(answer["currentConfig"]["database"])

    def network_restrictions(self, ref: str) -> NetworkRestrictions:
        """The IPv4 and IPv6 networks allowed to reach the database, and whether they apply yet."""
        return NetworkRestrictions.of(self._api.get(f"/v1/projects/{ref}/network-restrictions"))

    def restrict_network(self, ref: str, cidrs: list[str]) -> NetworkRestrictions:
        """Allow exactly ``cidrs`` (IPv4 and IPv6 mixed) to reach the database. Supabase may
        store the list and apply it later (status ``stored``): the answer says which."""
        v4 = [c for c in cidrs if ":" not in c]
        v6 = [c for c in cidrs if ":" in c]
        body = {"dbAllowedCidrs": v4, "dbAllowedCidrsV6": v6}
        answer = self._api.post(
            f"/v1/projects/{ref}/network-restrictions/apply", json=body, expected=(200, 201), retry_unsafe=True
        )
        return NetworkRestrictions.of(answer)

    def service_health(self, ref: str, services: Sequence[str]) -> list[ServiceHealth]:
        """Each service's health (GET /v1/projects/{ref}/health); a 500, which the spec lists for
        health it could not read, is raised at once for a caller that polls."""
        answer = self._api.get(f"/v1/projects/{ref}/health", params={"services": list(services)}, not_yet=(500,))
        return [ServiceHealth.model_validate(entry) for entry in answer]

    def get_pooler_config(self, ref: str, *, not_yet: Collection[int] = ()) -> Pooler:
        """The primary pooler's settings; a status in ``not_yet`` is raised at once, for a caller
        that polls it (a new project's pooler answers 500 until it is provisioned)."""
        path = f"/v1/projects/{ref}/config/database/pooler"
        entries = [Pooler.model_validate(e) for e in self._api.get(path, not_yet=not_yet)]
        primary = [e for e in entries if e.database_type == "PRIMARY"]
        if not primary:
            raise ResourceError(f"Supabase project {ref} reports no primary pooler")
        return primary[0]

    def list_api_keys(self, ref: str, *, reveal: bool = True) -> list[ApiKey]:
        keys = [
            ApiKey.model_validate(k)
            for k in self._api.get(f"/v1/projects/{ref}/api-keys", params={"reveal": str(reveal).lower()})
        ]
        for key in keys:
            self._api.add_secret(key.api_key)
        return keys

    def get_postgrest_config(self, ref: str) -> PostgrestConfig:
        config = PostgrestConfig.model_validate(self._api.get(f"/v1/projects/{ref}/postgrest"))
        self._api.add_secret(config.jwt_secret)
        return config

    def update_database_password(self, ref: str, password: str) -> None:
        self._api.add_secret(password)
        # Setting the same password twice is harmless, so a lost answer may be retried.
        self._api.patch(f"/v1/projects/{ref}/database/password", json={"password": password}, retry_unsafe=True)

    # -- rotation: API keys and JWT signing keys ---------------------------------------------
    def create_api_key(self, ref: str, kind: str, name: str, description: str | None = None) -> ApiKey:
        """A new publishable or secret key, its value revealed. Never repeated blindly: a lost
        answer may hide a created key, which the caller looks for by name."""
        body: dict[str, Any] = {"type": kind, "name": name, "description": description}
        answer = self._api.post(f"/v1/projects/{ref}/api-keys", json=body, params={"reveal": "true"}, expected=(201,))
        key = ApiKey.model_validate(answer)
        self._api.add_secret(key.api_key)
        return key

    def delete_api_key(self, ref: str, key_id: str) -> None:
        """Delete a publishable or secret key; one already gone (404) is not an error."""
        from envstack.errors import NotFound

        try:
            self._api.delete(f"/v1/projects/{ref}/api-keys/{key_id}")
        except NotFound:
            return

    def legacy_api_keys_enabled(self, ref: str) -> bool | None:
        """Whether the legacy anon and service_role keys are enabled; None once Supabase has
        removed the endpoint, which its OpenAPI document says will happen ("check for HTTP 404")."""
        from envstack.errors import NotFound

        try:
            return bool(self._api.get(f"/v1/projects/{ref}/api-keys/legacy").get("enabled"))
        except NotFound:
            return None

    def get_auth_config(self, ref: str) -> AuthConfig:
        return AuthConfig.model_validate(self._api.get(f"/v1/projects/{ref}/config/auth"))

    def list_signing_keys(self, ref: str) -> list[SigningKey]:
        answer = self._api.get(f"/v1/projects/{ref}/config/auth/signing-keys")
        return [SigningKey.model_validate(k) for k in answer.get("keys", [])]

    def get_signing_key(self, ref: str, key_id: str) -> SigningKey | None:
        from envstack.errors import NotFound

        try:
            return SigningKey.model_validate(self._api.get(f"/v1/projects/{ref}/config/auth/signing-keys/{key_id}"))
        except NotFound:
            return None

    def get_legacy_signing_key(self, ref: str) -> SigningKey | None:
        """The imported legacy JWT secret, None while it was never imported."""
        from envstack.errors import NotFound

        try:
            return SigningKey.model_validate(self._api.get(f"/v1/projects/{ref}/config/auth/signing-keys/legacy"))
        except NotFound:
            return None

    def import_legacy_signing_key(self, ref: str) -> SigningKey:
        """Import the legacy JWT secret as a signing key (it becomes the one in use)."""
        path = f"/v1/projects/{ref}/config/auth/signing-keys/legacy"
        return SigningKey.model_validate(self._api.post(path, expected=(201,)))

    def create_signing_key(self, ref: str, algorithm: str, status: str = "standby") -> SigningKey:
        """A new key; never repeated blindly (a lost answer may hide it: look for it first)."""
        body = {"algorithm": algorithm, "status": status}
        answer = self._api.post(f"/v1/projects/{ref}/config/auth/signing-keys", json=body, expected=(201,))
        return SigningKey.model_validate(answer)

    def set_signing_key_status(self, ref: str, key_id: str, status: str) -> SigningKey:
        # Moving a key to the status it has is harmless, so a lost answer may be retried.
        path = f"/v1/projects/{ref}/config/auth/signing-keys/{key_id}"
        return SigningKey.model_validate(self._api.patch(path, json={"status": status}, retry_unsafe=True))

    # -- preview branches ------------------------------------------------------------------
    def create_branch(self, parent_ref: str, *, name: str, git_branch: str | None) -> Branch:
        body: dict[str, Any] = {"branch_name": name, "persistent": False}
        if git_branch:
            body["git_branch"] = git_branch
        # Never repeated blindly (create_once): a lost answer may hide a created branch.
        return Branch.model_validate(self._api.post(f"/v1/projects/{parent_ref}/branches", json=body, expected=(201,)))

    def find_branch(self, parent_ref: str, name: str) -> Branch | None:
        from envstack.errors import NotFound

        try:
            return Branch.model_validate(self._api.get(f"/v1/projects/{parent_ref}/branches/{name}"))
        except NotFound:
            return None

    def get_branch_config(self, branch_ref: str) -> BranchConfig:
        config = BranchConfig.model_validate(self._api.get(f"/v1/branches/{branch_ref}"))
        self._api.add_secret(config.db_pass)
        self._api.add_secret(config.jwt_secret)
        return config

    def delete_branch(self, branch_ref: str) -> None:
        self._api.delete(f"/v1/branches/{branch_ref}")
