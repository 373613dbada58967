"""Project-managed PostgreSQL and PgBouncer processes on loopback addresses.

Used by the dev environment (one server for every dev database), by the tests, and by
the local Supabase Management API, where every project is a server of its own. Servers
listen on TCP on one loopback address only, and on a Unix socket inside their own
directory; nothing here ever binds a non-loopback address.

PostgreSQL and PgBouncer both refuse to run as root, so when we are root they run as
the ``postgres`` system user that the Debian packages create.
"""

from __future__ import annotations

import glob
import ipaddress
import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from envstack.errors import ServerError

SERVICE_USER = "postgres"

# Where a cluster listens. They are written again at every start, not only by initdb, so a
# changed localdb:port or localdb:host reaches a cluster made before the change.
_LOCATION_KEYS = frozenset({"listen_addresses", "port", "unix_socket_directories", "unix_socket_permissions"})
# Local logins over the socket are trusted, so only the server's own OS user may connect to it
# (root may anyway): with the default 0777, any user of a shared machine got a superuser.
_SOCKET_PERMISSIONS = "0700"
# sockaddr_un's sun_path is 108 bytes on Linux, the last for the terminating NUL.
_SOCKET_PATH_MAX = 107


def require_loopback(host: str) -> str:
    """Refuse any address outside 127.0.0.0/8: these servers are for this machine only."""
    if ipaddress.ip_address(host) not in ipaddress.ip_network("127.0.0.0/8"):
        raise ServerError(f"refusing to listen on {host}: only 127.0.0.0/8 is allowed")
    return host


def socket_port(directory: str | Path, port: int) -> int:
    """The port of the server whose Unix socket is in ``directory``: ``port`` while its socket
    is there, else the port of the one socket that is (the same cluster, moved by a new
    localdb:port since ``port`` was recorded)."""
    if (Path(directory) / f".s.PGSQL.{port}").exists():
        return port
    found = [p for p in Path(directory).glob(".s.PGSQL.*") if p.name.rsplit(".", 1)[1].isdigit()]
    return int(found[0].name.rsplit(".", 1)[1]) if len(found) == 1 else port


def postgres_bindir() -> Path:
    """The newest installed PostgreSQL's bin directory (ENVSTACK_PG_BINDIR overrides)."""
    override = os.environ.get("ENVSTACK_PG_BINDIR")
    if override:
        return Path(override)
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    if not candidates:
        raise ServerError("PostgreSQL server binaries not found: install the Debian package 'postgresql'")
    return Path(candidates[-1]).parent


def pgbouncer_binary() -> str:
    found = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)
    if not found:
        raise ServerError("pgbouncer not found: install the Debian package 'pgbouncer'")
    return found


def _as_service_user() -> list[str]:
    return ["runuser", "-u", SERVICE_USER, "--"] if os.geteuid() == 0 else []


def hand_over(path: Path) -> None:
    """Give a directory tree to the service user (no-op unless we are root)."""
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(SERVICE_USER)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


def write_private(path: Path, text: str) -> None:
    """``text`` in ``path``, readable by its owner alone from the first byte: the directories
    above are made traversable for the service user, and these files hold passwords."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)  # a file that existed keeps its old mode through O_CREAT
        handle.write(text)


def make_reachable(path: Path) -> None:
    """Ensure the service user can traverse every parent of ``path`` (mode o+x)."""
    if os.geteuid() != 0:
        return
    for parent in [path, *path.parents]:
        if parent == Path("/"):
            break
        mode = parent.stat().st_mode
        if not mode & 0o001:
            os.chmod(parent, mode | 0o001)


def _setting_key(line: str) -> str | None:
    """The setting a ``postgresql.conf`` line sets (None for a comment or a blank line)."""
    text = line.split("#", 1)[0]
    if "=" not in text:
        return None
    return text.split("=", 1)[0].strip().lower() or None


def _effective(conf: str) -> dict[str, str]:
    """Each location setting's value as the server reads it: the last line wins, quotes aside."""
    found: dict[str, str] = {}
    for line in conf.splitlines():
        key = _setting_key(line)
        if key in _LOCATION_KEYS:
            found[key] = line.split("#", 1)[0].partition("=")[2].strip().strip("'")
    return found


