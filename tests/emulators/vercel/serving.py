"""The local Vercel API's deployments answer HTTPS at their own names, as Vercel's edge does.

A deployment made through the local API is reachable at the ``url`` the API answers for it,
and a project's production domain at whatever deployment production points at now
(promotions and Instant Rollbacks included, as production.py decides):

- names: the real ones are ``<project>-<hash>-<team>.vercel.app`` for a deployment and
  ``<project>.vercel.app`` (``<project>-<team>.vercel.app`` when that is taken) for a project's
  production domain. Here they end in ``v<N>.vercel.test`` instead, ``N`` being this emulator's
  /24 of 127.56.0.0/16 (a range nothing else in the project uses; the local Supabase API has
  127.54.0.0/16), so two emulators never hand out the same name;
- addresses: Vercel's edge answers every deployment from the same addresses and tells them
  apart by name (SNI, then Host). Here too: every name resolves, through the session's hosts
  file (tests/emulators/common/hostnames.py), to one loopback address of the emulator's /24,
  where one TLS server listens on port 443;
- TLS: a certificate for ``*.v<N>.vercel.test`` (Vercel serves ``*.vercel.app`` with a
  wildcard certificate too), signed by a CA made for this emulator. Clients trust it by the
  standard means: ``SSL_CERT_FILE`` pointing at ``ca_file``, or ``ca_file`` handed to the
  client. Nothing envstack does differs from what it does against the real edge;
- the app: what a deployment runs is the Python module the ``serve_app`` knob named when the
  deployment was created (a redeploy builds the same source, so it keeps its deployment's).
  Like a function, it starts on the first request (a cold start) as ``python -m <module>``
  with the deployment's environment, and serves plain HTTP on a listening socket it inherits
  (descriptor number in ``ENVSTACK_LISTEN_FD``); the edge passes requests on to it. Between
  tests every app process is stopped (scale to zero);
- the environment: the project's variables for the deployment's target (and git branch, for
  branch-scoped preview variables) as they were when the deployment was created (Vercel bakes
  them into the build; a redeploy picks up new values), sensitive ones with their values, and
  the system variables Vercel adds (docs "System environment variables": VERCEL, VERCEL_ENV,
  VERCEL_TARGET_ENV, VERCEL_URL, VERCEL_DEPLOYMENT_ID, VERCEL_GIT_COMMIT_REF,
  VERCEL_PROJECT_PRODUCTION_URL);
- the edge's own answers (docs "Error codes"): 404 ``DEPLOYMENT_NOT_FOUND`` for a name no
  deployment has (or a deployment that failed or was deleted), 303
  ``DEPLOYMENT_NOT_READY_REDIRECTING`` to the inspector while it builds, 404 ``NOT_FOUND``
  from a deployment that serves no app, 500 ``FUNCTION_INVOCATION_FAILED`` when the app does
  not answer, 504 ``FUNCTION_INVOCATION_TIMEOUT`` when it answers too late.

Not modelled: Deployment Protection (real preview URLs usually answer 401 without a bypass
secret), branch URLs (``<project>-git-<branch>-<team>.vercel.app``), custom domains.

Run by hand outside a test session there is no hosts file to write names to: deployments
still get their names, but nothing serves them.
"""

from __future__ import annotations

import datetime
import hashlib
import http.client
import ipaddress
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.emulators.common.hostnames import HostsFile
from tests.emulators.supabase.addresses import AddressPool
from tests.emulators.vercel.envrules import EnvVar

NETWORK = ipaddress.IPv4Network("127.56.0.0/16")
HTTPS_PORT = 443
LISTEN_FD_VARIABLE = "ENVSTACK_LISTEN_FD"
ROOT = Path(__file__).resolve().parents[3]
# How long the edge waits for an app's answer before the real 504 (Vercel's default
# function duration is longer; a test never needs that long).
FUNCTION_TIMEOUT = 30.0
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"})
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Build:
    """One deployment as the edge serves it: its names, its app and its baked-in environment."""

    deployment_id: str
    project_id: str
    team_id: str
    host: str
    target: str  # production, preview, or a custom environment's slug
    git_branch: str | None
    app: str | None  # the module it runs; None: a deployment with no app (every path is 404)
    env: Mapping[str, str] = field(repr=False)
    inspector_url: str = ""


