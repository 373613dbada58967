"""A stateful local Supabase Management API whose projects are real PostgreSQL databases.

Modules: app (HTTP pipeline), routing (handler plumbing), *_routes (one file per API
area), admin_routes (/_emulator/), projects (state), config (behaviour knobs),
provisioning (a project's life), databases (PostgreSQL side), backups and pitr (daily backups,
point-in-time recovery on the project's cluster), pooler (Supavisor stand-in),
addresses (loopback addresses), runtime (where process files live), tokens (JWTs and
keys), signing_keys (their state rules), project_api (stand-ins for a project's own Auth and
Data API, apart from the Management API), emulator (all of it together), fixtures (pytest),
testing (helpers for tests), __main__ (standalone).
"""