def _run(cmd: list[str], what: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ServerError(f"{what} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def make_self_signed_certificate(directory: Path, common_name: str) -> tuple[Path, Path]:
    """A throwaway certificate so servers can offer TLS (clients use sslmode=require)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "server.crt", directory / "server.key"
    if not cert.exists():
        _run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "3650",
                "-subj",
                f"/CN={common_name}",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            "openssl req",
        )
        key.chmod(0o600)
    return cert, key


@dataclass(frozen=True)
class PostgresServer:
    """One PostgreSQL cluster in ``directory``, listening on ``host:port``.

    ``superuser`` names the bootstrap superuser initdb creates (and the admin connection
    uses); ``settings`` are extra ``postgresql.conf`` lines; ``template`` is the data
    directory of a stopped cluster to copy instead of running initdb (much faster, for
    many identical clusters); ``certificate`` is a (cert, key) pair to serve TLS with
    instead of generating one; ``socket_directory`` overrides where the Unix socket lives
    (``directory/run``), for directories too deep for a socket path (~107 bytes at most);
    ``initdb_options`` are extra initdb arguments.
    """

    directory: Path
    host: str = "127.0.0.1"
    port: int = 5432
    ssl: bool = False
    superuser: str = SERVICE_USER
    settings: tuple[str, ...] = ()
    template: Path | None = None
    certificate: tuple[Path, Path] | None = None
    socket_directory: Path | None = None
    initdb_options: tuple[str, ...] = ()

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def socket_dir(self) -> Path:
        return self.socket_directory or self.directory / "run"

    @property
    def log_file(self) -> Path:
        return self.directory / "postgres.log"

    def admin_conninfo(self, dbname: str = "postgres") -> str:
        """Superuser connection over the Unix socket (peer-free trust, local to this dir)."""
        return f"host={self.socket_dir} port={self.port} user={self.superuser} dbname={dbname}"

    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    @property
    def socket_path(self) -> Path:
        return self.socket_dir / f".s.PGSQL.{self.port}"

    def _require_short_socket_path(self) -> None:
        """Refuse, before anything is made, a socket path the server could not bind (it would
        fail at start with the reason only in its log)."""
        length = len(os.fsencode(self.socket_path))
        if length > _SOCKET_PATH_MAX:
            raise ServerError(
                f"the server's socket path {self.socket_path} is {length} bytes, over the {_SOCKET_PATH_MAX}"
                " a Unix socket allows: give it a shorter directory (for the dev server, set localdb:directory"
                " to a short absolute path)"
            )

    def initialize(self) -> None:
        """Create the cluster once; a second call is a no-op."""
        require_loopback(self.host)
        self._require_short_socket_path()
        if self.initialized():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        make_reachable(self.directory)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if self.socket_directory is not None:
            make_reachable(self.socket_dir)
            hand_over(self.socket_dir)
        if self.template is not None:
            self._copy_template(self.template)
        else:
            self.data_dir.mkdir(exist_ok=True)
            self.data_dir.chmod(0o700)
            hand_over(self.directory)
            _run(
                [
                    *_as_service_user(),
                    str(postgres_bindir() / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.superuser,
                    "--encoding=UTF8",
                    "--no-locale",
                    # Trust only the Unix socket, which lives in this private directory; every
                    # TCP login needs a password.
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    *self.initdb_options,
                ],
                "initdb",
            )
        settings = [
            "fsync = off",  # local, disposable clusters: durability costs time for nothing
            "synchronous_commit = off",
            "full_page_writes = off",
            "max_connections = 200",
            "shared_buffers = 32MB",
        ]
        if self.ssl:
            if self.certificate is not None:
                cert, key = self.certificate
            else:
                cert, key = make_self_signed_certificate(self.directory / "tls", self.host)
                hand_over(self.directory / "tls")
            settings += ["ssl = on", f"ssl_cert_file = '{cert}'", f"ssl_key_file = '{key}'"]
        # Appended after the template's own lines: the last occurrence of a setting wins.
        settings += [line for line in self.settings if _setting_key(line) not in _LOCATION_KEYS]
        with (self.data_dir / "postgresql.auto.conf").open("a") as conf:
            conf.write("\n".join(settings) + "\n")
        self._write_location()

    def _location(self) -> list[str]:
        """This server's location settings (``settings`` may override them, as the template's
        ``listen_addresses = ''`` does)."""
        wanted = {
            "listen_addresses": f"'{self.host}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "unix_socket_permissions": _SOCKET_PERMISSIONS,
        }
        for line in self.settings:
            key = _setting_key(line)
            if key in wanted:
                wanted[key] = line.partition("=")[2].strip()
        return [f"{key} = {value}" for key, value in wanted.items()]

    def _write_location(self) -> bool:
        """Put this server's location settings last in ``postgresql.auto.conf`` (which the server
        reads after postgresql.conf), each once; True when where the server listens changed (a
        file only reformatted, by ALTER SYSTEM say, is rewritten but needs no restart)."""
        conf = self.data_dir / "postgresql.auto.conf"
        before = conf.read_text()
        kept = [line for line in before.splitlines() if _setting_key(line) not in _LOCATION_KEYS]
        wanted = self._location()
        after = "\n".join([*kept, *wanted]) + "\n"
        if after == before:
            return False
        # A new file renamed over the old, as PostgreSQL writes it: a kill mid-write must not
        # leave the cluster without its other settings. Same owner and mode as the old one.
        info = conf.stat()
        fresh = conf.with_name(conf.name + ".envstack")
        descriptor = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IMODE(info.st_mode))
        with os.fdopen(descriptor, "w") as handle:
            handle.write(after)
        if os.geteuid() == 0:
            os.chown(fresh, info.st_uid, info.st_gid)
        os.replace(fresh, conf)
        return _effective(before) != _effective(after)

    def _restrict_socket_directory(self) -> None:
        """Only the server's user may enter the socket's directory (clusters made before this
        have it at 0755)."""
        self.socket_dir.chmod(0o700)

    def _copy_template(self, template: Path) -> None:
        if not (template / "PG_VERSION").exists():
            raise ServerError(f"{template} is not a PostgreSQL data directory")
        if (template / "postmaster.pid").exists():
            raise ServerError(f"{template} belongs to a running server; stop it before copying")
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        # cp -a keeps modes and owners (the service user's, when we are root).
        _run(["cp", "-a", str(template), str(self.data_dir)], "copying the template cluster")
        hand_over(self.directory)

    def running(self) -> bool:
        proc = subprocess.run(
            [*_as_service_user(), str(postgres_bindir() / "pg_ctl"), "status", "-D", str(self.data_dir)],
            capture_output=True,
            check=False,
        )
        return proc.returncode == 0 and not self._stale_pid_file()

    def _stale_pid_file(self) -> bool:
        """Whether ``postmaster.pid`` names a live process that is not this cluster's server.

        A pid file outlives a server that died with the machine, and its pid may since run
        another program of the same user: pg_ctl then calls the cluster running, and the
        server refuses to start over it. The postmaster works in its data directory, so a
        process elsewhere is not it."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
            where = os.readlink(f"/proc/{pid}/cwd")
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return False  # no pid file, or no process: pg_ctl sees that itself
        except OSError:
            return False  # no /proc to tell by (or not ours to read): the pid file is all there is
        return Path(where) != self.data_dir.resolve()

    def start(self) -> None:
        """Start (initialising first if needed) and wait until it accepts connections."""
        self.initialize()
        if self._stale_pid_file():
            (self.data_dir / "postmaster.pid").unlink()
        moved = self._write_location()
        self._restrict_socket_directory()
        if self.running():
            if not moved:
                return
            # Listening addresses and socket settings are read at start only.
            self.stop()
        _run(
            [
                *_as_service_user(),
                str(postgres_bindir() / "pg_ctl"),
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
            ],
            f"starting PostgreSQL on {self.host}:{self.port} (log: {self.log_file})",
        )

    def stop(self) -> None:
        if not self.initialized() or not self.running():
            return
        _run(
            [
                *_as_service_user(),
                str(postgres_bindir() / "pg_ctl"),
                "stop",
                "-w",
                "-m",
                "fast",
                "-D",
                str(self.data_dir),
            ],
            "stopping PostgreSQL",
        )

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
        if self.socket_directory is not None:
            shutil.rmtree(self.socket_directory, ignore_errors=True)