def runtime_env(variables: Iterable[EnvVar], target: str, git_branch: str | None) -> dict[str, str]:
    """What a deployment of ``target`` (built from ``git_branch``) reads: every variable of the
    target, a branch's own variable in place of the general one of the same key. Sensitive
    values are real values here: a function reads them, only people and APIs cannot."""
    chosen: dict[str, str] = {}
    for env in sorted(variables, key=lambda e: e.git_branch is not None):
        if target not in env.target and target not in env.custom_environment_ids:
            continue
        if env.git_branch is not None and env.git_branch != git_branch:
            continue
        chosen[env.key] = env.value
    return chosen


def _label_hash(deployment_id: str) -> str:
    """Nine base-36 characters, as in a real deployment URL, the same for the same deployment."""
    number = int.from_bytes(hashlib.sha256(deployment_id.encode()).digest()[:8], "big")
    digits = []
    for _ in range(9):
        number, digit = divmod(number, 36)
        digits.append(_BASE36[digit])
    return "".join(digits)


def _dns_label(text: str) -> str:
    cleaned = "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
    return cleaned or "project"


class EdgeCertificates:
    """A CA made for one emulator and a wildcard certificate it signed for the emulator's domain."""

    def __init__(self, domain: str) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.directory = Path(tempfile.mkdtemp(prefix="envstack-vercel-edge-"))
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"envstack test CA for {domain}")])
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"*.{domain}")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(f"*.{domain}"), x509.DNSName(domain)]), critical=False
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        self.ca_file = self.directory / "ca.pem"
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        self.cert_file = self.directory / "edge.pem"
        self.cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        self.key_file = self.directory / "edge.key"
        self.key_file.touch(mode=0o600)
        self.key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


class FunctionProcess:
    """One deployment's app, started on its first request with the deployment's environment."""

    def __init__(self, build: Build, log_dir: Path) -> None:
        assert build.app is not None
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        self.port: int = listener.getsockname()[1]
        self.log = log_dir / f"{build.deployment_id}.log"
        # Only the deployment's variables and what a Python process needs to start: the app
        # must see what Vercel gives it, not the test session's environment.
        env = {
            **build.env,
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            LISTEN_FD_VARIABLE: str(listener.fileno()),
        }
        try:
            with self.log.open("ab") as sink:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", build.app],
                    cwd=ROOT,
                    env=env,
                    pass_fds=(listener.fileno(),),
                    stdin=subprocess.DEVNULL,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
        finally:
            # The app holds the socket now; were the edge to keep its copy, requests to an app
            # that died would wait in the queue instead of being refused.
            listener.close()

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


# (deployment id) -> its readyState now, or None when it is gone
StateOf = Callable[[Build], str | None]
# (project id, team id) -> the id of the deployment production points at, or None
ProductionOf = Callable[[str, str], str | None]


