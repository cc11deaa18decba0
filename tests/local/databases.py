"""Real database servers standing in for RDS instances in the local stack: PostgreSQL 15 and
MariaDB 10.11 (for the MySQL family), each on 127.0.0.1 on a free TCP port.

Each server is a copy of one template data dir made once per kind per process, so a server starts
in a fraction of a second. Servers run as the system users `postgres` / `mysql` when we are root
(PostgreSQL refuses root), as the current user otherwise, with their data, sockets and pid files in
a temp dir this module owns; nothing outside it changes. That temp dir is on /dev/shm when it is
a tmpfs with room: copying a data dir there takes 0.05 s where the disk took 1 s.

Logins: the master user (create_master_user) logs in over TCP with its password; the local
superuser (`rdsadmin` on PostgreSQL, root via unix_socket on MariaDB) only over the unix socket,
for admin_query.

Used by tests/local/stack.py; tested by tests/local/test_databases.py.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Sequence

# RDS engine -> local server kind.
ENGINES = {"mysql": "mariadb", "mariadb": "mariadb", "aurora-mysql": "mariadb",
           "postgres": "postgres", "aurora-postgresql": "postgres"}

HOST = "127.0.0.1"
READY_SECONDS = 30
STOP_SECONDS = 20
# The system users that own the servers' files and processes when we are root.
SYSTEM_USERS = {"postgres": "postgres", "mariadb": "mysql"}
# PostgreSQL's bootstrap superuser: RDS's own name for it, so a master user named `postgres`
# (RDS's default) is an ordinary CREATEDB CREATEROLE login as on RDS, not the superuser.
PG_ADMIN = "rdsadmin"
# A throwaway server: durability buys nothing, speed does. Dynamic shared memory in the data dir
# (not /dev/shm/PostgreSQL.*), so nothing of a server is left outside it.
PG_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
               "max_connections": "200", "shared_buffers": "16MB", "dynamic_shared_memory_type": "mmap"}
# Sizes given both to mariadb-install-db and to every start, so InnoDB never resizes its log.
MARIADB_INNODB = ["--innodb-buffer-pool-size=16M", "--innodb-log-file-size=16M"]
# What RDS grants its MySQL/MariaDB master user: no SUPER and no READ ONLY ADMIN, so read_only
# binds it.
MARIADB_MASTER_PRIVILEGES = (
    "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, RELOAD, PROCESS, REFERENCES, INDEX, ALTER, "
    "SHOW DATABASES, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, REPLICATION SLAVE, "
    "REPLICATION CLIENT, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, CREATE USER, EVENT, "
    "TRIGGER")
# A unix socket's path has at most 107 bytes; data dirs go to the system temp dir when work_dir
# is too deep for that. What a socket path adds to the base's parent: "/lattice-db-XXXXXXXX",
# "/NNN-<label 20>-XXXXXXXX", "/.s.PGSQL.65535".
SOCKET_PATH_LIMIT = 107
SOCKET_PATH_OVERHEAD = 20 + 34 + 15
# Data dirs go to this tmpfs when it has this much room (each server takes 30-100 MB).
FAST_DIR = Path("/dev/shm")
FAST_DIR_MIN_FREE = 1 << 30
SETUP_HINT = "./scripts/setup.sh installs it"


class DatabaseError(RuntimeError):
    pass


# ---- binaries

def _postgres_bin_dir() -> Path:
    """The directory with initdb and postgres: on PATH, else Debian's newest /usr/lib/postgresql/N/bin."""
    found = shutil.which("postgres")
    if found and Path(found).with_name("initdb").exists():
        return Path(found).parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                  key=lambda d: int(re.sub(r"\D", "", d.split("/")[-2]) or 0))
    for d in reversed(dirs):
        if (Path(d) / "postgres").exists() and (Path(d) / "initdb").exists():
            return Path(d)
    raise DatabaseError(f"missing the PostgreSQL server binaries postgres and initdb "
                        f"(looked on PATH and in /usr/lib/postgresql/*/bin); {SETUP_HINT}")


