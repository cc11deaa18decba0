"""The local data path (issue 13): real database servers standing in for moto's RDS instances,
client hosts that are ENIs in moto, and the emulator's Lattice data plane between them.

A client connects to an association's DNS name; the stack's resolver map says which loopback
address that name has *for that client* (in AWS, the name resolves to addresses in the client's
VPC), so the emulator knows who connects, and from that ENI, which security groups apply.

    stack = LocalStack(); ...provision...
    dp = stack.datapath()
    primary = dp.attach("orders-db", "10.0.1.10")          # the server behind the RDS endpoint
    app = dp.client(ids["clientSubnet"], [client_sg])       # an ENI in the client VPC
    conn = app.connect(dns_name, 3306, *dp.credentials("orders-db"))
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

import psycopg
import pymysql

from databases import ENGINES, LocalServer, LocalServers


# How a refused connection's exception is annotated (`ClientHost.connect`).
REFUSED = "data plane: refused: "


class DataPathError(RuntimeError):
    pass


@dataclass
class Attached:
    identifier: str
    engine: str
    endpoint: str
    port: int
    ip: str
    server: LocalServer


class ClientHost:
    """A host in a client VPC: an ENI in moto (its subnet, IP and security groups are moto's)."""

    def __init__(self, dp: "DataPath", eni: str, ip: str):
        self.dp, self.eni, self.ip = dp, eni, ip

    def resolve(self, dns_name: str) -> str:
        """The loopback address `dns_name` resolves to for this host (DataPathError if none)."""
        for e in self.dp.state()["endpoints"]:
            if e["client"] == self.eni and e["dnsName"] == dns_name.lower():
                return e["address"]
        raise DataPathError(f"{dns_name} does not resolve for {self.eni}: no ACTIVE association by that name")

    def connect(self, dns_name: str, port: int, user: str, password: str, engine: str, timeout: int = 3):
        """A real client connection (psycopg or PyMySQL) through the emulated Lattice path."""
        address = self.resolve(dns_name)
        seen = len(self.dp.log())
        try:
            if ENGINES[engine] == "postgres":
                # libpq: `host` is the name (as a client would use it), `hostaddr` where it resolved.
                return psycopg.connect(host=dns_name, hostaddr=address, port=port, user=user, password=password,
                                       dbname="postgres", connect_timeout=timeout, autocommit=True)
            return pymysql.connect(host=address, port=port, user=user, password=password,
                                   connect_timeout=timeout, autocommit=True)
        except Exception as e:
            # Say why the path refused it, if it did (the caller then sees the reason, not just a reset).
            reasons = self.dp.refusals(since=seen)
            if reasons:
                e.add_note(f"{REFUSED}{reasons[-1]}")
            raise

    def psql(self, dns_name: str, port: int, user: str, password: str, sql: str) -> subprocess.CompletedProcess:
        """The real `psql` through the same path."""
        conninfo = f"host={dns_name} hostaddr={self.resolve(dns_name)} port={port} user={user} dbname=postgres connect_timeout=3"
        return subprocess.run(["psql", conninfo, "-Atc", sql], env={"PGPASSWORD": password, "PATH": "/usr/bin:/bin"},
                              capture_output=True, text=True, timeout=30)


def server_port(conn) -> int:
    """Which server answered: its own port (each local server has its own)."""
    with conn.cursor() as cur:
        if isinstance(conn, psycopg.Connection):
            cur.execute("SHOW port")
        else:
            cur.execute("SELECT @@port")
        return int(cur.fetchone()[0])


class DataPath:
    def __init__(self, stack):
        self.stack = stack
        self.servers = LocalServers(stack.log_dir)
        self.attached: dict[tuple[str, str], Attached] = {}

    def close(self) -> None:
        self.servers.stop_all()

    def emu(self, route: str, body: dict | None = None):
        return self.stack.emu("dataplane" + (f"/{route}" if route else ""), body)

    def state(self) -> dict:
        return self.emu("")

    def sync(self) -> dict:
        """Applies what changed in moto and the Lattice state now (it also happens every 250 ms)."""
        return self.emu("sync", {})

    def log(self) -> list[dict]:
        return self.state()["log"]

    def refusals(self, since: int = 0) -> list[str]:
        """The reasons of the refusals logged from entry `since` on."""
        return [e["reason"] for e in self.log()[since:] if e["outcome"] == "refused"]

    def credentials(self, identifier: str) -> tuple[str, str]:
        """The master user and password, read as an application does: the instance names the
        secret RDS manages, and Secrets Manager holds the value."""
        d = self.stack.client("rds").describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
        arn = d["MasterUserSecret"]["SecretArn"]
        secret = json.loads(self.stack.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])
        return secret["username"], secret["password"]

    def attach(self, identifier: str, ip: str, role: str = "primary", server: LocalServer | None = None,
               read_only: bool = False) -> LocalServer:
        """A local server for moto's instance `identifier`, at `ip` in the database VPC. The
        primary is what the RDS endpoint resolves to; a Multi-AZ standby (`role="standby"`) only
        takes over at `failover`."""
        d = self.stack.client("rds").describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
        engine, endpoint, port = d["Engine"], d["Endpoint"]["Address"], d["Endpoint"]["Port"]
        if engine not in ENGINES:
            raise DataPathError(f"{identifier} runs {engine}: no local server for it")
        server = server or self.servers.start(engine, f"{identifier}-{role}")
        # A read replica has its source's users (replication copies them), whatever secret moto
        # names for it.
        user, password = self.credentials(d.get("ReadReplicaSourceDBInstanceIdentifier") or identifier)
        server.create_master_user(user, password)
        server.set_read_only(read_only)
        self.emu("network", {"ip": ip, "port": port, "address": f"{server.host}:{server.port}",
                             "dbInstanceIdentifier": identifier})
        if role == "primary":
            self.emu("hosts", {"name": endpoint, "ip": ip})
        self.attached[(identifier, role)] = Attached(identifier, engine, endpoint, port, ip, server)
        return server

    def failover(self, identifier: str) -> None:
        """A Multi-AZ failover: moto is told, the endpoint now resolves to the standby's address,
        and the old primary stops accepting connections."""
        old, new = self.attached[(identifier, "primary")], self.attached[(identifier, "standby")]
        self.stack.client("rds").reboot_db_instance(DBInstanceIdentifier=identifier, ForceFailover=True)
        self.emu("hosts", {"name": old.endpoint, "ip": new.ip})
        old.server.stop()
        self.attached[(identifier, "primary")], self.attached[(identifier, "standby")] = new, old

    def client(self, subnet_id: str, groups: list[str], name: str = "app") -> ClientHost:
        """A client host: a new ENI in `subnet_id` carrying `groups`, registered with the data plane."""
        eni = self.stack.client("ec2").create_network_interface(
            SubnetId=subnet_id, Groups=groups, Description=f"local client {name}")["NetworkInterface"]
        self.emu("clients", {"networkInterfaceId": eni["NetworkInterfaceId"]})
        self.sync()
        return ClientHost(self, eni["NetworkInterfaceId"], eni["PrivateIpAddress"])