@dataclass(frozen=True)
class PgBouncer:
    """One PgBouncer process in ``directory`` in front of a PostgreSQL server.

    ``users`` maps client login names to their passwords (PgBouncer's auth_file);
    ``databases`` maps client-visible database names to libpq connect strings.
    """

    directory: Path
    host: str
    port: int
    pool_mode: str  # "transaction" or "session"
    tls: bool = True

    @property
    def pid_file(self) -> Path:
        return self.directory / "pgbouncer.pid"

    @property
    def ini_file(self) -> Path:
        return self.directory / "pgbouncer.ini"

    @property
    def auth_file(self) -> Path:
        return self.directory / "userlist.txt"

    @property
    def log_file(self) -> Path:
        return self.directory / "pgbouncer.log"

    def configure(
        self, databases: dict[str, str], users: dict[str, str], settings: dict[str, str] | None = None
    ) -> None:
        """Write the configuration; a running bouncer picks it up on reload().

        ``settings`` are extra ``[pgbouncer]`` options (e.g. auth_user and auth_query)."""
        require_loopback(self.host)
        self.directory.mkdir(parents=True, exist_ok=True)
        make_reachable(self.directory)
        lines = ["[databases]"]
        lines += [f"{name} = {conninfo}" for name, conninfo in databases.items()]
        lines += [
            "[pgbouncer]",
            f"listen_addr = {self.host}",
            f"listen_port = {self.port}",
            f"unix_socket_dir = {self.directory}",
            f"pool_mode = {self.pool_mode}",
            "auth_type = scram-sha-256",
            f"auth_file = {self.auth_file}",
            f"logfile = {self.log_file}",
            f"pidfile = {self.pid_file}",
            "max_client_conn = 200",
            "default_pool_size = 20",
            "ignore_startup_parameters = extra_float_digits,options",
        ]
        lines += [f"{name} = {value}" for name, value in (settings or {}).items()]
        if self.tls:
            cert, key = make_self_signed_certificate(self.directory / "tls", self.host)
            lines += ["client_tls_sslmode = allow", f"client_tls_cert_file = {cert}", f"client_tls_key_file = {key}"]
        write_private(self.ini_file, "\n".join(lines) + "\n")
        # PgBouncer accepts plain-text passwords in its auth file and derives SCRAM itself.
        write_private(self.auth_file, "".join(f'"{user}" "{password}"\n' for user, password in users.items()))
        hand_over(self.directory)

    def _pid(self) -> int | None:
        """The pid file's process when it is this PgBouncer. A pid file outlives a PgBouncer that
        died with the machine, and its pid may since run something else, which must never be
        signalled (a reload's SIGHUP, a stop's SIGINT and SIGKILL) nor taken for the pooler."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return None
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return pid  # no /proc to tell by: the pid file is all there is
        return pid if str(self.ini_file).encode() in command.split(b"\0") else None

    def pid(self) -> int | None:
        """The running bouncer's process id (None when it is not running)."""
        return self._pid()

    def running(self) -> bool:
        return self._pid() is not None

    def start(self, timeout: float = 30.0) -> None:
        if self.running():
            return
        # PgBouncer will not start over a pid file whose pid runs, even when that is another program.
        self.pid_file.unlink(missing_ok=True)
        _run([*_as_service_user(), pgbouncer_binary(), "-d", str(self.ini_file)], "starting pgbouncer")
        deadline = time.monotonic() + timeout
        while not self.running():
            if time.monotonic() > deadline:
                raise ServerError(f"pgbouncer on {self.host}:{self.port} did not start; see {self.log_file}")
            time.sleep(0.05)

    def reload(self) -> None:
        pid = self._pid()
        if pid is not None:
            os.kill(pid, signal.SIGHUP)

    def stop(self, timeout: float = 30.0) -> None:
        pid = self._pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + timeout
        while self.running():
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.05)
