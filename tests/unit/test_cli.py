"""`python -m envstack`: the command registry, and migrate/seed as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from envstack import cli
from tests.conftest import ScratchDatabase

ROOT = Path(__file__).resolve().parents[2]


def write(directory: Path, name: str, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(body)
    return path


def envstack(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The real entry point in its own process, with exactly the given URL variables."""
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("POSTGRES_URL_NON_POOLING", "DATABASE_URL", "ENVSTACK_ENVIRONMENT")
    }
    return subprocess.run(
        [sys.executable, "-m", "envstack", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def url_env(monkeypatch: pytest.MonkeyPatch, database: ScratchDatabase) -> ScratchDatabase:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("POSTGRES_URL_NON_POOLING", database.url)
    return database


def test_every_registered_command_has_its_own_help(capsys: pytest.CaptureFixture[str]) -> None:
    listing = cli.build_parser().format_help()
    assert set(cli.COMMANDS) >= {"migrate", "seed"}
    for name, (_, help_text) in cli.COMMANDS.items():
        assert name in listing
        assert help_text in listing
        with pytest.raises(SystemExit) as done:
            cli.main([name, "--help"])
        assert done.value.code == 0
    capsys.readouterr()


def test_a_command_loads_only_its_own_module() -> None:
    # `pulumi up` starts migrate and seed as processes of their own; each used to import all ten.
    probe = (
        "import sys\n"
        "from envstack import cli\n"
        "try:\n"
        "    cli.main(['migrate', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('envstack.cli.')))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip().splitlines()[-1] == "['envstack.cli.migrate']"


def test_the_url_comes_only_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("POSTGRES_URL_NON_POOLING", raising=False)
    write(tmp_path, "20240101000000_a.sql", "SELECT 1;")
    assert cli.main(["migrate", "up", "--dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        "envstack migrate: set POSTGRES_URL_NON_POOLING or DATABASE_URL to the database's direct connection URL\n"
    )
    with pytest.raises(SystemExit):
        cli.main(["migrate", "up", "--url", "postgresql://u:p@127.0.0.1/db"])


def test_up_prints_one_line_per_file_and_a_summary(
    url_env: ScratchDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "20240101000000_a.sql", "CREATE TABLE a (n int);")
    write(tmp_path, "20240102000000_b.sql", "CREATE TABLE b (n int);")
    assert cli.main(["migrate", "up", "--dir", str(tmp_path)]) == 0
    assert capsys.readouterr() == (
        "applied 20240101000000_a.sql\napplied 20240102000000_b.sql\napplied 2 migrations, 0 already applied\n",
        "",
    )
    write(tmp_path, "20240103000000_c.sql", "CREATE TABLE c (n int);")
    assert cli.main(["migrate", "up", "--dir", str(tmp_path)]) == 0
    assert capsys.readouterr() == ("applied 20240103000000_c.sql\napplied 1 migration, 2 already applied\n", "")
    assert cli.main(["migrate", "up", "--dir", str(tmp_path)]) == 0
    assert capsys.readouterr() == ("applied 0 migrations, 3 already applied\n", "")


def test_a_failing_file_exits_non_zero_naming_file_and_line(
    url_env: ScratchDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "20240101000000_a.sql", "CREATE TABLE a (n int);")
    write(tmp_path, "20240102000000_b.sql", "CREATE TABLE b (n int);\nCREATE TABLE a (n int);\n")
    assert cli.main(["migrate", "up", "--dir", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert out == "applied 20240101000000_a.sql\n"
    assert err.startswith('envstack migrate: 20240102000000_b.sql:2 (statement 2 of 2): relation "a" already exists')


def test_status_table_json_and_drift_exit_status(
    url_env: ScratchDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    applied = write(tmp_path, "20240101000000_create_a.sql", "CREATE TABLE a (n int);")
    assert cli.main(["migrate", "up", "--dir", str(tmp_path)]) == 0
    write(tmp_path, "20240102000000_create_b.sql", "CREATE TABLE b (n int);")
    capsys.readouterr()
    assert cli.main(["migrate", "status", "--dir", str(tmp_path)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert [line.split() for line in table] == [
        ["VERSION", "NAME", "STATE"],
        ["20240101000000", "create_a", "applied"],
        ["20240102000000", "create_b", "pending"],
    ]
    applied.write_text("CREATE TABLE a (n bigint);")
    assert cli.main(["migrate", "status", "--dir", str(tmp_path), "--json"]) == 3
    assert json.loads(capsys.readouterr().out) == [
        {"version": "20240101000000", "name": "create_a", "state": "edited"},
        {"version": "20240102000000", "name": "create_b", "state": "pending"},
    ]


def test_non_pooling_url_first_and_pooler_hints_dropped(database: ScratchDatabase, tmp_path: Path) -> None:
    write(tmp_path, "20240101000000_a.sql", "CREATE TABLE a (n int);")
    wrong = database.url.replace(database.password, "wrong-password")
    hinted = database.url + "?sslmode=disable&supa=base-pooler.x&connection_limit=1"
    proc = envstack(
        "migrate", "up", "--dir", str(tmp_path), env={"POSTGRES_URL_NON_POOLING": hinted, "DATABASE_URL": wrong}
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        0,
        "applied 20240101000000_a.sql\napplied 1 migration, 0 already applied\n",
        "",
    )
    # Prisma's pgbouncer=true is dropped for libpq too; only `up` refuses it (tests/unit/test_migrations.py).
    pooled = envstack("migrate", "status", "--dir", str(tmp_path), env={"DATABASE_URL": hinted + "&pgbouncer=true"})
    assert pooled.returncode == 0, pooled.stderr
    assert "applied" in pooled.stdout


def test_no_output_shows_the_url_or_password(database: ScratchDatabase, tmp_path: Path) -> None:
    write(tmp_path, "20240101000000_a.sql", "CREATE TABLE a (n int);")
    wrong = database.url.replace(database.password, "not-" + database.password)
    closed = f"postgresql://{database.name}:{database.password}@127.0.0.1:1/{database.name}"
    runs = {
        "right": [envstack("migrate", "up", "--dir", str(tmp_path), env={"POSTGRES_URL_NON_POOLING": database.url})],
        "wrong password": [
            envstack("migrate", action, "--dir", str(tmp_path), env={"POSTGRES_URL_NON_POOLING": wrong})
            for action in ("up", "status")
        ]
        + [envstack("seed", env={"DATABASE_URL": wrong, "ENVSTACK_ENVIRONMENT": "staging"})],
        "nothing listening": [envstack("migrate", "up", "--dir", str(tmp_path), env={"DATABASE_URL": closed})],
    }
    for case, procs in runs.items():
        for proc in procs:
            output = proc.stdout + proc.stderr
            assert database.password not in output, case
            for url in (database.url, wrong, closed):
                assert url not in output, case
            assert "Traceback" not in output, case
    assert runs["right"][0].returncode == 0
    for proc in runs["wrong password"]:
        assert proc.returncode == 1
        assert "password authentication failed" in proc.stderr
    assert runs["nothing listening"][0].returncode == 1
    assert "Connection refused" in runs["nothing listening"][0].stderr


def test_seed_command_loads_the_seed_file(
    url_env: ScratchDatabase, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ENVSTACK_ENVIRONMENT", "dev")
    # The repository's migrations create the app's group roles, as Supabase's postgres may.
    with psycopg.connect(url_env.admin, autocommit=True) as conn:
        conn.execute(f'ALTER ROLE "{url_env.name}" CREATEROLE')
    assert cli.main(["migrate", "up", "--dir", str(ROOT / "supabase/migrations")]) == 0
    capsys.readouterr()
    seed_file = ROOT / "supabase/seed.sql"
    assert cli.main(["seed", "--file", str(seed_file)]) == 0
    assert capsys.readouterr().out == f"seeded {seed_file}: 4 rows inserted\n"
    assert cli.main(["seed", "--file", str(seed_file)]) == 0
    assert capsys.readouterr().out == f"seeded {seed_file}: 0 rows inserted\n"
    with psycopg.connect(url_env.url) as conn:
        assert conn.execute("SELECT count(*) FROM hermes_leads").fetchone() == (4,)
