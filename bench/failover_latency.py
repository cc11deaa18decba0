"""Benchmark (not a test): the failover handler's warm latency on the local stack.

    ./scripts/setup.sh && cargo build --workspace --all-targets && .venv/bin/python bench/failover_latency.py [N]

Provisions once (dns mode), then delivers N (default 200) RDS failover events to one warm
`failover` process under the local Lambda Runtime API and reports the median and p99 of the
invoke-to-response time. Each event makes the handler list the configurations, read their tags,
read the database from RDS (moto) and the configuration from the emulator, and compare.
"""

import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "local"))
from stack import ROOT, LocalStack  # noqa: E402
from test_failover import event  # noqa: E402


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with LocalStack() as stack:
        stack.create_prerequisites()
        doc = json.loads((ROOT / "events" / "provision.json").read_text())
        code, out, err, _ = stack.run(doc, name="provision", quiet=True)
        if code != 0:
            print(err, file=sys.stderr)
            return 1
        ev = event("instance-failover-completed-0049.json", "orders-db")
        # One cold invocation first, then n warm ones in the same process.
        results = stack.invoke("failover", [ev], repeat=n + 1, name="latency")
    failed = [r for r in results if not r["ok"]]
    warm = sorted(r["ms"] for r in results[1:])
    p99 = warm[min(len(warm) - 1, int(round(0.99 * len(warm))) - 1)]
    report = {
        "events": len(warm),
        "failed": len(failed),
        "first_ms": round(results[0]["ms"], 2),
        "median_ms": round(statistics.median(warm), 2),
        "p99_ms": round(p99, 2),
        "max_ms": round(warm[-1], 2),
    }
    print(json.dumps(report))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