class DeploymentServing:
    def __init__(self, hosts: HostsFile | None) -> None:
        self.hosts = hosts
        self.address: str | None = None
        self._pool: AddressPool | None = None
        if hosts is not None:
            self._pool = AddressPool(NETWORK)
            self.address = self._pool.allocate((HTTPS_PORT,))
            self.domain = f"v{ipaddress.IPv4Address(self.address).packed[2]}.vercel.test"
        else:
            self.domain = "vercel.test"
        self._certificates: EdgeCertificates | None = None
        self._builds: dict[str, Build] = {}  # deployment id -> build
        self._by_host: dict[str, str] = {}  # deployment host -> deployment id
        self._domains: dict[str, tuple[str, str]] = {}  # production domain -> (project id, team id)
        self._project_domains: dict[str, str] = {}  # project id -> production domain
        self._functions: dict[str, FunctionProcess] = {}
        self._lock = threading.Lock()
        self._edge: _Edge | None = None
        self._log_dir = Path(tempfile.mkdtemp(prefix="envstack-vercel-functions-"))
        # Set by the app: how a deployment stands now, and what production serves.
        self.state_of: StateOf = lambda build: "READY"
        self.production_of: ProductionOf = lambda project_id, team_id: None

    # -- names ----------------------------------------------------------------------------------
    def host_for(self, project_name: str, deployment_id: str, team_slug: str) -> str:
        """The deployment's own name: ``<project>-<hash>-<team>``, at most 63 characters."""
        suffix = f"-{_label_hash(deployment_id)}-{_dns_label(team_slug)}"
        label = _dns_label(project_name)[: 63 - len(suffix)].rstrip("-") + suffix
        return f"{label}.{self.domain}"

    def production_domain(self, project_id: str, project_name: str, team_slug: str) -> str:
        """``<project>.<domain>`` for the first project of that name, ``<project>-<team>`` after."""
        with self._lock:
            known = self._project_domains.get(project_id)
            if known is not None:
                return known
            plain = f"{_dns_label(project_name)[:63]}.{self.domain}"
            taken = plain in self._domains
            name = f"{_dns_label(project_name)[:40]}-{_dns_label(team_slug)[:22]}.{self.domain}" if taken else plain
            self._project_domains[project_id] = name
        return name

    def url_of(self, deployment_id: str) -> str | None:
        with self._lock:
            build = self._builds.get(deployment_id)
        return build.host if build else None

    def app_of(self, deployment_id: str) -> str | None:
        with self._lock:
            build = self._builds.get(deployment_id)
        return build.app if build else None

    def env_of(self, deployment_id: str) -> dict[str, str] | None:
        """The environment the deployment was built with: its target's variables as they stood
        when it was created (and the system ones); None for one the layer did not create."""
        with self._lock:
            build = self._builds.get(deployment_id)
        return dict(build.env) if build else None

    def domain_of(self, project_id: str) -> str | None:
        with self._lock:
            return self._project_domains.get(project_id)

    @property
    def ca_file(self) -> Path:
        """The CA the edge's certificate is signed by: what a client must trust (SSL_CERT_FILE)."""
        return self._certificates_now().ca_file

    # -- builds ---------------------------------------------------------------------------------
    def add(self, build: Build, production_domain: str) -> None:
        """Serve ``build`` at its name, and its project's production domain (when it has one)."""
        with self._lock:
            self._builds[build.deployment_id] = build
            self._by_host[build.host] = build.deployment_id
            self._domains[production_domain] = (build.project_id, build.team_id)
        if self.hosts is None or self.address is None:
            return
        self._start_edge()
        self.hosts.set(build.host, self.address)
        self.hosts.set(production_domain, self.address)

    def build_for(self, host: str) -> Build | None:
        """What the name serves now: its deployment, or the one production points at."""
        with self._lock:
            deployment_id = self._by_host.get(host)
            project = self._domains.get(host)
        if deployment_id is None and project is not None:
            deployment_id = self.production_of(*project)
        if deployment_id is None:
            return None
        with self._lock:
            return self._builds.get(deployment_id)

    def function(self, build: Build) -> FunctionProcess:
        """The build's running app, started now when it is not running (a cold start)."""
        with self._lock:
            process = self._functions.get(build.deployment_id)
            if process is None or not process.running:
                process = FunctionProcess(build, self._log_dir)
                self._functions[build.deployment_id] = process
            return process

    def function_log(self, deployment_id: str) -> str:
        """What the deployment's app printed (its runtime log), for a test that must see why."""
        path = self._log_dir / f"{deployment_id}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_functions(self) -> None:
        """Scale every app to zero (between tests); the next request starts it again."""
        with self._lock:
            running, self._functions = list(self._functions.values()), {}
        for process in running:
            process.stop()

    # -- the edge -------------------------------------------------------------------------------
    def _certificates_now(self) -> EdgeCertificates:
        with self._lock:
            if self._certificates is None:
                self._certificates = EdgeCertificates(self.domain)
            return self._certificates

    def _start_edge(self) -> None:
        certificates = self._certificates_now()
        with self._lock:
            if self._edge is not None or self.address is None:
                return
            self._edge = _Edge((self.address, HTTPS_PORT), self, certificates.server_context())
            threading.Thread(target=self._edge.serve_forever, name="vercel-edge", daemon=True).start()

    def close(self) -> None:
        self.stop_functions()
        with self._lock:
            edge, self._edge = self._edge, None
        if edge is not None:
            edge.shutdown()
            edge.server_close()
        if self._certificates is not None:
            self._certificates.remove()
        if self._pool is not None:
            self._pool.close()
        shutil.rmtree(self._log_dir, ignore_errors=True)


