"""Benchmark (not a test): one failover event in a crowded account (issue 11: the failover's cost must
not grow with the account).

    ./scripts/setup.sh && cargo build --workspace --all-targets && .venv/bin/python bench/failover_scale.py [--others 2000] [--per-gateway 50] [--events 20]

Provisions one deployment (dns mode), then adds `--others` resource configurations of other owners to
the emulator (`--per-gateway` on each of their own gateways, named as their owners please), and delivers
`--events` Multi-AZ failover events (RDS-EVENT-0049) for our database to one `failover` process under the
local Lambda Runtime API, as EventBridge would (through the IAM gate, with the function's own key). The
emulator's call log counts the VPC Lattice calls each invocation makes.

Targets: ≤ 25 Lattice calls and ≤ 1 s per event. Exit code 1 when a target is missed or an event failed.
The emulator does not enforce the Regional quota (2,000 configurations by default): 2,000 others plus ours
is one over it, which only makes the case harder.
"""

import argparse
import collections
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "local"))
from stack import ROOT, LocalStack  # noqa: E402
from test_failover import event  # noqa: E402

MAX_CALLS = 25
MAX_MS = 1000.0


def crowd(stack: LocalStack, ids: dict, others: int, per_gateway: int) -> None:
    """Other owners' gateways and configurations (direct to the emulator, not through the gate)."""
    lattice = stack.client("vpc-lattice")
    gateways = []
    for g in range((others + per_gateway - 1) // per_gateway):
        gw = lattice.create_resource_gateway(
            name=f"team{g}-gateway", vpcIdentifier=ids["databaseVpc"],
            subnetIds=[ids["dbSubnetA"], ids["dbSubnetB"]])
        gateways.append(gw["id"])
    for gw in gateways:
        deadline = time.time() + 30
        while lattice.get_resource_gateway(resourceGatewayIdentifier=gw)["status"] != "ACTIVE":
            if time.time() > deadline:
                raise SystemExit(f"gateway {gw} never became ACTIVE")
    for i in range(others):
        lattice.create_resource_configuration(
            name=f"app{i}-config", type="SINGLE", portRanges=["5432"], protocol="TCP",
            resourceGatewayIdentifier=gateways[i // per_gateway],
            resourceConfigurationDefinition={"dnsResource": {"domainName": f"db{i}.example.internal",
                                                             "ipAddressType": "IPV4"}},
            tags={"team": f"team{i // per_gateway}"})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--others", type=int, default=2000)
    ap.add_argument("--per-gateway", type=int, default=50)
    ap.add_argument("--events", type=int, default=20)
    args = ap.parse_args()
    with LocalStack() as stack:
        ids = stack.create_prerequisites()
        doc = json.loads((ROOT / "events" / "provision.json").read_text())
        code, _, err, _ = stack.run(doc, name="provision", quiet=True)
        if code != 0:
            print(err, file=sys.stderr)
            return 1
        t0 = time.monotonic()
        crowd(stack, ids, args.others, args.per_gateway)
        crowd_s = time.monotonic() - t0
        total = len(stack.client("vpc-lattice").get_paginator("list_resource_configurations")
                    .paginate().build_full_result()["items"])
        before = len(stack.emu("calls"))
        ev = event("instance-failover-completed-0049.json", "orders-db")
        results = stack.invoke("failover", [ev], repeat=args.events, name="scale")
        calls = [c for c in stack.emu("calls")[before:] if c["service"] == "vpc-lattice"]
    failed = [r for r in results if not r["ok"] or r["output"]["results"][0]["outcome"] != "unchanged"]
    per_event = len(calls) / len(results)
    by_op = collections.Counter(c["op"] for c in calls)
    times = sorted(r["ms"] for r in results)
    report = {
        "configurations": total,
        "others": args.others,
        "otherGateways": (args.others + args.per_gateway - 1) // args.per_gateway,
        "events": len(results),
        "failed": len(failed),
        "latticeCallsPerEvent": per_event,
        "latticeCallsByOp": {op: n / len(results) for op, n in sorted(by_op.items())},
        "firstMs": round(results[0]["ms"], 2),
        "medianMs": round(statistics.median(times), 2),
        "maxMs": round(times[-1], 2),
        "crowdSetupS": round(crowd_s, 1),
    }
    print(json.dumps(report, indent=1))
    ok = not failed and per_event <= MAX_CALLS and times[-1] <= MAX_MS
    print(f"failover in a crowded account: {per_event:g} Lattice calls per event (target ≤ {MAX_CALLS}), "
          f"slowest event {times[-1]:.1f} ms (target ≤ {MAX_MS:.0f}): {'ok' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
