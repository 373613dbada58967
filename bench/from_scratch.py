"""A from-scratch `pulumi up --stack staging` with 100 ms of latency on every API call."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import dataclass

from bench.local_apis import LocalApis, Tenants
from bench.report import Row, Section, goal, ratio, seconds
from bench.runs import empty_program, median, scratch_dir, staging_copy, timed, up
from tests.emulators.common.recording import Call

LATENCY = 0.1
# The calls no implementation can avoid or overlap, in order (the rest can run beside them):
CHAIN = (
    "GET /v1/organizations/{slug}/projects: is there a project of this name (a lost create must not make two)",
    "POST /v1/projects",
    "GET /v1/projects/{ref}: the poll that sees ACTIVE_HEALTHY (after the provisioning time)",
    "GET …/config/database/pooler, …/api-keys, …/postgrest: the connection details (independent of each other)",
    "GET /v10/projects/{id}/env: what the project holds (another owner's variable must not be overwritten)",
    "POST /v10/projects/{id}/env: every variable in one call",
    "GET /v6/deployments: the deployment to rebuild",
    "POST /v13/deployments: the redeploy",
    "GET /v13/deployments/{id}: the poll that sees READY (after the build time)",
)


@dataclass
class Run:
    seconds: float
    provisioning: float
    pooler_warmup: float
    build: float
    calls: list[Call]
    started: float  # wall clock, like the calls' times
    ended: float

    def phases(self) -> dict[str, float]:
        """Where the time went, from the calls' times (each ends ``LATENCY`` after it began)."""
        first = self.calls[0].at - LATENCY
        supabase_done = max(c.at for c in self.calls if c.path.startswith("/v1/"))
        env = min(c.at for c in self.calls if c.path.endswith("/env")) - LATENCY
        redeploy = next(c.at for c in self.calls if c.method == "POST" and c.path == "/v13/deployments")
        last = self.calls[-1].at
        return {
            "engine and program start, up to the first call": first - self.started,
            "Supabase: project, provisioning, keys": supabase_done - first,
            "database: migrations, seed, login roles (PostgreSQL, no API)": env - supabase_done,
            "Vercel: variables and the redeploy call": redeploy - env,
            "redeploy: build and polls until READY": last - redeploy,
            "engine: state written, plugins stopped": self.ended - last,
        }


def _watch_provisioning(tenants: Tenants, stop: threading.Event, seen: dict[str, float]) -> None:
    """Record when the project was first seen COMING_UP and ACTIVE_HEALTHY (the emulator's state)."""
    while not stop.wait(0.01):
        for project in tenants.supabase.emulator.state.projects_of(tenants.supabase.tenant):
            seen.setdefault(project.status, time.time())


def sequential_depth(calls: list[Call]) -> int:
    """The longest run of calls each of which started after the one before ended."""
    spans = sorted(((c.at - LATENCY, c.at) for c in calls), key=lambda span: span[1])
    depth, free_at = 0, float("-inf")
    for start, end in spans:
        if start >= free_at - 0.005:
            depth, free_at = depth + 1, end
    return depth


_CHAIN_CALLS = Counter(
    {
        "GET /v1/organizations/{slug}/projects": 1,
        "POST /v1/projects": 1,
        "GET /v1/projects/{ref}": 1,
        "GET /v1/projects/{ref}/config/database/pooler": 1,
        "GET /v1/projects/{ref}/api-keys": 1,
        "GET /v1/projects/{ref}/postgrest": 1,
        "GET /v10/projects/{id}/env": 1,
        "POST /v10/projects/{id}/env": 1,
        "GET /v6/deployments": 1,
        "POST /v13/deployments": 1,
        "GET /v13/deployments/{id}": 1,
    }
)


def _template(call: Call) -> str:
    path = re.sub(r"/v1/organizations/[^/]+", "/v1/organizations/{slug}", call.path)
    path = re.sub(r"/v1/projects/[a-z]{20}", "/v1/projects/{ref}", path)
    path = re.sub(r"/(prj_|dpl_)[^/]+", "/{id}", path)
    path = re.sub(r"/v9/projects/[^/]+$", "/v9/projects/{name}", path)
    return f"{call.method} {path}"


def _beyond_chain(calls: list[Call]) -> Counter[str]:
    """The calls a run made beyond the unavoidable chain (the chain's parallel reads count as one each)."""
    return Counter(_template(c) for c in calls) - _CHAIN_CALLS


