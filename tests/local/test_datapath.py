"""The data path (issue 13): real clients (psycopg, PyMySQL, psql) reach real databases (PostgreSQL,
MariaDB) through the emulated VPC Lattice, by the association's DNS name, with the password from
Secrets Manager; security groups decide on every hop; failovers move new connections.

    .venv/bin/python -m unittest tests/local/test_datapath.py -v      (after cargo build --workspace)
"""

import copy
import json
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datapath import REFUSED, server_port  # noqa: E402
from stack import ROOT, LocalStack  # noqa: E402
from test_failover import event  # noqa: E402  (the AWS-documented RDS event shapes)

PRIMARY_IP, STANDBY_IP, REPLICA_IP = "10.0.1.10", "10.0.2.20", "10.0.2.30"


def provision_input(**changes) -> dict:
    doc = json.loads((ROOT / "events" / "provision.json").read_text())
    doc.update(changes)
    return doc


def engine(name: str) -> dict:
    return {"create": {"engine": name, "instanceClass": "db.t3.micro", "allocatedStorage": 20, "multiAz": True}}


class DataPathCase(unittest.TestCase):
    def provision(self, stack, doc, name="provision"):
        code, out, err, _ = stack.run(doc, name=name, quiet=True)
        self.assertEqual(code, 0, err[-3000:])
        return out

    def client_sg(self, out) -> str:
        return out["resources"]["clientSecurityGroups"][0]["securityGroupId"]

    def refused(self, fn, expect: str):
        """`fn` fails to connect, and the data plane's log says why (names `expect`): the reason
        logged for it, which `ClientHost.connect` attaches to the exception."""
        with self.assertRaises(Exception) as raised:
            fn().close()
        reasons = [n.removeprefix(REFUSED) for n in getattr(raised.exception, "__notes__", []) if n.startswith(REFUSED)]
        self.assertTrue(reasons and expect in reasons[-1], f"wanted {expect!r} in {reasons} ({raised.exception!r})")
        return reasons[-1]

    def query_version(self, conn) -> str:
        with conn.cursor() as cur:
            cur.execute("SELECT version()")
            return cur.fetchone()[0]


class Modes(DataPathCase):
    def test_connect_and_query_by_the_dns_name_in_dns_ip_and_arn_modes_for_postgres_and_mysql(self):
        with LocalStack() as stack:
            servers = {}
            for eng in ("postgres", "mysql"):
                for mode in ("dns", "ip", "arn"):
                    with self.subTest(engine=eng, mode=mode):
                        stack.reset()
                        ids = stack.create_prerequisites()
                        extra = {"ipAddress": PRIMARY_IP} if mode == "ip" else {}
                        out = self.provision(stack, provision_input(database=engine(eng), mode=mode, **extra),
                                             name=f"{eng}-{mode}")
                        dp = stack.datapath()
                        ident = out["database"]["identifier"]
                        servers[eng] = dp.attach(ident, PRIMARY_IP, server=servers.get(eng))
                        app = dp.client(ids["clientSubnet"], [self.client_sg(out)])
                        user, password = dp.credentials(ident)
                        conn = app.connect(out["dnsName"], out["port"], user, password, eng)
                        version = self.query_version(conn)
                        self.assertIn("PostgreSQL" if eng == "postgres" else "MariaDB", version)
                        self.assertEqual(server_port(conn), servers[eng].port, "the server behind the endpoint")
                        conn.close()
                        [fwd] = [e for e in dp.log() if e["outcome"] == "forwarded"]
                        self.assertEqual((fwd["target"], fwd["database"]), (f"{PRIMARY_IP}:{out['port']}", ident))
                        if eng == "postgres" and mode == "dns":
                            done = app.psql(out["dnsName"], out["port"], user, password, "SELECT version()")
                            self.assertEqual(done.returncode, 0, done.stderr)
                            self.assertIn("PostgreSQL", done.stdout)
                        # The wrong password is the database's refusal, not the path's.
                        with self.assertRaises(Exception):
                            app.connect(out["dnsName"], out["port"], user, password + "x", eng).close()
                        # A port the configuration does not name is not listened on.
                        with self.assertRaises(OSError):
                            import socket
                            socket.create_connection((app.resolve(out["dnsName"]), out["port"] + 1), timeout=2)


