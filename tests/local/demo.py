"""Run the provisioning workflow on the local AWS stack through the real CLI (`lattice-db-access`
provision, connect, doctor), deliver a failover event, then tear down with the CLI.

    ./scripts/local-run.sh            (installs what is missing, builds, then runs this)
"""

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
            print("\n==> failover: Multi-AZ failover of orders-db, RDS-EVENT-0049 delivered to the failover Lambda", file=sys.stderr)
            stack.client("rds").reboot_db_instance(DBInstanceIdentifier="orders-db", ForceFailover=True)
            from test_failover import event  # noqa: E402  (the AWS-documented event shape)
            [res] = stack.invoke("failover", [event("instance-failover-completed-0049.json", "orders-db")], name="failover")
            if not res["ok"]:
                print(f"failover handler failed: {res['errorType']}: {res['errorMessage']}", file=sys.stderr)
                return 1
            for r in res["output"]["results"]:
                print(f"    {r['resourceConfigurationId']} ({r['mode']}): {r['outcome']} - {r['reason']}", file=sys.stderr)
            print("\n==> lattice-db-access teardown orders --yes --skip-final-snapshot", file=sys.stderr)
            done = stack.cli("teardown", "orders", "--yes", "--skip-final-snapshot")
            sys.stderr.write(done.stderr)
            if done.returncode != 0:
                return done.returncode
    except StackError as e:
        print(f"local run failed: {e}", file=sys.stderr)
        return 1
    print(f"==> done in {time.time() - started:.1f}s; local AWS stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
