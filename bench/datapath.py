"""The local data path (issue 13; a benchmark, not a test): pgbench and connection set-up through
the emulated VPC Lattice path (client → association listener → security-group checks → the
PostgreSQL server) against the same server directly, in the same run, alternating.

    CARGO_TARGET_DIR=target/bench cargo build --release --locked -p lattice-emulator
    LATTICE_EMULATOR=target/bench/release/lattice-emulator .venv/bin/python bench/datapath.py [--seconds 10] [--connects 300]

Targets: throughput through the path >= 90 % of direct; connection set-up overhead <= 2 ms median.
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "local"))
from stack import EMULATOR, LocalStack  # noqa: E402

PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"


def pgbench(host: str, port: int, user: str, password: str, args: list[str]) -> dict:
    env = {**os.environ, "PGPASSWORD": password}
    done = subprocess.run([PGBENCH, "-h", host, "-p", str(port), "-U", user, *args, "postgres"], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"pgbench {args} failed: {done.stderr}")
    if "-i" in args:
        return {}
    tps = float(re.search(r"tps = ([0-9.]+)", done.stdout).group(1))
    latency = float(re.search(r"latency average = ([0-9.]+) ms", done.stdout).group(1))
    return {"tps": round(tps, 1), "latencyMs": round(latency, 3)}


def connect_ms(host: str, port: int, user: str, password: str) -> float:
    t0 = time.perf_counter()
    conn = psycopg.connect(host=host, port=port, user=user, password=password, dbname="postgres")
    conn.execute("SELECT 1")
    conn.close()
    return (time.perf_counter() - t0) * 1000


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10, help="each pgbench run")
    ap.add_argument("--rounds", type=int, default=3, help="alternating direct/path pgbench rounds")
    ap.add_argument("--connects", type=int, default=300, help="connections timed per side")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--builtin", default="select-only",
                    help="pgbench -b: select-only or tpcb-like; or `range-read` (ours: a 1 000-row index range sum)")
    a = ap.parse_args()
    with LocalStack(polls_to_active=0) as stack:
        ids = stack.create_prerequisites()
        doc = json.loads((ROOT / "events" / "provision.json").read_text())
        doc["database"]["create"]["engine"] = "postgres"
        code, out, err, _ = stack.run(doc, name="provision", quiet=True)
        if code != 0:
            raise SystemExit(err[-2000:])
        dp = stack.datapath()
        server = dp.attach(out["database"]["identifier"], "10.0.1.10")
        app = dp.client(ids["clientSubnet"], [out["resources"]["clientSecurityGroups"][0]["securityGroupId"]])
        user, password = dp.credentials(out["database"]["identifier"])
        direct = (server.host, server.port)
        path = (app.resolve(out["dnsName"]), out["port"])
        pgbench(*direct, user, password, ["-i", "-s", "4", "-q"])
        workload = ["-b", a.builtin]
        if a.builtin == "range-read":
            script = stack.log_dir / "range-read.sql"
            script.write_text("\\set a random(1, 399000)\nSELECT sum(abalance) FROM pgbench_accounts "
                              "WHERE aid BETWEEN :a AND :a + 999;\n")
            workload = ["-f", str(script)]
        results = {"direct": [], "path": []}
        for _ in range(a.rounds):
            for side, (host, port) in (("direct", direct), ("path", path)):
                results[side].append(pgbench(host, port, user, password,
                                             [*workload, "-c", str(a.clients), "-j", "2", "-T", str(a.seconds)]))
        connects = {"direct": [], "path": []}
        for _ in range(a.connects):
            for side, (host, port) in (("direct", direct), ("path", path)):
                connects[side].append(connect_ms(host, port, user, password))
        forwarded = [e for e in dp.log() if e["outcome"] == "forwarded"]
    tps = {k: statistics.median(r["tps"] for r in v) for k, v in results.items()}
    med = {k: statistics.median(v) for k, v in connects.items()}
    report = {
        "emulator": str(EMULATOR),
        "pgbench": {"args": f"-b {a.builtin} -c {a.clients} -j 2 -T {a.seconds}, scale 4, {a.rounds} alternating rounds",
                    "direct": results["direct"], "path": results["path"],
                    "medianTps": {k: round(v, 1) for k, v in tps.items()},
                    "pathShareOfDirect": round(tps["path"] / tps["direct"], 3)},
        "connectionSetupMs": {
            "runs": a.connects,
            "directMedian": round(med["direct"], 3), "pathMedian": round(med["path"], 3),
            "overheadMedian": round(med["path"] - med["direct"], 3),
            "pathP90": round(sorted(connects["path"])[int(0.9 * (a.connects - 1))], 3),
            "emulatorDecisionMicrosMedian": statistics.median(e["setupMicros"] for e in forwarded) if forwarded else None,
        },
    }
    print(json.dumps(report, indent=2))
    ok = report["pgbench"]["pathShareOfDirect"] >= 0.9 and report["connectionSetupMs"]["overheadMedian"] <= 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