class SecurityGroups(DataPathCase):
    def test_rules_decide_and_the_log_names_the_missing_one(self):
        with LocalStack() as stack:
            ids = stack.create_prerequisites()
            # No allowedCidrs: only the client SG is admitted by the association's SG.
            doc = provision_input(clientVpcs=[{"name": "client-vpc"}])
            out = self.provision(stack, doc)
            dp = stack.datapath()
            ident, port, dns = out["database"]["identifier"], out["port"], out["dnsName"]
            dp.attach(ident, PRIMARY_IP)
            user, password = dp.credentials(ident)
            app = dp.client(ids["clientSubnet"], [self.client_sg(out)], name="app")
            other = dp.client(ids["clientSubnet"], [ids["appSecurityGroup"]], name="other")
            app.connect(dns, port, user, password, "mysql").close()
            self.refused(lambda: other.connect(dns, port, user, password, "mysql"),
                         "the service network VPC association's security group(s)")

            # The recipe's rule: DB SG ingress from itself instead of from the gateway SG.
            ec2 = stack.client("ec2")
            db_sg, gw_sg = out["resources"]["databaseSecurityGroupId"], out["resources"]["gatewaySecurityGroupId"]
            rule = lambda src: [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port,  # noqa: E731
                                 "UserIdGroupPairs": [{"GroupId": src}]}]
            [from_gw] = [r["SecurityGroupRuleId"] for r in ec2.describe_security_group_rules(
                Filters=[{"Name": "group-id", "Values": [db_sg]}])["SecurityGroupRules"]
                if not r["IsEgress"] and r.get("ReferencedGroupInfo", {}).get("GroupId") == gw_sg]
            ec2.revoke_security_group_ingress(GroupId=db_sg, SecurityGroupRuleIds=[from_gw])
            ec2.authorize_security_group_ingress(GroupId=db_sg, IpPermissions=rule(db_sg))
            dp.sync()
            reason = self.refused(lambda: app.connect(dns, port, user, password, "mysql"),
                                  f"allow no ingress on tcp/{port} from security group(s) {gw_sg}")
            self.assertIn(db_sg, reason)

            # A re-run puts the rule back (and removes the recipe's) and the path opens again.
            again = self.provision(stack, doc, name="rerun")
            self.assertIn(f"{db_sg}: added ingress tcp {port} from {gw_sg}",
                          again["changes"]["securityGroupRules"]["databaseNetwork"])
            dp.sync()
            app.connect(dns, port, user, password, "mysql").close()

            # The gateway's egress, and the client's own egress, count too.
            [to_db] = [r["SecurityGroupRuleId"] for r in ec2.describe_security_group_rules(
                Filters=[{"Name": "group-id", "Values": [gw_sg]}])["SecurityGroupRules"] if r["IsEgress"]]
            ec2.revoke_security_group_egress(GroupId=gw_sg, SecurityGroupRuleIds=[to_db])
            dp.sync()
            self.refused(lambda: app.connect(dns, port, user, password, "mysql"),
                         f"the resource gateway's security group(s) {gw_sg} allow no egress on tcp/{port}")
            self.provision(stack, doc, name="rerun-2")
            client_sg = self.client_sg(out)
            prefix_list = stack.client("ec2").describe_security_groups(GroupIds=[client_sg])["SecurityGroups"][0][
                "IpPermissionsEgress"][0]["PrefixListIds"][0]["PrefixListId"]
            [to_lattice] = [r["SecurityGroupRuleId"] for r in ec2.describe_security_group_rules(
                Filters=[{"Name": "group-id", "Values": [client_sg]}])["SecurityGroupRules"]
                if r["IsEgress"] and r.get("PrefixListId") == prefix_list]
            ec2.revoke_security_group_egress(GroupId=client_sg, SecurityGroupRuleIds=[to_lattice])
            dp.sync()
            self.refused(lambda: app.connect(dns, port, user, password, "mysql"),
                         f"the client's security group(s) {client_sg} allow no egress on tcp/{port}")

            # An allowed CIDR admits a client from it that does not carry the client SG.
            with_cidr = provision_input(clientVpcs=[{"name": "client-vpc", "allowedCidrs": ["10.1.1.0/24"]}])
            self.provision(stack, with_cidr, name="with-cidr")
            dp.sync()
            self.assertTrue(other.ip.startswith("10.1.1."))
            other.connect(dns, port, user, password, "mysql").close()
            # ... and a client outside it is not.
            ec2.create_subnet(VpcId=ids["clientVpc"], CidrBlock="10.1.2.0/24", AvailabilityZone="us-east-1b")
            subnet = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"] if s["CidrBlock"] == "10.1.2.0/24"][0]
            outside = dp.client(subnet, [ids["appSecurityGroup"]], name="outside")
            self.refused(lambda: outside.connect(dns, port, user, password, "mysql"),
                         f"a CIDR covering {outside.ip}/32")


