"""What every Supabase database resource (a project, or a preview branch) gives an environment.

Both resources expose the same outputs, so components/supabase_environment.py builds the
app's connection details from either without knowing which it has.
"""

from __future__ import annotations

import pulumi

from providers.declared import Declared

# Outputs that carry a secret; the resources list them in additional_secret_outputs.
SECRET_OUTPUTS = ("db_password", "anon_key", "service_role_key", "publishable_key", "secret_key", "jwt_secret")


class SupabaseDatabase(Declared):
    secret_outputs = SECRET_OUTPUTS
    ref: pulumi.Output[str]
    status: pulumi.Output[str]
    db_host: pulumi.Output[str]
    db_name: pulumi.Output[str]
    db_password: pulumi.Output[str]
    pooler_host: pulumi.Output[str]
    pooler_port: pulumi.Output[int]
    pooler_user: pulumi.Output[str]
    api_url: pulumi.Output[str]
    anon_key: pulumi.Output[str]
    service_role_key: pulumi.Output[str]
    publishable_key: pulumi.Output[str | None]
    secret_key: pulumi.Output[str | None]
    jwt_secret: pulumi.Output[str]