def _request_id() -> str:
    return f"iad1::{secrets.token_hex(3)}-{int(time.time() * 1000)}-{secrets.token_hex(6)}"


class _Edge(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], serving: DeploymentServing, context: ssl.SSLContext) -> None:
        self.serving = serving
        self.context = context
        super().__init__(address, _EdgeHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The handshake happens in the request's own thread, so a slow client stalls no other.
        try:
            wrapped = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        super().finish_request(wrapped, client_address)


class _EdgeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Edge
    server_version = "Vercel"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._serve()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip().lower().rstrip(".")
        serving = self.server.serving
        build = serving.build_for(host)
        state = serving.state_of(build) if build is not None else None
        if build is None or state in (None, "ERROR", "CANCELED"):
            self._edge_error(404, "DEPLOYMENT_NOT_FOUND", "The deployment could not be found on Vercel.")
            return
        if state != "READY":
            self._answer(
                303, b"", {"Location": build.inspector_url, "x-vercel-error": "DEPLOYMENT_NOT_READY_REDIRECTING"}
            )
            return
        if build.app is None:
            self._edge_error(404, "NOT_FOUND", "The page could not be found.")
            return
        self._proxy(build, host, body)

    def _proxy(self, build: Build, host: str, body: bytes) -> None:
        process = self.server.serving.function(build)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers.update(
            {
                "Host": host,
                "x-forwarded-host": host,
                "x-forwarded-proto": "https",
                "x-forwarded-for": self.client_address[0],
                "x-vercel-deployment-url": build.host,
                "Content-Length": str(len(body)),
            }
        )
        connection = http.client.HTTPConnection("127.0.0.1", process.port, timeout=FUNCTION_TIMEOUT)
        try:
            connection.request(self.command, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            payload = answer.read()
        except TimeoutError:
            self._edge_error(504, "FUNCTION_INVOCATION_TIMEOUT", "An error occurred with your deployment.")
            return
        except (OSError, http.client.HTTPException):
            self._edge_error(500, "FUNCTION_INVOCATION_FAILED", "A server error has occurred.")
            return
        finally:
            connection.close()
        kept = {k: v for k, v in answer.getheaders() if k.lower() not in _HOP_BY_HOP | {"content-length", "server"}}
        self._answer(answer.status, payload, kept)

    def _edge_error(self, status: int, code: str, sentence: str) -> None:
        request_id = _request_id()
        text = f"{status}: {http.HTTPStatus(status).phrase.upper()}\nCode: {code}\nID: {request_id}\n\n{sentence}\n"
        self._answer(
            status,
            text.encode(),
            {"Content-Type": "text/plain; charset=utf-8", "x-vercel-error": code},
            request_id,
        )

    def _answer(self, status: int, payload: bytes, headers: Mapping[str, str], request_id: str | None = None) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("x-vercel-id", request_id or _request_id())
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