def _mariadb_bins() -> tuple[Path, Path]:
    """(mariadbd, mariadb-install-db); /usr/sbin is not on every PATH, so look there too."""
    out = []
    for name, extra in [("mariadbd", ["/usr/sbin", "/usr/libexec"]), ("mariadb-install-db", ["/usr/bin", "/usr/scripts"])]:
        path = shutil.which(name) or shutil.which(name, path=os.pathsep.join(extra))
        if not path:
            raise DatabaseError(f"missing the MariaDB binary {name} (looked on PATH and in "
                                f"{', '.join(extra)}); {SETUP_HINT}")
        out.append(Path(path))
    return out[0], out[1]


def _binary_version(binary: Path, pattern: str) -> str:
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
    m = re.search(pattern, out.stdout + out.stderr)
    if out.returncode != 0 or not m:
        raise DatabaseError(f"{binary} --version failed or said nothing readable: {out.stdout}{out.stderr}")
    return m.group(1)


def versions() -> dict[str, str]:
    """{"postgres": "15.x", "mariadb": "10.11.x"}, read from the server binaries."""
    return {
        # "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
        "postgres": _binary_version(_postgres_bin_dir() / "postgres", r"\(PostgreSQL\)\s+(\d+(?:\.\d+)+)"),
        # "mariadbd  Ver 10.11.14-MariaDB-0+deb12u2 for debian-linux-gnu"
        "mariadb": _binary_version(_mariadb_bins()[0], r"Ver\s+(\d+(?:\.\d+)+)"),
    }


# ---- users and files

def _system_user(kind: str) -> str | None:
    """The user a server of this kind runs as: its system user when we are root, else None (us)."""
    if os.geteuid() != 0:
        return None
    user = SYSTEM_USERS[kind]
    try:
        pwd.getpwnam(user)
    except KeyError:
        raise DatabaseError(f"missing the system user {user!r} that runs {kind} as root; {SETUP_HINT}") from None
    return user


def _as_user(user: str | None) -> dict:
    """Popen arguments that run the child as `user` (setuid in the child, like `runuser -u user --`
    but without a wrapper process, so the pid we signal is the server's own)."""
    if user is None:
        return {}
    pw = pwd.getpwnam(user)
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


def _own(path: Path, user: str | None, mode: int = 0o700) -> None:
    if user is not None:
        pw = pwd.getpwnam(user)
        os.chown(path, pw.pw_uid, pw.pw_gid)
    os.chmod(path, mode)


def _traversable(path: Path) -> bool:
    """Whether any user can reach path: every directory up to it has the others' x bit."""
    path = path.resolve()
    return all(p.is_dir() and os.stat(p).st_mode & stat.S_IXOTH for p in [path, *path.parents])


def _child_env() -> dict[str, str]:
    # The caller's PG*/MYSQL* variables must not steer the servers or their tools.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "MYSQL", "MARIADB", "LC_", "LANG"))}
    env["LC_ALL"] = "C"
    return env


def _tail(path: Path, lines: int = 30, start: int = 0) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(start)
            return "\n".join(f.read().decode(errors="replace").splitlines()[-lines:])
    except OSError as e:
        return f"(no log: {e})"


