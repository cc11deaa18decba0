"""Run the provisioning workflow on the local AWS stack through the real CLI (`lattice-db-access`
provision, connect, doctor), query the real database through the emulated Lattice path by the
association's DNS name, fail the database over and show new connections move, then tear down.

    ./scripts/local-run.sh            (installs what is missing, builds, then runs this)
"""

import json
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import LocalStack, StackError  # noqa: E402


def main() -> int:
    started = time.time()
    try:
        with LocalStack(polls_to_active=2) as stack:
            print(f"==> local AWS: moto {stack.moto_url}, VPC Lattice + CloudWatch emulator {stack.emulator_url}", file=sys.stderr)
            ids = stack.create_prerequisites()
            print(f"==> prerequisites: database VPC {ids['databaseVpc']} (private subnets in us-east-1a/b), "
                  f"client VPC {ids['clientVpc']}", file=sys.stderr)
            print(f"==> the CLI against the local Step Functions API ({stack.start_sfn()})", file=sys.stderr)
            for args in (["provision", "events/provision.json"], ["connect", "orders"], ["doctor", "orders"]):
                print(f"\n==> lattice-db-access {' '.join(args)}", file=sys.stderr)
                done = stack.cli(*args)
                sys.stderr.write(done.stderr)
                print(done.stdout.rstrip())
                if done.returncode != 0:
                    print(f"\nexited {done.returncode}; logs in {stack.log_dir}", file=sys.stderr)
                    return done.returncode
            out = json.loads(stack.cli("--output", "json", "connect", "orders").stdout)
            dp = stack.datapath()
            print("\n==> the data path: MariaDB servers stand in for orders-db (primary at 10.0.1.10, "
                  "Multi-AZ standby at 10.0.2.20); an application host in the client VPC carries the client SG",
                  file=sys.stderr)
            primary = dp.attach("orders-db", "10.0.1.10")
            standby = dp.attach("orders-db", "10.0.2.20", role="standby")
            [(_vpc, client_sg)] = out["clientSecurityGroups"]
            app = dp.client(ids["clientSubnet"], [client_sg])
            user, password = dp.credentials("orders-db")  # from Secrets Manager, as the application does

            def query(label: str) -> None:
                conn = app.connect(out["dnsName"], out["port"], user, password, "mysql")
                with conn.cursor() as cur:
                    cur.execute("SELECT version(), @@port")
                    version, port = cur.fetchone()
                conn.close()
                which = {primary.port: "the primary", standby.port: "the standby"}.get(port, "?")
                print(f"    {label}: SELECT version() -> {version}  (answered by {which}, server port {port})")

            print(f"\n==> {app.ip} ({app.eni}) connects to {out['dnsName']}:{out['port']} with the secret's password",
                  file=sys.stderr)
            query("before the failover")
            print("\n==> failover: Multi-AZ failover of orders-db, RDS-EVENT-0049 delivered to the failover Lambda", file=sys.stderr)
            dp.failover("orders-db")  # moto is told; the endpoint now resolves to the standby
            from test_failover import event  # noqa: E402  (the AWS-documented event shape)
            [res] = stack.invoke("failover", [event("instance-failover-completed-0049.json", "orders-db")], name="failover")
            if not res["ok"]:
                print(f"failover handler failed: {res['errorType']}: {res['errorMessage']}", file=sys.stderr)
                return 1
            for r in res["output"]["results"]:
                print(f"    {r['resourceConfigurationId']} ({r['mode']}): {r['outcome']} - {r['reason']}", file=sys.stderr)
            dp.sync()
            query("after the failover")
            address = app.resolve(out["dnsName"])
            # The application host goes away: its ENI carries the client SG, which teardown deletes.
            stack.client("ec2").delete_network_interface(NetworkInterfaceId=app.eni)
            print("\n==> lattice-db-access teardown orders --yes --skip-final-snapshot", file=sys.stderr)
            done = stack.cli("teardown", "orders", "--yes", "--skip-final-snapshot")
            sys.stderr.write(done.stderr)
            if done.returncode != 0:
                return done.returncode
            dp.sync()
            try:
                socket.create_connection((address, out["port"]), timeout=2).close()
                print("    after teardown: the association still accepts connections", file=sys.stderr)
                return 1
            except ConnectionRefusedError:
                print(f"    after teardown: {out['dnsName']}:{out['port']} refuses connections")
    except StackError as e:
        print(f"local run failed: {e}", file=sys.stderr)
        return 1
    print(f"==> done in {time.time() - started:.1f}s; local AWS stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
