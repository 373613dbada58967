"""Vercel deployments played by local processes, and a steady load on whichever one is live.

``DeploymentRunner`` watches one Vercel project (the local API's state, not its recorded
calls) and behaves as Vercel's hosting does for it:

- a deployment's variables are the ones the local Vercel API baked into it when it was
  created: its target's variables as they stood then (Vercel builds with those);
- when a deployment newer than the live one is READY, a new app process
  (tests/integration/rotation_app.py) starts with those variables; once it answers its
  health check, traffic moves to it, and the old process is retired after the requests it
  is serving have finished. A process that never becomes healthy is killed and traffic stays
  where it was (recorded in ``errors``).

``Load`` sends requests to the live process at a fixed rate, and records each answer under
the phase the test is in, so the figures can be given per rotation.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from envstack.clients.tls import client_context
from tests.conftest import ROOT
from tests.emulators.vercel.fixtures import VercelApi
from tests.ports import free_port

Resolve = Callable[[dict[str, str]], dict[str, str]]


@dataclass
class AppProcess:
    deployment_id: str
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path
    in_flight: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/health/database"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@dataclass
class Deployment:
    id: str
    created: float
    env: dict[str, str]
    state: str = "QUEUED"


class DeploymentRunner:
    def __init__(self, vercel: VercelApi, project: str, target: str, resolve: Resolve, log_dir: Path) -> None:
        self.vercel, self.project, self.target, self.resolve = vercel, project, target, resolve
        self.log_dir = log_dir
        self.deployments: dict[str, Deployment] = {}
        self.events: list[tuple[float, str]] = []
        self.errors: list[str] = []
        self.retired: list[AppProcess] = []
        self._live: AppProcess | None = None
        self._polls = 0
        self._unregistered: dict[str, float] = {}  # deployment id -> when first listed unregistered
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # Watching and switching run apart: a switch waits on an app's start and an old app's
        # last requests, and the deployments' states keep being followed meanwhile.
        self._thread = threading.Thread(target=self._watch, name="deployment-watcher", daemon=True)
        self._switcher = threading.Thread(target=self._switch, name="deployment-switcher", daemon=True)
        self._seen = threading.Event()
        project_info = vercel.app.project(project, {"teamId": vercel.team})
        self._project_id = str(project_info["id"])

    # -- what the test uses -------------------------------------------------------------------
    def start(self) -> DeploymentRunner:
        self._thread.start()
        self._switcher.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._seen.set()
        self._thread.join(timeout=30)
        self._switcher.join(timeout=30)
        with self._lock:
            live, self._live = self._live, None
        for process in [*([live] if live else []), *self.retired]:
            process.stop()

    @property
    def live(self) -> AppProcess | None:
        with self._lock:
            return self._live

    def acquire(self) -> AppProcess | None:
        with self._lock:
            if self._live is not None:
                self._live.in_flight += 1
            return self._live

    def release(self, process: AppProcess) -> None:
        with self._lock:
            process.in_flight -= 1

    def newest_ready(self) -> str | None:
        with self._lock:
            ready = [d for d in self.deployments.values() if d.state == "READY"]
        return max(ready, key=lambda d: d.created).id if ready else None

    def wait_live(self, deployment_id: str | None = None, timeout: float = 60) -> AppProcess:
        """Until the newest READY deployment (or ``deployment_id``) is the one serving traffic."""
        deadline = time.monotonic() + timeout
        while True:
            assert not self.errors, f"the runner failed: {self.errors}"
            wanted = deployment_id or self.newest_ready()
            live = self.live
            if live is not None and wanted is not None and live.deployment_id == wanted:
                return live
            assert time.monotonic() < deadline, f"deployment {wanted} was not serving after {timeout}s"
            time.sleep(0.05)

    # -- the watcher -----------------------------------------------------------------------------
    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                self._poll()
            except Exception as exc:
                self.errors.append(f"watching: {type(exc).__name__}: {exc}")
                return
            self._seen.set()
            self._stop.wait(0.1)

    def _switch(self) -> None:
        while not self._stop.is_set():
            self._seen.wait()
            self._seen.clear()
            if self._stop.is_set():
                return
            try:
                self._follow_newest()
            except Exception as exc:
                self.errors.append(f"switching: {type(exc).__name__}: {exc}")
                return

    def _listed(self) -> list[dict[str, Any]]:
        answer = self.vercel.app.upstream.request(
            "GET", "/v6/deployments", params={"teamId": self.vercel.team, "projectId": self._project_id, "limit": "100"}
        )
        assert answer.ok, f"listing deployments: {answer.status}"
        # Production serves production deployments only; the preview target any preview one.
        wanted = {"production"} if self.target == "production" else {None, "preview"}
        return [self.vercel.app.builds.overlay(d) for d in answer.body["deployments"] if d.get("target") in wanted]

    def _built_with(self, uid: str) -> dict[str, str] | None:
        """The variables the deployment was built with; None while the local Vercel API has it
        created in emulate but not yet registered as a build (the next poll sees it)."""
        baked = self.vercel.app.serving.env_of(uid)
        if baked is not None:
            return baked
        if self._polls == 0:
            # Made straight in emulate by the test's set-up, before the runner started: as it stands.
            return {
                e.key: e.value
                for e in self.vercel.env_vars(self.project)
                if self.target in e.target and e.git_branch is None and e.value
            }
        first = self._unregistered.setdefault(uid, time.monotonic())
        assert time.monotonic() - first < 10, f"deployment {uid} appeared without going through the local Vercel API"
        return None

    def _poll(self) -> None:
        for listed in self._listed():
            uid = str(listed.get("uid") or listed.get("id"))
            state = str(listed.get("readyState") or listed.get("state") or "QUEUED")
            with self._lock:
                known = self.deployments.get(uid)
            if known is None:
                env = self._built_with(uid)
                if env is None:
                    continue
                known = Deployment(uid, float(listed.get("createdAt") or listed.get("created") or 0), env)
            with self._lock:
                known.state = state
                self.deployments[uid] = known
        self._polls += 1

    def _follow_newest(self) -> None:
        newest = self.newest_ready()
        live = self.live
        if newest is None or (live is not None and live.deployment_id == newest):
            return
        with self._lock:
            candidate = self.deployments[newest]
            older = live is not None and candidate.created <= self.deployments[live.deployment_id].created
        if older:
            return
        if "POSTGRES_URL" not in candidate.env:
            return  # a deployment made before the stack wrote any variables: nothing to run
        self._switch_to(candidate)

    def _switch_to(self, deployment: Deployment) -> None:
        port = free_port()
        log = self.log_dir / f"app-{deployment.id}.log"
        env = {**os.environ, **self.resolve(deployment.env), "PYTHONPATH": str(ROOT)}
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.integration.rotation_app", "--port", str(port)],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        started = AppProcess(deployment.id, port, deployment.env, process, log)
        if not self._healthy(started):
            started.stop()
            self.errors.append(f"deployment {deployment.id} never became healthy; see {log}")
            return
        with self._lock:
            old, self._live = self._live, started
        self.events.append((time.monotonic(), f"serving {deployment.id}"))
        if old is not None:
            self._retire(old)

    def _healthy(self, process: AppProcess, timeout: float = 30) -> bool:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=5, verify=client_context()) as http:
            while time.monotonic() < deadline and process.process.poll() is None:
                try:
                    if http.get(process.url).status_code == 200:
                        return True
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        return False

    def _retire(self, old: AppProcess) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with self._lock:
                if old.in_flight == 0:
                    break
            time.sleep(0.02)
        old.stop()
        self.retired.append(old)
        self.events.append((time.monotonic(), f"retired {old.deployment_id}"))


@dataclass
class Result:
    sent: float
    phase: str
    ok: bool
    detail: str
    deployment: str | None


@dataclass
class Phase:
    name: str
    started: float
    ended: float | None = None


@dataclass
class Load:
    """``rate`` requests a second to whatever the runner serves, from ``workers`` threads.

    The workers are many, so a slow answer delays no other request: the rate is the one sent,
    as from a crowd of users, not one the app's latency sets (six workers at a third of a second
    an answer could send only 18 a second)."""

    runner: DeploymentRunner
    rate: float = 25.0
    workers: int = 16
    results: list[Result] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    _phase: str = ""
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, phase: str) -> Load:
        self._phase = phase
        self.phases.append(Phase(phase, time.monotonic()))
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="load")
        self._client = httpx.Client(timeout=15)
        self._thread = threading.Thread(target=self._schedule, name="load", daemon=True)
        self._thread.start()
        return self

    def phase(self, name: str) -> None:
        now = time.monotonic()
        with self._lock:
            self.phases[-1].ended = now
            self.phases.append(Phase(name, now))
            self._phase = name

    def stop(self) -> None:
        # The last phase ends when sending stops, not when the last answer has come back.
        self.phases[-1].ended = time.monotonic()
        self._stop.set()
        self._thread.join(timeout=10)
        self._pool.shutdown(wait=True)
        self._client.close()

    def _schedule(self) -> None:
        interval, next_at = 1.0 / self.rate, time.monotonic()
        while not self._stop.is_set():
            with self._lock:
                phase = self._phase
            self._pool.submit(self._one, phase)
            next_at += interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _one(self, phase: str) -> None:
        sent = time.monotonic()
        process = self.runner.acquire()
        if process is None:
            self._record(Result(sent, phase, False, "no deployment is serving", None))
            return
        try:
            answer = self._client.get(process.url)
            ok = answer.status_code == 200
            detail = "" if ok else f"{answer.status_code} {answer.text[:300]}"
        except httpx.HTTPError as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        finally:
            self.runner.release(process)
        self._record(Result(sent, phase, ok, detail, process.deployment_id))

    def _record(self, result: Result) -> None:
        with self._lock:
            self.results.append(result)

    def figures(self) -> list[dict[str, Any]]:
        """Per phase: requests served (answered 200), failed, seconds, and requests a second:
        the ones that went out while the phase lasted (a request waiting for a worker is not
        sent yet), over its length."""
        rows = []
        for phase in self.phases:
            mine = [r for r in self.results if r.phase == phase.name]
            ended = phase.ended or time.monotonic()
            seconds = ended - phase.started
            went_out = sum(phase.started <= r.sent < ended for r in self.results)
            rows.append(
                {
                    "phase": phase.name,
                    "served": sum(r.ok for r in mine),
                    "failed": sum(not r.ok for r in mine),
                    "seconds": round(seconds, 1),
                    "per_second": round(went_out / seconds, 1) if seconds > 0 else 0.0,
                    "deployments": len({r.deployment for r in mine}),
                }
            )
        return rows

    def failures(self) -> list[Result]:
        return [r for r in self.results if not r.ok]
