"""Staging brought up by the real engine against both local APIs, and what "converged" means.

The fault and interruption tests share this: a ``Staging`` (a project copy, the two APIs'
tenants, the stack) that runs ``pulumi up`` through the Automation API or, to be killed,
as a command of its own process group; and ``assert_converged``, which checks what a user
would look at afterwards:

- exactly one Supabase project in the organization, healthy, the one the stack exports, with no
  API key made twice;
- the Vercel target holds exactly one set of the stack's variables (one per name, each the
  one the state records, nothing else), each carrying the value the stack's outputs say;
- no secret the stack holds appears in anything printed or in the state file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml
from pulumi import automation as auto

from envstack.variables import DEFAULT_NAMES, PUBLIC_FIELDS
from providers.declared import type_token
from providers.vercel_env import VercelEnvironmentVariables
from tests.emulators.supabase.fixtures import SupabaseTenant
from tests.emulators.vercel.envrules import EnvVar
from tests.emulators.vercel.fixtures import VercelApi
from tests.integration.workspace import ProjectCopy, local_apis, make_project_copy

STACK = "staging"
PROJECT = "hermes-web"
PROJECT_NAME = "hermes-staging"
WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
ENV_RESOURCE = type_token(VercelEnvironmentVariables)
# Seconds an HTTP client waits for one answer in these tests (ENVSTACK_HTTP_TIMEOUT): short,
# so a provoked read timeout costs little; far above what a local answer takes.
HTTP_TIMEOUT = 4.0
# Real builds take minutes; here a redeploy is READY at once unless a test wants a wait.
INSTANT_BUILDS = {"queue_seconds": 0.0, "build_seconds": 0.0}


def session_members(session: int) -> list[int]:
    """Every process in a session (the engine is the leader of its own; its plugins join it)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            members.append(int(entry.name))
    return members


