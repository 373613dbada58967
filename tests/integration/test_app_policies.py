"""The app's row-level security is its own: `pulumi up` on staging, with the real engine
against the local Management API, adds grants to the app's schema and nothing else, and the
app's policies hold its login roles to the rows they allow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pulumi import automation as auto

from envstack.db.connect import connect
from tests.integration.workspace import ProjectCopy, local_apis, make_project_copy

pytestmark = pytest.mark.engine

# A table of the app's, after the repository's migrations: its policy lets the app's group
# read the shared notes only, and no policy names the read-only group.
NOTES = "20250301000000_lead_notes.sql"
NOTES_SQL = """\
CREATE TABLE public.lead_notes (id int PRIMARY KEY, shared boolean NOT NULL, body text NOT NULL);
INSERT INTO public.lead_notes VALUES (1, true, 'for everyone'), (2, false, 'for the owner only');
ALTER TABLE public.lead_notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY lead_notes_shared ON public.lead_notes FOR SELECT TO hermes_app USING (shared);
"""
# Dumps the schema of the database the migration command is given: run by the stack's own
# migration command right after the migrations, and by the test after `up`. pg_dump gets the
# URL's parts from libpq's variables, so the password is on no command line.
DUMP_SCRIPT = """\
import os, subprocess, sys
from psycopg.conninfo import conninfo_to_dict
from envstack.db.connect import libpq_url
from envstack.db.pgserver import postgres_bindir

VARIABLES = {"host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "user": "PGUSER",
             "password": "PGPASSWORD", "dbname": "PGDATABASE", "sslmode": "PGSSLMODE",
             "sslrootcert": "PGSSLROOTCERT", "connect_timeout": "PGCONNECT_TIMEOUT", "options": "PGOPTIONS"}
parts = conninfo_to_dict(libpq_url(os.environ["POSTGRES_URL_NON_POOLING"]))
env = {**os.environ, **{VARIABLES[key]: str(value) for key, value in parts.items()}}
with open(sys.argv[1], "w") as out:
    subprocess.run([str(postgres_bindir() / "pg_dump"), "--schema-only", "--schema=public", "--no-password"],
                   env=env, stdout=out, check=True)
"""


@pytest.fixture
def project(tmp_path: Path, supabase_api: Any) -> ProjectCopy:
    return make_project_copy(tmp_path, {"SUPABASE_ACCESS_TOKEN": supabase_api.token})


def schema_dump(path: Path) -> list[str]:
    """A dump's statements: without comments, blank lines and the random key of ``\\restrict``."""
    return [
        line
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("--") and not line.startswith(("\\restrict", "\\unrestrict"))
    ]


def secret_outputs(stack: auto.Stack) -> dict[str, str]:
    return {key: str(value.value) for key, value in stack.outputs().items() if value.secret}


def test_up_adds_only_grants_to_the_apps_schema_and_its_policies_hold(project: ProjectCopy, supabase_api: Any) -> None:
    supabase_api.configure(ipv6_route=True)  # envstack's sessions (and pg_dump) on the direct host
    (project.root / "supabase" / "migrations" / NOTES).write_text(NOTES_SQL)
    (project.root / "dump_schema.py").write_text(DUMP_SCRIPT)
    after_migrations, after_up = project.root / "after-migrations.sql", project.root / "after-up.sql"
    # The project's own runner, then a dump: the schema exactly as the migrations left it, before
    # the login roles (which depend on the migrations) touch it.
    command = f"python -m envstack migrate up --dir supabase/migrations && python dump_schema.py {after_migrations}"
    migrations = json.dumps({"directory": "supabase/migrations", "command": command})
    stack = project.stack("staging", {**local_apis(supabase_api), "envstack:migrations": migrations})
    stack.up(on_output=project.on_output)
    urls = secret_outputs(stack)
    dumped = project.run_env() | {"POSTGRES_URL_NON_POOLING": urls["migrations_url"]}
    subprocess.run([sys.executable, "dump_schema.py", str(after_up)], cwd=project.root, env=dumped, check=True)
    migrated, after = schema_dump(after_migrations), schema_dump(after_up)
    app_policy = (
        "CREATE POLICY hermes_leads_app_manages ON public.hermes_leads TO hermes_app USING (true) WITH CHECK (true);"
    )
    assert app_policy in migrated
    changed = set(migrated) ^ set(after)
    grants = ("GRANT ", "REVOKE ", "ALTER DEFAULT PRIVILEGES ")
    assert changed, "the login roles' grants are in the dump"
    assert sorted(line for line in changed if not line.startswith(grants)) == [], "only grants differ"
    assert [line for line in after if "POLICY" in line] == [line for line in migrated if "POLICY" in line]

    with connect(urls["pooled_url"]) as conn:
        assert conn.execute("SELECT body FROM lead_notes").fetchall() == [("for everyone",)], "the app's policy"
        assert conn.execute("SELECT count(*) FROM hermes_leads").fetchone() != (0,), "the example's own policy"
        assert conn.execute("UPDATE lead_notes SET body = 'x'").rowcount == 0, "no policy lets the app write notes"
    with connect(urls["read_only_url"]) as conn:
        assert conn.execute("SELECT count(*) FROM lead_notes").fetchone() == (0,), "no policy names the reader"
        assert conn.execute("SELECT count(*) FROM hermes_leads").fetchone() != (0,)
        with pytest.raises(psycopg.Error):
            conn.execute("INSERT INTO lead_notes VALUES (3, true, 'r')")

    preview = stack.preview(on_output=project.on_output).change_summary
    assert set(preview) <= {auto.OpType.SAME}, preview
    stack.destroy(on_output=project.on_output)
