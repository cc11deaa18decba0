"""CLI start-up (issue 12; a benchmark, not a test): wall time of the `lattice-db-access` binary for
`--help` (no AWS call) and for `status <deployment>` against the local stack (the local Step
Functions API, CloudFormation DescribeStacks, moto and the emulator), over --runs runs each, after
one provisioning through the CLI. Targets: --help median <= 20 ms, status median <= 300 ms.

    CARGO_TARGET_DIR=target/bench cargo build --release --locked -p lattice-db-access
    .venv/bin/python bench/cli_startup.py --binary target/bench/release/lattice-db-access [--runs 50]

Prints one JSON document (milliseconds: median, p90, min, max).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "local"))
from stack import CLI, LocalStack  # noqa: E402


def timed(cmd: list[str], env: dict, runs: int) -> dict:
    ms = []
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        ms.append((time.perf_counter() - t0) * 1000)
        if done.returncode != 0:
            raise SystemExit(f"{cmd} exited {done.returncode}: {done.stderr}")
    ms.sort()
    return {"median": round(statistics.median(ms), 1), "p90": round(ms[int(0.9 * (len(ms) - 1))], 1),
            "min": round(ms[0], 1), "max": round(ms[-1], 1), "runs": runs}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=str(ROOT / "target" / "bench" / "release" / "lattice-db-access"))
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args()
    binary = Path(args.binary)
    if not binary.exists():
        raise SystemExit(f"missing {binary}: build it (see the docstring)")
    with LocalStack() as stack:
        stack.create_prerequisites()
        done = stack.cli("provision", "events/provision.json")  # the debug build, as the tests
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        env = stack.cli_env()
        out = {
            "binary": str(binary.relative_to(ROOT) if binary.is_relative_to(ROOT) else binary),
            "bytes": binary.stat().st_size,
            "help": timed([str(binary), "--help"], env, args.runs),
            "status": timed([str(binary), "status", "orders"], env, args.runs),
            "debug build status (for comparison)": timed([str(CLI), "status", "orders"], env, max(5, args.runs // 5)),
        }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