@dataclass
class EngineRun:
    """``pulumi up`` as a command in a session of its own, so it can be killed whole.

    The engine starts each plugin (language host, resource provider) in a process group of
    its own, so killing the engine's group leaves them running; they stay in its session.
    """

    process: subprocess.Popen[bytes]
    log: Path
    _sink: IO[bytes]

    def kill(self) -> None:
        """SIGKILL to the engine and everything it started: the machine or container went away."""
        self._kill(session_members(self.process.pid))

    def kill_engine(self) -> None:
        """SIGKILL to the `pulumi` process alone (as the OOM killer does): its plugins live on."""
        self._kill([self.process.pid])

    def _kill(self, pids: list[int]) -> None:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        self.process.wait(timeout=30)
        self._sink.close()

    def leftovers(self) -> list[int]:
        """Processes of this run still alive."""
        return session_members(self.process.pid)

    def reap(self) -> None:
        """Whatever is left of the run goes (test teardown)."""
        for pid in self.leftovers():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self._sink.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def spawn_in_session(argv: list[str], copy: ProjectCopy, log: Path) -> EngineRun:
    """``argv`` run in the project copy, in a session of its own (so it can be killed whole),
    its output to ``log``."""
    sink = log.open("wb")
    process = subprocess.Popen(
        argv,
        cwd=copy.root,
        env=copy.run_env(),
        stdin=subprocess.DEVNULL,
        stdout=sink,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return EngineRun(process, log, sink)


@dataclass
class Staging:
    copy: ProjectCopy
    supabase: SupabaseTenant
    vercel: VercelApi
    stack: auto.Stack
    failures: list[str] = field(default_factory=list)  # every failed run's error text
    secrets: list[str] = field(default_factory=list)  # what assert_converged found the stack holds
    runs: list[EngineRun] = field(default_factory=list)
    stand_ins: list[subprocess.Popen[bytes]] = field(default_factory=list)  # processes a test started

    def up(self) -> auto.UpResult:
        return self.stack.up(on_output=self.copy.on_output)

    def up_failing(self) -> str:
        """Run an up that must fail; its error text (also kept for the secret check)."""
        try:
            self.stack.up(on_output=self.copy.on_output)
        except auto.CommandError as exc:
            self.failures.append(str(exc))
            return str(exc)
        raise AssertionError("the up was expected to fail")

    def up_converging(self) -> int:
        """Up, and once more if that failed (at most one re-run); the number of runs it took."""
        try:
            self.up()
            return 1
        except auto.CommandError as exc:
            self.failures.append(str(exc))
        self.up()
        return 2

    def spawn_up(self) -> EngineRun:
        return self.spawn("up")

    def spawn(self, command: str) -> EngineRun:
        """``pulumi <command>`` (up or destroy) of the stack, in a session of its own."""
        log = self.copy.root.parent / f"{command}-{len(self.runs)}.log"
        argv = ["pulumi", command, "--stack", STACK, "--yes", "--skip-preview", "--non-interactive"]
        run = spawn_in_session(argv, self.copy, log)
        self.runs.append(run)
        return run

    def close(self) -> None:
        for run in self.runs:
            run.reap()
        for process in self.stand_ins:
            process.kill()
            process.wait()

    def envstack(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = self.copy.envstack(*args)
        self.copy.output.extend([proc.stdout, proc.stderr])
        return proc

    def writes(self) -> list[str]:
        calls = [*self.supabase.calls(), *self.vercel.calls()]
        return [f"{c.method} {c.path}" for c in calls if c.method in WRITES]


def make_staging(tmp_path: Path, supabase_api: SupabaseTenant, vercel_api: VercelApi) -> Staging:
    vercel_api.create_project(PROJECT)
    vercel_api.deploy(PROJECT, target="preview")
    vercel_api.configure(**INSTANT_BUILDS)
    env = {
        "SUPABASE_ACCESS_TOKEN": supabase_api.token,
        "VERCEL_TOKEN": vercel_api.token,
        "ENVSTACK_HTTP_TIMEOUT": str(HTTP_TIMEOUT),
    }
    copy = make_project_copy(tmp_path, env)
    stack = copy.stack(STACK)
    # Plain settings straight into the stack file: what `pulumi config set` would write, without
    # a process per key.
    settings = {
        **local_apis(supabase_api, vercel_api),
    }
    stack_file = copy.root / f"Pulumi.{STACK}.yaml"
    document = yaml.safe_load(stack_file.read_text()) or {}
    document.setdefault("config", {}).update(settings)
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    return Staging(copy, supabase_api, vercel_api, stack)


def state_ids(deployment: dict[str, Any]) -> dict[str, str]:
    """The Vercel variable ids the stack's state records (name → id)."""
    found = [r for r in deployment.get("resources") or [] if r.get("type") == ENV_RESOURCE]
    assert len(found) == 1, f"one variables resource in the state, found {len(found)}"
    ids: dict[str, str] = found[0]["outputs"]["ids"]
    return ids


def expected_variables(outputs: dict[str, str]) -> dict[str, str | None]:
    """Variable name → the value the stack's outputs say it carries (None: not an output, like
    the app's own generated JWT_SECRET), for every default name whose piece the stack has."""
    return {
        name: outputs.get(field)
        for name, field in DEFAULT_NAMES.items()
        if field in outputs or field == "app_jwt_secret"
    }


def known_secrets(staging: Staging, outputs: auto.OutputMap, envs: list[EnvVar]) -> list[str]:
    """Every secret value the stack and the APIs hold for it."""
    public = {name for name, field in DEFAULT_NAMES.items() if field in PUBLIC_FIELDS}
    found = [_text(v.value) for v in outputs.values() if v.secret]
    found += [e.value for e in envs if e.key not in public]
    for project in staging.supabase.emulator.state.projects_of(staging.supabase.tenant):
        info = staging.supabase.project(project.ref)
        if info is not None:
            found += [info.db_password, info.jwt_secret]
    found += [staging.supabase.token, staging.vercel.token]
    return sorted({s for s in found if s and len(s) >= 8})


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def printed(staging: Staging) -> Iterator[tuple[str, str]]:
    yield "the engine's output", "".join(staging.copy.output)
    for failure in staging.failures:
        yield "a failed run's error", failure
    for run in staging.runs:
        yield f"the log of {run.log.name}", run.output()


def assert_not_shown(secrets: list[str], texts: list[tuple[str, str]]) -> None:
    for secret in secrets:
        for where, text in texts:
            assert secret not in text, f"a secret value ({len(secret)} characters) is in {where}"


def assert_converged(staging: Staging) -> None:
    """One healthy project, one set of the stack's variables as the state records them, nothing
    pending, and no secret in anything printed so far or in the state."""
    projects = staging.supabase.emulator.state.projects_of(staging.supabase.tenant)
    assert [(p.name, p.status) for p in projects] == [(PROJECT_NAME, "ACTIVE_HEALTHY")], (
        f"exactly one healthy project, found {[(p.name, p.ref, p.status) for p in projects]}"
    )
    keys = [(k.type, k.name) for k in projects[0].api_keys.values()]
    assert len(keys) == len(set(keys)), f"no API key made twice: {sorted(keys)}"
    raw_outputs = staging.stack.outputs()
    outputs = {k: _text(v.value) for k, v in raw_outputs.items()}
    assert outputs["supabase_project_ref"] == projects[0].ref, "the stack exports the project that exists"
    state_text = staging.copy.export_state(STACK)
    deployment = json.loads(state_text)["deployment"]
    assert not deployment.get("pending_operations"), "no interrupted operation is left in the state"
    envs = staging.vercel.env_vars(PROJECT)
    names = sorted(e.key for e in envs)
    assert names == sorted(set(names)), f"one variable per name, found {names}"
    expected = expected_variables(outputs)
    assert set(names) == set(expected), f"the stack's variables and nothing else: {sorted(set(names) ^ set(expected))}"
    assert {e.key: e.id for e in envs} == state_ids(deployment), "each variable is the one the state records"
    for env in envs:
        assert (env.target, env.git_branch) == (("preview",), None), f"{env.key} is scoped to preview only"
        assert env.value, f"{env.key} has a value"
        assert expected[env.key] in (None, env.value), f"{env.key} carries the stack's {DEFAULT_NAMES[env.key]}"
    staging.secrets = known_secrets(staging, raw_outputs, envs)
    assert_not_shown(staging.secrets, [*printed(staging), ("the state file", state_text)])


def assert_noop(staging: Staging) -> None:
    """A following up changes nothing, writes nothing to either API, and shows no secret."""
    before = len(staging.writes())
    result = staging.up()
    assert set((result.summary.resource_changes or {}).keys()) == {"same"}, result.summary.resource_changes
    assert staging.writes()[before:] == [], "a no-op up writes nothing"
    assert "pending operations" not in result.stdout
    assert_not_shown(staging.secrets, [("the no-op up's output", result.stdout + result.stderr)])


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    """Poll ``predicate`` until true; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