def one_run(apis: LocalApis) -> Run:
    with scratch_dir("scratch") as directory:
        tenants = apis.tenants()
        try:
            staging = staging_copy(directory, tenants)
            apis.latency(LATENCY)
            seen: dict[str, float] = {}
            stop = threading.Event()
            watcher = threading.Thread(target=_watch_provisioning, args=(tenants, stop, seen), daemon=True)
            watcher.start()
            started = time.time()
            try:
                took = staging.up()
            finally:
                ended = time.time()
                stop.set()
                watcher.join()
            calls = sorted([*tenants.supabase.calls(), *tenants.vercel.calls()], key=lambda c: c.at)
            created = next(c.at for c in calls if c.method == "POST" and c.path == "/v1/projects")
            knobs = tenants.vercel.app.knobs
            build = knobs.queue_seconds + knobs.build_seconds
            warmup = tenants.supabase.emulator.behaviour.pooler_warmup
            return Run(took, seen["ACTIVE_HEALTHY"] - created, warmup, build, calls, started, ended)
        finally:
            apis.forget(tenants)


def engine_seconds(runs: int) -> float:
    """The same engine's `pulumi up` (preview, then update) of a program that declares nothing."""
    with scratch_dir("engine") as directory:
        root, env = empty_program(directory)
        return median([timed(lambda: up(root, env)) for _ in range(runs)])


def measure(apis: LocalApis, runs: int) -> Section:
    section = Section("scratch", "From-scratch `pulumi up --stack staging`, 100 ms on every API call", runs)
    results = [one_run(apis) for _ in range(runs)]
    took = median([r.seconds for r in results])
    provisioning = median([r.provisioning for r in results])
    warmup = median([r.pooler_warmup for r in results])
    build = median([r.build for r in results])
    engine = engine_seconds(runs)
    floor = engine + len(CHAIN) * LATENCY + provisioning + warmup + build
    calls = median([float(len(r.calls)) for r in results])
    depth = median([float(sequential_depth(r.calls)) for r in results])
    section.rows.append(
        Row(
            "from-scratch `pulumi up --stack staging`, +100 ms a call",
            seconds(took),
            f"{seconds(floor)} ({engine:.2f} s engine + {len(CHAIN)} round trips x 100 ms + {provisioning:.2f} s "
            f"provisioning + {warmup:.2f} s pooler warm-up + {build:.2f} s build)",
            calls=f"{calls:.0f} calls, {depth:.0f} one after another",
            ratio=ratio(took, floor),
            goal=goal(took, floor, 2.0),
        )
    )
    phases = {name: median([r.phases()[name] for r in results]) for name in results[0].phases()}
    extra = ", ".join(f"{call} x{n}" if n > 1 else call for call, n in _beyond_chain(results[0].calls).items())
    section.notes += [
        "Where the time goes (medians; the phases overlap little, the program declares them in this order):",
        "",
        "| phase | seconds |",
        "|---|---|",
        *[f"| {name} | {value:.2f} |" for name, value in phases.items()],
        "",
        "The floor is the engine's own cost (an empty program's `pulumi up`, preview included) and the API's "
        "share. The rest is the Python program and its provider process starting (the no-op figure above is "
        "almost all of that), the database work that runs between the two APIs "
        "(`python -m envstack migrate up` and `seed` are processes of their own, and the login roles are "
        f"made over a direct connection), the calls beyond the unavoidable ones ({extra}), and "
        "polling (envstack/clients/polling.py): the project's first poll comes 0.2 s after the create, the "
        "build's 0.25 s after the redeploy, and each wait is half as long again as the one before, up to a "
        "cap (real projects take minutes to come up and real builds longer, so a fixed fast poll would only "
        "spend the rate limit). The independent reads after the project is healthy (pooler, API keys, "
        "PostgREST) go out together, as do the two app keys' creates.",
        "",
        "The unavoidable sequential round trips (everything else can run beside them):",
        "",
        *[f"{n}. {step}" for n, step in enumerate(CHAIN, 1)],
        "",
        "Latency is injected by the emulators (a `delay` fault on every path of both APIs); provisioning is "
        "the emulator's time from the create's answer to ACTIVE_HEALTHY (it starts a real PostgreSQL); the "
        "pooler warm-up is how long after that the local Supabase API, like the real one "
        "(terraform-provider-supabase#239), answers a new project's pooler settings with 500 (its "
        "`pooler_warmup`): no client has the connection details sooner, so step 4 waits it out; the "
        "build is the emulated redeploy's queue and build time.",
    ]
    return section