class Failover(DataPathCase):
    def test_multi_az_failover_in_dns_mode_moves_new_connections_without_a_repoint(self):
        with LocalStack() as stack:
            ids = stack.create_prerequisites()
            out = self.provision(stack, provision_input(database=engine("postgres")))
            dp = stack.datapath()
            ident, port, dns = out["database"]["identifier"], out["port"], out["dnsName"]
            primary = dp.attach(ident, PRIMARY_IP)
            standby = dp.attach(ident, STANDBY_IP, role="standby")
            app = dp.client(ids["clientSubnet"], [self.client_sg(out)])
            user, password = dp.credentials(ident)
            before = app.connect(dns, port, user, password, "postgres")
            self.assertEqual(server_port(before), primary.port)
            dp.failover(ident)
            after = app.connect(dns, port, user, password, "postgres")
            self.assertEqual(server_port(after), standby.port, "new connections reach the new primary")
            self.assertEqual([c for c in stack.emu("calls") if c["op"] == "UpdateResourceConfiguration"], [],
                             "no repoint was needed")
            after.close()
            with self.assertRaises(Exception):
                server_port(before)  # the old primary went away with its connections

    def test_ip_mode_is_refused_until_the_failover_lambda_repoints_then_the_standby_answers(self):
        with LocalStack() as stack:
            ids = stack.create_prerequisites()
            out = self.provision(stack, provision_input(mode="ip", ipAddress=PRIMARY_IP))
            dp = stack.datapath()
            ident, port, dns = out["database"]["identifier"], out["port"], out["dnsName"]
            dp.attach(ident, PRIMARY_IP)
            standby = dp.attach(ident, STANDBY_IP, role="standby")
            app = dp.client(ids["clientSubnet"], [self.client_sg(out)])
            user, password = dp.credentials(ident)
            app.connect(dns, port, user, password, "mysql").close()
            dp.failover(ident)
            self.refused(lambda: app.connect(dns, port, user, password, "mysql"),
                         f"the database at {PRIMARY_IP}:{port} ({ident}) does not accept connections")
            ev = event("instance-failover-completed-0049.json", ident)
            [result] = stack.invoke("failover", [ev], name="failover",
                                    extra_env={"LATTICE_DB_ACCESS_RESOLVE": json.dumps(
                                        {out["database"]["endpoint"]: STANDBY_IP})})
            self.assertTrue(result["ok"], result)
            self.assertEqual([r["outcome"] for r in result["output"]["results"]], ["repointed"])
            conn = app.connect(dns, port, user, password, "mysql")
            self.assertEqual(server_port(conn), standby.port, "the standby answers after the repoint")
            conn.close()

    def test_a_promoted_standby_takes_writes_through_the_same_dns_name(self):
        with LocalStack() as stack:
            ids = stack.create_prerequisites()
            out = self.provision(stack, provision_input(standby={"instanceIdentifier": "orders-replica"}))
            dp = stack.datapath()
            ident, port, dns = out["database"]["identifier"], out["port"], out["dnsName"]
            primary = dp.attach(ident, PRIMARY_IP)
            rds = stack.client("rds")
            rds.create_db_instance_read_replica(DBInstanceIdentifier="orders-replica", SourceDBInstanceIdentifier=ident)
            replica = dp.attach("orders-replica", REPLICA_IP, read_only=True)
            app = dp.client(ids["clientSubnet"], [self.client_sg(out)])
            user, password = dp.credentials(ident)
            with app.connect(dns, port, user, password, "mysql") as conn, conn.cursor() as cur:
                cur.execute("CREATE DATABASE app")
                cur.execute("CREATE TABLE app.orders (id INT PRIMARY KEY)")
            # The primary is lost; the replica is promoted (moto, and the server takes writes).
            rds.promote_read_replica(DBInstanceIdentifier="orders-replica")
            replica.set_read_only(False)
            primary.stop()
            rds.modify_db_instance(DBInstanceIdentifier=ident, DeletionProtection=False, ApplyImmediately=True)
            rds.delete_db_instance(DBInstanceIdentifier=ident, SkipFinalSnapshot=True)
            [result] = stack.invoke("failover", [event("instance-standby-promoted-0015.json", ident)], name="promoted")
            self.assertEqual([r["outcome"] for r in result["output"]["results"]], ["repointed"], result)
            # The application still has the login it read before (the replica has the same users).
            with app.connect(dns, port, user, password, "mysql") as conn, conn.cursor() as cur:
                self.assertEqual(server_port(conn), replica.port)
                # No replication locally: the schema is made again on the promoted server.
                cur.execute("CREATE DATABASE IF NOT EXISTS app")
                cur.execute("CREATE TABLE IF NOT EXISTS app.orders (id INT PRIMARY KEY)")
                cur.execute("INSERT INTO app.orders VALUES (1)")
                cur.execute("SELECT COUNT(*) FROM app.orders")
                self.assertEqual(cur.fetchone()[0], 1, "the write landed on the promoted database")


class Teardown(DataPathCase):
    def test_connections_are_refused_after_teardown(self):
        with LocalStack() as stack:
            ids = stack.create_prerequisites()
            out = self.provision(stack, provision_input())
            dp = stack.datapath()
            ident, port, dns = out["database"]["identifier"], out["port"], out["dnsName"]
            dp.attach(ident, PRIMARY_IP)
            # Admitted by the input's allowed CIDR: a host carrying the client SG would (rightly) keep
            # teardown from deleting that SG.
            app = dp.client(ids["clientSubnet"], [ids["appSecurityGroup"]])
            user, password = dp.credentials(ident)
            address = app.resolve(dns)
            app.connect(dns, port, user, password, "mysql").close()
            code, _, err, _ = stack.run({**out, "skipFinalSnapshot": True}, definition="statemachine/teardown.asl.json",
                                        name="teardown", quiet=True)
            self.assertEqual(code, 0, err[-3000:])
            dp.sync()
            import socket
            with self.assertRaises(ConnectionRefusedError):
                socket.create_connection((address, port), timeout=2)
            with self.assertRaises(Exception):
                app.resolve(dns)


if __name__ == "__main__":
    unittest.main()
