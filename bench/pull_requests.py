"""Twenty pull-request stacks brought up at once (`python -m envstack pr up`, one process
each) under the real rate limit: 120 requests a minute per endpoint."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.local_apis import LocalApis, Tenants
from bench.report import Row, Section, goal, ratio, seconds
from bench.runs import RunFailed, cpu_seconds, median, pulumi, scratch_dir, staging_copy
from tests.emulators.common.recording import Call
from tests.emulators.vercel.knobs import RateRule

STACKS = 20
LIMIT, WINDOW = 120, 60.0


@dataclass
class Run:
    seconds: float
    calls: list[Call]
    limited: int  # answers that were 429
    alone: float  # one more stack's `pr up`, with nothing else running
    alone_cpu: float  # the CPU seconds the machine spent on it (every process: engine, APIs, PostgreSQL)
    first_call: float  # seconds after the start
    last_call: float
    settings: int  # settings each pull-request stack is given


def _bucket(call: Call) -> str:
    """The rate-limit bucket a call counts against: Supabase's is the endpoint and the project or
    organization it names (one token here); Vercel's is the endpoint."""
    operation = call.operation_id or f"{call.method} {call.path}"
    parts = call.path.split("/")
    scope = parts[3] if len(parts) > 3 and parts[1] == "v1" and parts[2] in ("projects", "organizations") else ""
    return f"{operation}|{scope}"


def _vercel_limits(tenants: Tenants) -> list[RateRule]:
    spec = tenants.vercel.app.spec
    operations = sorted(spec.operations) if spec is not None else []
    return [RateRule(operation, LIMIT, WINDOW) for operation in operations]


def one_run(apis: LocalApis, count: int) -> Run:
    with scratch_dir("prs") as directory:
        tenants = apis.tenants()
        try:
            staging = staging_copy(directory, tenants)
            for n in range(1, count + 2):  # the pull requests' branches, pushed (one more for _alone)
                tenants.github.create_branch(staging.repo, f"feature/b-{n}")
            tenants.vercel.configure(rate_limits=_vercel_limits(tenants))
            env = {**os.environ, **staging.copy.env}
            logs = [(directory / f"pr-{n}.log").open("w") for n in range(1, count + 1)]
            started, wall = time.perf_counter(), time.time()
            processes = [
                subprocess.Popen(
                    [sys.executable, "-m", "envstack", "pr", "up", "--number", str(n), "--branch", f"feature/b-{n}"],
                    cwd=staging.copy.root,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                for n, log in enumerate(logs, 1)
            ]
            codes = [p.wait() for p in processes]
            took = time.perf_counter() - started
            for log in logs:
                log.close()
            failed = [n for n, code in enumerate(codes, 1) if code != 0]
            if failed:
                tail = (directory / f"pr-{failed[0]}.log").read_text()[-3000:]
                raise RunFailed(f"pr up failed for {failed}:\n{tail}")
            _check(tenants, count)
            calls = [*tenants.supabase.calls(), *tenants.vercel.calls()]
            busy = cpu_seconds()
            alone = _alone(staging.copy.root, env, count + 1)
            alone_cpu = cpu_seconds() - busy
            settings = json.loads(pulumi(staging.copy.root, staging.copy.env, "config", "--json", "--stack", "pr-1"))
            times = sorted(c.at for c in calls)
            limited = sum(1 for c in calls if c.status == 429)
            return Run(took, calls, limited, alone, alone_cpu, times[0] - wall, times[-1] - wall, len(settings))
        finally:
            apis.forget(tenants)


def _alone(root: Path, env: dict[str, str], number: int) -> float:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "envstack", "pr", "up", "--number", str(number), "--branch", f"feature/b-{number}"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RunFailed(f"pr up alone failed:\n{proc.stdout[-3000:]}")
    return time.perf_counter() - started


def _check(tenants: Tenants, count: int) -> None:
    """Each pull request got its own healthy project and its branch's variables, once."""
    projects = Counter(p.name for p in tenants.supabase.emulator.state.projects_of(tenants.supabase.tenant))
    wanted = {f"hermes-pr-{n}" for n in range(1, count + 1)}
    if set(projects) != wanted or max(projects.values()) != 1:
        raise RunFailed(f"projects after the run: {dict(projects)}")
    branches = Counter(e.git_branch for e in tenants.vercel.env_vars("hermes-web"))
    if set(branches) != {f"feature/b-{n}" for n in range(1, count + 1)} or len(set(branches.values())) != 1:
        raise RunFailed(f"variables per branch after the run: {dict(branches)}")


def measure(apis: LocalApis, runs: int, count: int = STACKS) -> Section:
    section = Section("prs", f"{count} pull-request stacks brought up together", runs)
    results = [one_run(apis, count) for _ in range(runs)]
    took = median([r.seconds for r in results])
    calls = median([float(len(r.calls)) for r in results])
    limited = max(r.limited for r in results)
    busiest = median([float(max(Counter(_bucket(c) for c in r.calls).values())) for r in results])
    rate_floor = (math.ceil(busiest / LIMIT) - 1) * WINDOW + median([r.alone for r in results])
    cpus = os.cpu_count() or 1
    machine_floor = count * median([r.alone_cpu for r in results]) / cpus
    floor = max(rate_floor, machine_floor)
    section.rows.append(
        Row(
            f"{count} x `python -m envstack pr up`, in parallel processes",
            f"{seconds(took)}, 0 failures",
            f"{seconds(floor)} (the larger of: the rate limit, {seconds(rate_floor)}; the machine, "
            f"{seconds(machine_floor)} = {count} x one run's CPU / {cpus} CPUs)",
            calls=f"{calls:.0f} calls, {limited} answered 429",
            ratio=ratio(took, floor),
            goal=goal(took, floor, 1.2) + ("" if limited == 0 else f", {limited} answers 429"),
        )
    )
    alone = median([r.alone for r in results])
    first = median([r.first_call for r in results])
    last = median([r.last_call for r in results])
    settings = median([float(r.settings) for r in results])
    section.rows.append(Row("one more `pr up`, nothing else running", seconds(alone)))
    waiting = f"forces {seconds(rate_floor - alone)} of waiting" if rate_floor > alone else "forces no waiting"
    section.notes += [
        f"The rate limit is per endpoint: Supabase counts per token, endpoint and the project or organization "
        f"a call names; the local Vercel API here counts per token and endpoint ({LIMIT} a minute each). Of "
        f"the {calls:.0f} calls the busiest bucket received {busiest:.0f}, so the limit alone {waiting}; "
        "its floor is that waiting plus one run on its own. The machine's floor is the CPU time one more "
        "`pr up` costs the whole machine (engine, program, provider processes, both local APIs, the project's "
        f"PostgreSQL), {count} times over, spread over {cpus} CPUs with none idle. It is an estimate, not a "
        f"bound: that run is measured right after the {count}, while their projects' servers still run, so "
        "their background work is counted in it, and the machine is shared; a run can come in under it.",
        "",
        f"The first API call comes {seconds(first)} after the start: until then each run reads staging's "
        f"settings and writes its own {settings:.0f} (the plain ones in one `pulumi config set-all`, each "
        f"secret through standard input). The calls then span {seconds(last - first)}. Alone, one `pr up` "
        f"takes {seconds(alone)}; {count} together take {took / alone:.1f} times that. No call was refused "
        f"({limited} answers 429), and every run ends with its own project and its branch's variables, each once.",
    ]
    return section
