"""Run the provisioning workflow on the local AWS stack and print the connection details.

    ./scripts/local-run.sh            (installs what is missing, builds, then runs this)
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import ROOT, LocalStack, StackError  # noqa: E402


def main() -> int:
    started = time.time()
    try:
        with LocalStack(polls_to_active=2) as stack:
            print(f"==> local AWS: moto {stack.moto_url}, VPC Lattice + CloudWatch emulator {stack.emulator_url}", file=sys.stderr)
            ids = stack.create_prerequisites()
            print(f"==> prerequisites: database VPC {ids['databaseVpc']} (private subnets in us-east-1a/b), "
                  f"client VPC {ids['clientVpc']}", file=sys.stderr)
            doc = json.loads((ROOT / "events" / "provision.json").read_text())
            print("==> provisioning (events/provision.json)", file=sys.stderr)
            code, out, err, run_dir = stack.run(doc, name="provision")
            if code != 0:
                print(f"\nprovisioning failed; function logs in {run_dir}", file=sys.stderr)
                return code
            print("\n==> connection details", file=sys.stderr)
            print(json.dumps({k: out[k] for k in ("dnsName", "port", "secretArn")}, indent=2))
            print(f"\nfull output in {run_dir}/output.json; logs in {stack.log_dir}", file=sys.stderr)
            (run_dir / "output.json").write_text(json.dumps(out, indent=2))

            print("\n==> failover: Multi-AZ failover of orders-db, RDS-EVENT-0049 delivered to the failover Lambda", file=sys.stderr)
            stack.client("rds").reboot_db_instance(DBInstanceIdentifier="orders-db", ForceFailover=True)
            from test_failover import event  # noqa: E402  (the AWS-documented event shape)
            [res] = stack.invoke("failover", [event("instance-failover-completed-0049.json", "orders-db")], name="failover")
            if not res["ok"]:
                print(f"failover handler failed: {res['errorType']}: {res['errorMessage']}", file=sys.stderr)
                return 1
            for r in res["output"]["results"]:
                print(f"    {r['resourceConfigurationId']} ({r['mode']}): {r['outcome']} - {r['reason']}", file=sys.stderr)
    except StackError as e:
        print(f"local run failed: {e}", file=sys.stderr)
        return 1
    print(f"==> done in {time.time() - started:.1f}s; local AWS stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
