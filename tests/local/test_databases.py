"""The local database servers that stand in for RDS instances (tests/local/databases.py): real
PostgreSQL and MariaDB, reached with the real clients (psycopg, PyMySQL, psql) as the master user.

    .venv/bin/python -m unittest tests/local/test_databases.py -v
"""

import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path
from unittest import mock

import psycopg
import pymysql

sys.path.insert(0, str(Path(__file__).resolve().parent))
import databases  # noqa: E402
from databases import DatabaseError, LocalServers  # noqa: E402

USER, PASSWORD = "admin", "s3cret-'quoted'"


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def processes_mentioning(text: str) -> list[int]:
    """Pids whose command line contains text (a server's data dir)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if text in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(proc.name))
            except OSError:
                pass
    return found


def process_uid(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))


class _ServerTests:
    """The same checks for each kind; subclasses say how to connect."""

    ENGINE: str
    KIND: str
    VERSION: str  # what SELECT version() starts with

    @classmethod
    def setUpClass(cls):
        cls.work_dir = Path(tempfile.mkdtemp(prefix="test-databases-"))
        cls.servers = LocalServers(cls.work_dir)

    @classmethod
    def tearDownClass(cls):
        cls.servers.stop_all()
        shutil.rmtree(cls.work_dir, ignore_errors=True)

    def start(self, name: str):
        server = self.servers.start(self.ENGINE, name)
        server.create_master_user(USER, PASSWORD)
        return server

    def connect(self, server, password=PASSWORD, user=USER):
        raise NotImplementedError

    def query(self, server, sql, password=PASSWORD):
        """Run sql in a new connection of the master user; its rows."""
        conn = self.connect(server, password)
        try:
            cur = conn.cursor()
            cur.execute(sql)
            rows = list(cur.fetchall()) if cur.description else []
            conn.commit()
            return rows
        finally:
            conn.close()

    def test_master_user_connects_over_tcp_and_writes(self):
        server = self.start("orders-db/primary")
        self.assertEqual(server.kind, self.KIND)
        self.assertEqual(server.host, "127.0.0.1")
        [(version,)] = self.query(server, "SELECT version()")
        self.assertTrue(version.startswith(self.VERSION), version)
        self.query(server, "CREATE TABLE orders (id INT PRIMARY KEY, item VARCHAR(20))")
        self.query(server, "INSERT INTO orders VALUES (1, 'book'), (2, 'pen')")
        self.assertEqual(self.query(server, "SELECT item FROM orders ORDER BY id"), [("book",), ("pen",)])
        # The log is named after the label, sanitized.
        log = self.work_dir / "db-orders-db_primary.log"
        self.assertEqual(server.log_path, log)
        self.assertGreater(log.stat().st_size, 0)

    def test_server_runs_as_its_system_user_when_root(self):
        server = self.start("owner")
        expected = os.getuid() if os.geteuid() != 0 else pwd.getpwnam(
            databases.SYSTEM_USERS[self.KIND]).pw_uid
        self.assertEqual(process_uid(server.pid), expected)

    def test_wrong_password_and_unknown_user_are_refused(self):
        server = self.start("auth")
        with self.assertRaises((psycopg.OperationalError, pymysql.err.OperationalError)) as e:
            self.connect(server, "wrong")
        self.assertRegex(str(e.exception), "password authentication failed|Access denied")
        with self.assertRaises((psycopg.OperationalError, pymysql.err.OperationalError)):
            self.connect(server, PASSWORD, user="nobody")

    def test_create_master_user_again_changes_the_password(self):
        server = self.start("rotate")
        server.create_master_user(USER, "new-password")
        self.assertEqual(self.query(server, "SELECT 1", password="new-password"), [(1,)])
        with self.assertRaises((psycopg.OperationalError, pymysql.err.OperationalError)):
            self.connect(server, PASSWORD)

    def test_master_user_is_not_a_superuser(self):
        server = self.start("rights")
        self.assertFalse(self.is_superuser(server))

    def test_read_only_refuses_the_master_users_writes_until_turned_off(self):
        server = self.start("replica")
        self.query(server, "CREATE TABLE t (id INT)")
        server.set_read_only(True)
        with self.assertRaises((psycopg.errors.ReadOnlySqlTransaction, pymysql.err.OperationalError)) as e:
            self.query(server, "INSERT INTO t VALUES (1)")
        self.assertRegex(str(e.exception), "read-only")
        self.assertEqual(self.query(server, "SELECT count(*) FROM t"), [(0,)])
        # The local superuser still writes (what replication would bring), and a new master user
        # can be made on a replica.
        server.admin_query(self.ADMIN_INSERT)
        server.create_master_user("other", "pw")
        self.assertEqual(self.query(server, "SELECT id FROM t"), [(9,)])
        # A replica restarted is still a replica.
        server.stop()
        server.start()
        with self.assertRaises((psycopg.errors.ReadOnlySqlTransaction, pymysql.err.OperationalError)):
            self.query(server, "INSERT INTO t VALUES (1)")
        server.set_read_only(False)  # promotion
        self.query(server, "INSERT INTO t VALUES (2)")
        self.assertEqual(self.query(server, "SELECT id FROM t ORDER BY id"), [(2,), (9,)])

    def test_stop_refuses_connections_and_start_brings_back_the_same_port_and_data(self):
        server = self.start("restart")
        self.query(server, "CREATE TABLE kept (id INT)")
        self.query(server, "INSERT INTO kept VALUES (7)")
        port, pid = server.port, server.pid
        server.stop()
        self.assertFalse(server.running)
        self.assertFalse(alive(pid))
        self.assertTrue(refused(port))
        with self.assertRaises((psycopg.OperationalError, pymysql.err.OperationalError)):
            self.connect(server)
        with self.assertRaises(DatabaseError):
            server.admin_query("SELECT 1")
        server.stop()  # idempotent
        server.start()
        self.assertTrue(server.running)
        self.assertEqual(server.port, port)
        self.assertEqual(self.query(server, "SELECT id FROM kept"), [(7,)])
        pid = server.pid
        server.start()  # idempotent: the same process
        self.assertEqual(server.pid, pid)

    def test_stop_all_leaves_no_process_and_no_data(self):
        work = Path(tempfile.mkdtemp(prefix="test-databases-stop-all-"))
        self.addCleanup(shutil.rmtree, work, ignore_errors=True)
        servers = LocalServers(work)
        a = servers.start(self.ENGINE, "a")
        b = servers.start(self.ENGINE, "b")
        pids, dirs, ports = [a.pid, b.pid], [a.dir, b.dir], [a.port, b.port]
        self.assertNotEqual(ports[0], ports[1])
        for d in dirs:
            self.assertTrue((d / "data").is_dir())
            self.assertTrue(processes_mentioning(str(d)))
        servers.stop_all()
        for pid, d, port in zip(pids, dirs, ports):
            self.assertFalse(alive(pid))
            self.assertFalse(d.exists())
            self.assertEqual(processes_mentioning(str(d)), [])
            self.assertTrue(refused(port))
        servers.stop_all()  # idempotent
        with self.assertRaises(DatabaseError):
            a.start()

    def test_starts_are_fast_once_the_template_exists(self):
        self.start("warm-up")
        times = [self.servers.start(self.ENGINE, f"fast-{i}").start_seconds for i in range(3)]
        print(f"\n{self.KIND} start seconds: {', '.join(f'{t:.2f}' for t in times)}", file=sys.stderr)
        self.assertLess(max(times), 2.0)


class PostgresServer(_ServerTests, unittest.TestCase):
    ENGINE, KIND, VERSION = "postgres", "postgres", "PostgreSQL 15."
    ADMIN_INSERT = "INSERT INTO t VALUES (9)"

    def connect(self, server, password=PASSWORD, user=USER):
        return psycopg.connect(host="127.0.0.1", port=server.port, user=user, password=password,
                               dbname="postgres", connect_timeout=5)

    def is_superuser(self, server):
        [(superuser, createdb, createrole)] = server.admin_query(
            "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = %s", [USER])
        self.assertTrue(createdb and createrole)
        return superuser

    def test_psql_logs_in_with_the_password_only(self):
        server = self.start("psql")
        psql = shutil.which("psql") or str(databases._postgres_bin_dir() / "psql")
        cmd = [psql, "-h", "127.0.0.1", "-p", str(server.port), "-U", USER, "-d", "postgres", "-Atc", "select 1"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        ok = subprocess.run(cmd, env={**env, "PGPASSWORD": PASSWORD}, capture_output=True, text=True, timeout=30)
        self.assertEqual((ok.returncode, ok.stdout.strip()), (0, "1"), ok.stderr)
        bad = subprocess.run(cmd + ["-w"], env={**env, "PGPASSWORD": "wrong"}, capture_output=True, text=True, timeout=30)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("password authentication failed", bad.stderr)

    def test_the_master_user_can_create_databases_and_roles(self):
        server = self.start("createdb")
        conn = self.connect(server)
        conn.autocommit = True
        conn.execute("CREATE DATABASE app")
        conn.execute("CREATE ROLE reader LOGIN PASSWORD 'r'")
        conn.close()
        self.assertEqual(server.admin_query("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app'"),
                         [(USER,)])

    def test_the_local_superuser_name_is_reserved(self):
        server = self.start("reserved")
        with self.assertRaises(DatabaseError):
            server.create_master_user(databases.PG_ADMIN, "x")


class MariaDBServer(_ServerTests, unittest.TestCase):
    ENGINE, KIND, VERSION = "mysql", "mariadb", "10.11."
    ADMIN_INSERT = "INSERT INTO app.t VALUES (9)"

    def connect(self, server, password=PASSWORD, user=USER):
        return pymysql.connect(host="127.0.0.1", port=server.port, user=user, password=password,
                               database="mysql", connect_timeout=5)

    def query(self, server, sql, password=PASSWORD):
        # The master user's own database for the tables (RDS's DBName).
        server.admin_query("CREATE DATABASE IF NOT EXISTS app")
        conn = pymysql.connect(host="127.0.0.1", port=server.port, user=USER, password=password,
                               database="app", connect_timeout=5)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                rows = list(cur.fetchall()) if cur.description else []
            conn.commit()
            return rows
        finally:
            conn.close()

    def is_superuser(self, server):
        grants = " ".join(g for (g,) in server.admin_query("SHOW GRANTS FOR %s@'%%'", [USER]))
        self.assertIn("CREATE USER", grants)
        self.assertIn("WITH GRANT OPTION", grants)
        return "SUPER" in grants or "READ ONLY ADMIN" in grants or "ALL PRIVILEGES" in grants

    def test_no_anonymous_users_and_root_only_on_the_socket(self):
        server = self.start("accounts")
        users = server.admin_query("SELECT user, host FROM mysql.user")
        self.assertNotIn("", [u for u, _ in users])
        self.assertEqual(sorted(h for u, h in users if u == "root"), ["localhost"])
        with self.assertRaises(pymysql.err.OperationalError):
            pymysql.connect(host="127.0.0.1", port=server.port, user="root", password="", connect_timeout=5)

    def test_aurora_mysql_is_a_mariadb_server(self):
        server = self.servers.start("aurora-mysql", "aurora")
        self.assertEqual(server.kind, "mariadb")
        self.assertIn("MariaDB", server.admin_query("SELECT version()")[0][0])


class Module(unittest.TestCase):
    def test_engines_map_rds_engines_to_server_kinds(self):
        self.assertEqual(databases.ENGINES["aurora-postgresql"], "postgres")
        self.assertEqual(databases.ENGINES["mariadb"], "mariadb")

    def test_an_unknown_engine_is_named(self):
        with tempfile.TemporaryDirectory() as work:
            with LocalServers(Path(work)) as servers:
                with self.assertRaisesRegex(DatabaseError, "'oracle-ee'"):
                    servers.start("oracle-ee", "x")

    def test_versions_are_read_from_the_binaries(self):
        v = databases.versions()
        self.assertRegex(v["postgres"], r"^15\.\d+$")
        self.assertRegex(v["mariadb"], r"^10\.11\.\d+$")

    def test_a_missing_binary_is_named_with_the_setup_hint(self):
        with mock.patch.object(databases.shutil, "which", return_value=None), \
                mock.patch.object(databases.glob, "glob", return_value=[]):
            with self.assertRaisesRegex(DatabaseError, r"postgres.*\./scripts/setup\.sh installs it"):
                databases.versions()
        with mock.patch.object(databases.shutil, "which",
                               side_effect=lambda name, path=None: None if name == "mariadbd" else "/usr/bin/" + name):
            with self.assertRaisesRegex(DatabaseError, r"mariadbd.*\./scripts/setup\.sh installs it"):
                databases.versions()

    def test_servers_of_both_kinds_start_in_parallel(self):
        import concurrent.futures
        with tempfile.TemporaryDirectory() as work:
            with LocalServers(Path(work)) as servers:
                t0 = time.monotonic()
                with concurrent.futures.ThreadPoolExecutor(4) as pool:
                    started = list(pool.map(lambda e: servers.start(e[0], e[1]),
                                            [("postgres", "p1"), ("postgres", "p2"), ("mysql", "m1"), ("mariadb", "m2")]))
                took = time.monotonic() - t0
                self.assertEqual(len({s.port for s in started}), 4)
                for s in started:
                    self.assertEqual(s.admin_query("SELECT 1"), [(1,)])
                print(f"\nfour servers in parallel: {took:.2f} s", file=sys.stderr)
            for s in started:
                self.assertFalse(s.running)

    def test_without_a_roomy_tmpfs_data_dirs_go_to_the_disk(self):
        with tempfile.TemporaryDirectory() as work, mock.patch.object(databases, "_fast_dir", return_value=None):
            with LocalServers(Path(work)) as servers:
                server = servers.start("mysql", "on-disk")
                self.assertFalse(str(server.dir).startswith(str(databases.FAST_DIR) + "/"), server.dir)
                # As root, the mysql user cannot reach a 0700 work dir: then the system temp dir.
                parent = Path(tempfile.gettempdir()) if os.geteuid() == 0 else Path(work)
                self.assertEqual(server.dir.parent.parent, parent.resolve())
                self.assertEqual(server.admin_query("SELECT 1"), [(1,)])
            self.assertFalse(server.dir.exists())

    def test_servers_do_not_outlive_a_process_that_never_called_stop_all(self):
        child = (
            "import json, sys, tempfile\n"
            f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
            "from pathlib import Path\n"
            "import databases\n"
            "servers = databases.LocalServers(Path(sys.argv[1]))\n"
            "started = [servers.start(e, e) for e in ('postgres', 'mysql')]\n"
            "print(json.dumps([[s.pid, str(s.dir), s.port] for s in started]))\n")
        with tempfile.TemporaryDirectory() as work:
            out = subprocess.run([sys.executable, "-c", child, work], capture_output=True, text=True, timeout=120)
            self.assertEqual(out.returncode, 0, out.stderr)
            started = json.loads(out.stdout)
        self.assertEqual(len(started), 2)
        for pid, d, port in started:
            self.assertFalse(alive(pid))
            self.assertFalse(Path(d).exists())
            self.assertEqual(processes_mentioning(d), [])
            self.assertTrue(refused(port))


if __name__ == "__main__":
    unittest.main()