def _sanitize(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "db"


def _fast_dir() -> Path | None:
    """FAST_DIR if it is a tmpfs with FAST_DIR_MIN_FREE bytes free, else None (use the disk)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
        tmpfs = any(line.split()[1:3] == [str(FAST_DIR), "tmpfs"] for line in mounts)
        st = os.statvfs(FAST_DIR)
    except OSError:
        return None
    writable = os.access(FAST_DIR, os.W_OK | os.X_OK)
    return FAST_DIR if tmpfs and writable and st.f_bavail * st.f_frsize >= FAST_DIR_MIN_FREE else None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (tests/local/stack.py uses it too)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# ---- templates: one initialised data dir per kind per process

class _Templates:
    """Initialises a data dir per kind once; servers start from copies of it."""

    def __init__(self):
        self.lock = threading.Lock()
        # One lock per kind: the first PostgreSQL and the first MariaDB initialise in parallel.
        self.kind_locks = {kind: threading.Lock() for kind in SYSTEM_USERS}
        self.root: Path | None = None
        self.data: dict[str, Path] = {}

    def get(self, kind: str) -> Path:
        with self.kind_locks[kind]:
            if kind not in self.data:
                with self.lock:
                    if self.root is None:
                        self.root = Path(tempfile.mkdtemp(prefix="lattice-db-templates-", dir=_fast_dir()))
                        # x for others: the postgres/mysql users reach their own subdirectory.
                        os.chmod(self.root, 0o711)
                user = _system_user(kind)
                home = self.root / kind
                shutil.rmtree(home, ignore_errors=True)  # what a failed attempt left
                home.mkdir()
                _own(home, user)
                data = home / "data"
                log = home / "init.log"
                if kind == "postgres":
                    cmd = [str(_postgres_bin_dir() / "initdb"), "-D", str(data), "-U", PG_ADMIN,
                           # trust only on the unix socket (admin_query); TCP needs the password.
                           "--auth-local=trust", "--auth-host=scram-sha-256",
                           "--locale=C", "-E", "UTF8", "--no-sync", "--no-instructions"]
                else:
                    _, install_db = _mariadb_bins()
                    admin = _mariadb_admin()
                    cmd = [str(install_db), "--no-defaults", f"--datadir={data}",
                           # root (or, not as root, our own login) only via unix_socket; no test db
                           # and so no anonymous users that could shadow the master user's '%'.
                           "--auth-root-authentication-method=socket", f"--auth-root-socket-user={admin}",
                           "--skip-test-db", "--skip-name-resolve", *MARIADB_INNODB]
                with open(log, "wb") as out:
                    r = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd="/", env=_child_env(),
                                       timeout=300, **_as_user(user))
                if r.returncode != 0:
                    raise DatabaseError(f"{Path(cmd[0]).name} failed (exit {r.returncode}); its log {log}:\n{_tail(log)}")
                if kind == "postgres":
                    # In the file, not -c: a reload (set_read_only) then sees no restart-only
                    # setting differ from the file and logs no errors.
                    with open(data / "postgresql.conf", "a") as conf:
                        conf.write("\n# tests/local/databases.py\n" + "".join(f"{k} = {v}\n" for k, v in PG_SETTINGS.items()))
                self.data[kind] = data
            return self.data[kind]

    def remove(self) -> None:
        with self.lock:
            if self.root is not None:
                shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
            self.data.clear()


def _mariadb_admin() -> str:
    """MariaDB's unix_socket superuser: root as root, else the login we run as."""
    return "root" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name


_TEMPLATES = _Templates()


# ---- one server

class LocalServer:
    """One running (or stopped) database server on 127.0.0.1, made by LocalServers.start."""

    def __init__(self, kind: str, name: str, engine: str, server_dir: Path, log_path: Path, user: str | None):
        self.kind = kind
        self.name = name
        self.engine = engine
        self.host = HOST
        self.port = 0
        self.dir = server_dir
        self.data_dir = server_dir / "data"
        self.log_path = log_path
        # Seconds the last start took, until the server answered.
        self.start_seconds: float | None = None
        self._user = user
        self._proc: subprocess.Popen | None = None
        self._log = None
        self._lock = threading.RLock()
        # MariaDB's SET GLOBAL read_only does not survive a restart; start() passes it again.
        self._read_only = False
        self._removed = False
        self._proc_code: int | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<LocalServer {self.kind} {self.name!r} {self.host}:{self.port} {state}>"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The server process's pid (the postmaster / mariadbd), while started."""
        return self._proc.pid if self._proc is not None else None

    @property
    def socket_path(self) -> Path:
        """The unix socket admin_query uses (for PostgreSQL: the directory holding it)."""
        return self.dir if self.kind == "postgres" else self.dir / "mysqld.sock"

    @property
    def _socket_file(self) -> Path:
        return self.dir / f".s.PGSQL.{self.port}" if self.kind == "postgres" else self.socket_path

    # ---- lifecycle
    def _command(self) -> list[str]:
        if self.kind == "postgres":
            # The rest of the settings are in the template's postgresql.conf (PG_SETTINGS).
            return [str(_postgres_bin_dir() / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                    "-c", f"listen_addresses={HOST}", "-c", f"unix_socket_directories={self.dir}"]
        mariadbd, _ = _mariadb_bins()
        # --no-defaults first: /etc/mysql/my.cnf must not move the socket or data elsewhere.
        return [str(mariadbd), "--no-defaults", f"--datadir={self.data_dir}", f"--port={self.port}",
                f"--bind-address={HOST}", f"--socket={self.socket_path}", f"--pid-file={self.dir / 'mysqld.pid'}",
                f"--tmpdir={self.dir / 'tmp'}", "--skip-name-resolve", "--skip-log-bin",
                *MARIADB_INNODB, "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0",
                # Native AIO contexts are a machine-wide limit shared by every server here.
                "--innodb-use-native-aio=0", "--innodb-temp-data-file-path=ibtmp1:1M:autoextend",
                "--max-connections=200", "--table-open-cache=400",
                "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
                f"--read-only={'ON' if self._read_only else 'OFF'}"]

    def start(self) -> None:
        """Start the server (again) on its port and data; a no-op while it runs."""
        with self._lock:
            if self.running:
                return
            if self._removed:
                raise DatabaseError(f"{self.name}: its data was removed (stop_all); start a new server")
            self._stopped()
            # Only the first start may move to another port: a restarted instance keeps its endpoint.
            first = self.port == 0
            for _attempt in range(5 if first else 1):
                if first:
                    self.port = free_port()
                t0 = time.monotonic()
                outcome = self._launch()
                if outcome == "ready":
                    self.start_seconds = time.monotonic() - t0
                    return
                # Another process took the port between free_port and the bind: try another.
            raise DatabaseError(f"{self.kind} server {self.name} could not bind a port on {HOST}; "
                                f"its log {self.log_path}:\n{_tail(self.log_path)}")

    def _launch(self) -> str:
        """Start the process and wait until it answers: "ready", or "port-taken" if it could not bind."""
        if self.kind == "mariadb":
            # A stale pid file of a killed mariadbd would not stop it, but a stale socket must go.
            self.socket_path.unlink(missing_ok=True)
        self._log = open(self.log_path, "ab")
        self._log.write(f"==== {time.strftime('%H:%M:%S')} starting {self.kind} {self.name} on {HOST}:{self.port}\n".encode())
        self._log.flush()
        log_start = self._log.tell()
        self._proc = subprocess.Popen(
            self._command(), stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            cwd="/", env=_child_env(), start_new_session=True, **_as_user(self._user))
        deadline = time.monotonic() + READY_SECONDS
        last = None
        while True:
            if self._proc.poll() is not None:
                said = _tail(self.log_path, start=log_start)
                self._stopped()
                if "Address already in use" in said:
                    return "port-taken"
                raise DatabaseError(f"{self.kind} server {self.name} exited (code {self._proc_code}) while "
                                    f"starting; the end of its log {self.log_path}:\n{said}")
            try:
                # Ready when the admin socket answers: both servers listen on TCP before they make
                # their unix socket. (A TCP probe would log an aborted connection.) The file first:
                # PyMySQL leaks its socket when the file is not there yet.
                if self._socket_file.exists():
                    self._query("SELECT 1", None)
                    return "ready"
            except Exception as e:  # noqa: BLE001 - any failure here means "not yet"
                last = e
            if time.monotonic() > deadline:
                self.stop()
                raise DatabaseError(f"{self.kind} server {self.name} did not answer on {HOST}:{self.port} within "
                                    f"{READY_SECONDS} s (last error: {last}); the end of its log "
                                    f"{self.log_path}:\n{_tail(self.log_path, start=log_start)}")
            time.sleep(0.05)

    def _stopped(self) -> None:
        """Forget a process that has exited; close its log."""
        if self._proc is not None:
            self._proc_code = self._proc.poll()
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def _request_stop(self) -> None:
        """Ask the server to shut down, without waiting (stop_all stops all servers at once)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            # PostgreSQL: SIGINT is the fast shutdown (sessions ended, no waiting for clients).
            proc.send_signal(signal.SIGINT if self.kind == "postgres" else signal.SIGTERM)

    def stop(self) -> None:
        """Shut the server down and wait until it has exited: nothing listens on its port then.
        A no-op if it is not running; its data stays for start()."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            self._request_stop()
            try:
                proc.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                # Not yet reaped, so its pid (the group's id) cannot have been reused.
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            self._stopped()

    # ---- SQL
    def _query(self, sql: str, params: Sequence | None, as_a_new_session: bool = False) -> list[tuple]:
        if self.kind == "postgres":
            import psycopg
            # The superuser writes on a read-only server too (as MariaDB's root does); only
            # set_read_only's check sees what a new session of anyone else gets.
            options = "" if as_a_new_session else "-c default_transaction_read_only=off"
            with psycopg.connect(host=str(self.dir), port=self.port, user=PG_ADMIN, dbname="postgres",
                                 autocommit=True, connect_timeout=5, options=options) as conn:
                cur = conn.execute(sql, params)
                return cur.fetchall() if cur.description else []
        import pymysql
        conn = pymysql.connect(unix_socket=str(self.socket_path), user=_mariadb_admin(), autocommit=True,
                               connect_timeout=5)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall()) if cur.description else []
        finally:
            conn.close()

    def admin_query(self, sql: str, params: Sequence | None = None) -> list[tuple]:
        """Run one statement as the local superuser over the unix socket; its rows (or []). It may
        write while the server is read-only. params fill the driver's %s placeholders (none: the SQL is sent as it is); for
        PostgreSQL, sql may also be a psycopg.sql.Composable."""
        if not self.running:
            raise DatabaseError(f"{self.kind} server {self.name} is not running")
        return self._query(sql, params)

    def create_master_user(self, username: str, password: str) -> None:
        """Create the RDS master user, or set its password if it exists (idempotent).

        Its rights are RDS's: PostgreSQL LOGIN CREATEDB CREATEROLE (not SUPERUSER), and able to create
        tables in database `postgres`; MariaDB the RDS master grants on *.* WITH GRANT OPTION, from
        any host, without SUPER or READ ONLY ADMIN."""
        if not username:
            raise DatabaseError("the master username is empty")
        if self.kind == "postgres":
            from psycopg import sql
            if username == PG_ADMIN:
                raise DatabaseError(f"{PG_ADMIN!r} is reserved for the local superuser (as on RDS)")
            verb = "ALTER" if self.admin_query("SELECT 1 FROM pg_roles WHERE rolname = %s", [username]) else "CREATE"
            user = sql.Identifier(username)
            for stmt in [
                sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER CREATEDB CREATEROLE PASSWORD {}").format(user, sql.Literal(password)),
                sql.SQL("GRANT ALL ON DATABASE postgres TO {}").format(user),
                # PostgreSQL 15 no longer lets everyone create in schema public.
                sql.SQL("GRANT ALL ON SCHEMA public TO {}").format(user),
            ]:
                self.admin_query(stmt)
            return
        # With --skip-name-resolve and no anonymous users, '%' is what TCP from 127.0.0.1 matches.
        self.admin_query("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", [username, password])
        self.admin_query("ALTER USER %s@'%%' IDENTIFIED BY %s", [username, password])
        self.admin_query(f"GRANT {MARIADB_MASTER_PRIVILEGES} ON *.* TO %s@'%%' WITH GRANT OPTION", [username])

    def set_read_only(self, on: bool) -> None:
        """Make the server refuse writes (a read replica) or accept them again (promotion), for
        connections opened from now on; kept across stop()/start()."""
        with self._lock:
            if self.kind == "postgres":
                self.admin_query(f"ALTER SYSTEM SET default_transaction_read_only = {'on' if on else 'off'}")
                self.admin_query("SELECT pg_reload_conf()")
                # pg_reload_conf only signals the postmaster: wait until new sessions see the value.
                want = "on" if on else "off"
                deadline = time.monotonic() + 10
                while self._query("SHOW default_transaction_read_only", None, as_a_new_session=True)[0][0] != want:
                    if time.monotonic() > deadline:
                        raise DatabaseError(f"{self.name}: default_transaction_read_only did not become {want}")
                    time.sleep(0.02)
            else:
                self.admin_query(f"SET GLOBAL read_only = {'ON' if on else 'OFF'}")
            self._read_only = on


# ---- the set of servers of one stack

_LIVE: set["LocalServers"] = set()
_LIVE_LOCK = threading.Lock()
_OWNER_PID = os.getpid()


class LocalServers:
    """The database servers of one local stack. Logs go to work_dir/db-<name>.log; data dirs to a
    temp dir on /dev/shm if it is a roomy tmpfs, else inside work_dir (or the system temp dir, if
    the server users cannot reach work_dir or socket paths would be too long), removed by stop_all."""

    def __init__(self, work_dir: Path):
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.servers: list[LocalServer] = []
        self._base: Path | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> "LocalServers":
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()

    def _base_dir(self) -> Path:
        """The temp dir holding this set's data dirs, made on first use."""
        if self._base is None:
            parent = _fast_dir() or self.work_dir
            if ((os.geteuid() == 0 and not _traversable(parent))
                    or len(str(parent.resolve())) + SOCKET_PATH_OVERHEAD > SOCKET_PATH_LIMIT):
                parent = Path(tempfile.gettempdir())
            self._base = Path(tempfile.mkdtemp(prefix="lattice-db-", dir=parent))
            # x for others: the postgres/mysql users reach their own server dir inside.
            os.chmod(self._base, 0o711)
        return self._base

    def start(self, engine: str, name: str) -> LocalServer:
        """Start a server for an RDS engine name (a key of ENGINES), labelled `name`."""
        kind = ENGINES.get(engine)
        if kind is None:
            raise DatabaseError(f"unknown RDS engine {engine!r}; known: {', '.join(sorted(ENGINES))}")
        user = _system_user(kind)
        template = _TEMPLATES.get(kind)
        label = _sanitize(name)
        with self._lock:
            # Register first: a failure below still leaves the set for stop_all / atexit to clean.
            with _LIVE_LOCK:
                _LIVE.add(self)
            logs = {s.log_path for s in self.servers}
            log_path = self.work_dir / f"db-{label}.log"
            n = 2
            while log_path in logs:
                log_path = self.work_dir / f"db-{label}-{n}.log"
                n += 1
            server_dir = Path(tempfile.mkdtemp(prefix=f"{len(self.servers)}-{label[:20]}-", dir=self._base_dir()))
            server = LocalServer(kind, name, engine, server_dir, log_path, user)
            self.servers.append(server)
        (server_dir / "tmp").mkdir()
        # cp -a keeps the template's owner (the server's user) and modes, which PostgreSQL checks.
        r = subprocess.run(["cp", "-a", str(template), str(server.data_dir)], capture_output=True, text=True)
        if r.returncode != 0:
            raise DatabaseError(f"copying the {kind} template to {server.data_dir} failed: {r.stderr}")
        _own(server_dir / "tmp", user)
        _own(server_dir, user)
        server.start()
        return server

    def stop_all(self) -> None:
        """Stop every server started here and remove their data (idempotent)."""
        with self._lock:
            servers = list(self.servers)
            for s in servers:
                s._request_stop()  # all shut down in parallel; stop() below waits for each
            errors = []
            for s in servers:
                try:
                    s.stop()
                except Exception as e:  # noqa: BLE001 - still stop and remove the others
                    errors.append(f"{s.name}: {e}")
                s._removed = True
            if self._base is not None:
                shutil.rmtree(self._base, ignore_errors=True)
                self._base = None
            self.servers.clear()
            with _LIVE_LOCK:
                _LIVE.discard(self)
            if errors:
                raise DatabaseError("stopping servers failed: " + "; ".join(errors))


@atexit.register
def _stop_everything() -> None:
    """A server never outlives the process that started it, even if stop_all was not called."""
    if os.getpid() != _OWNER_PID:  # a forked child exiting must not stop its parent's servers
        return
    with _LIVE_LOCK:
        live = list(_LIVE)
    for servers in live:
        try:
            servers.stop_all()
        except Exception:  # noqa: BLE001 - exiting anyway
            pass
    _TEMPLATES.remove()
