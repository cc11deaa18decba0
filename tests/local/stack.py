"""The local AWS stack: moto (EC2, RDS, Logs, Secrets Manager, STS) and the project's emulator
(VPC Lattice, CloudWatch over RPC v2 CBOR), on free ports, plus the workflow driver.

Used by tests/local/demo.py (the README's "Run it locally") and tests/local/test_e2e.py.
Runs under the SAM venv's Python (.venv), which has boto3 and cfn-lint.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
from cfnlint.decode import decode

from databases import free_port  # stdlib only; it picks the local servers' ports too

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "123456789012"
MOTO_PYTHON = ROOT / ".venv-moto" / "bin" / "python"
# moto's server with the RDS behaviour AWS has and moto skips (see the file).
MOTO_SERVER = ROOT / "tests" / "local" / "moto_server.py"
# LATTICE_EMULATOR: another build of it (bench/datapath.py measures the release one).
EMULATOR = Path(os.environ.get("LATTICE_EMULATOR") or ROOT / "target" / "debug" / "lattice-emulator")
BIN_DIR = ROOT / "target" / "debug"
# functions/failover/examples/local.rs: the failover handler with RESOLVE_ENV's overrides.
FAILOVER_LOCAL = BIN_DIR / "examples" / "failover-local"
RESOLVE_ENV = "LATTICE_DB_ACCESS_RESOLVE"
# template.yaml: LockTable, named `${AWS::StackName}-locks` (samconfig.toml's stack name).
LOCK_TABLE = "lattice-db-access-locks"
NODE_DRIVER = ROOT / "tests" / "local" / "driver.cjs"
IAM_GATE = ROOT / "tests" / "local" / "iam_gate.py"
# The local Step Functions API (and CloudFormation DescribeStacks) the CLI talks to.
SFN_SERVER = ROOT / "tests" / "local" / "sfn_server.cjs"
CLI = BIN_DIR / "lattice-db-access"
# samconfig.toml's stack name: the CLI's default --stack.
STACK_NAME = "lattice-db-access"


class StackError(RuntimeError):
    pass


def function_substitutions(template: Path = ROOT / "template.yaml") -> dict[str, dict[str, str]]:
    """{state machine file: {placeholder: binary name}} from the template's DefinitionSubstitutions."""
    tpl, matches = decode(str(template))
    if matches:
        raise StackError(f"template.yaml does not parse: {matches}")
    tpl = json.loads(json.dumps(tpl, default=str))
    res = tpl["Resources"]
    out = {}
    for r in res.values():
        if r["Type"] != "AWS::Serverless::StateMachine":
            continue
        p = r["Properties"]
        subs = {}
        for key, value in p["DefinitionSubstitutions"].items():
            target = value["Fn::GetAtt"]
            target = target.split(".") if isinstance(target, str) else target
            subs[key] = res[target[0]]["Metadata"]["BuildProperties"]["Binary"]
        out[p["DefinitionUri"]] = subs
    return out


def _items(state, key):
    """Entries of a collection in the emulator's state dump, whatever the nesting (per region)."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == key:
                    found.extend(v.values() if isinstance(v, dict) else v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(state)
    return found


class LocalStack:
    """Starts moto and the emulator; stops both (and nothing else) on exit."""

    def __init__(self, log_dir: Path | None = None, polls_to_active: int = 2):
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="lattice-local-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.polls_to_active = polls_to_active
        self.procs: list[subprocess.Popen] = []
        self.files = []

    # ---- lifecycle
    def __enter__(self) -> "LocalStack":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        for path, what in [(MOTO_PYTHON, "moto (scripts/setup.sh installs it)"), (EMULATOR, "the emulator (cargo build)")]:
            if not path.exists():
                raise StackError(f"missing {what}: {path}")
        self.moto_port = free_port()
        moto_log = open(self.log_dir / "moto.log", "w")
        self.files.append(moto_log)
        self.procs.append(subprocess.Popen(
            [str(MOTO_PYTHON), str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(self.moto_port)],
            stdout=moto_log, stderr=subprocess.STDOUT, start_new_session=True))
        emu_log = open(self.log_dir / "emulator.log", "w")
        self.files.append(emu_log)
        emu = subprocess.Popen(
            # --moto: the data plane reads EC2/RDS state there (tests/local/datapath.py).
            [str(EMULATOR), "--port", "0", "--polls-to-active", str(self.polls_to_active),
             "--moto", f"http://127.0.0.1:{self.moto_port}"],
            stdout=subprocess.PIPE, stderr=emu_log, text=True, start_new_session=True)
        self.procs.append(emu)
        line = emu.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise StackError(f"the emulator did not start (said {line!r}); see {self.log_dir / 'emulator.log'}")
        self.emulator_url = "http://" + line.removeprefix("listening on ")
        self.moto_url = f"http://127.0.0.1:{self.moto_port}"
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(self.moto_url + "/moto-api/", timeout=1)
                break
            except Exception:
                if time.time() > deadline or self.procs[0].poll() is not None:
                    raise StackError(f"moto did not start; see {self.log_dir / 'moto.log'}")
                time.sleep(0.2)
        # IAM: every request of a function goes through the gate, which authorizes it against that
        # function's policy in template.yaml before moto or the emulator sees it.
        gate_log = open(self.log_dir / "iam-gate.log", "w")
        self.files.append(gate_log)
        gate = subprocess.Popen(
            [sys.executable, str(IAM_GATE), "--moto", self.moto_url, "--emulator", self.emulator_url],
            stdout=subprocess.PIPE, stderr=gate_log, text=True, start_new_session=True)
        self.procs.append(gate)
        line = gate.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise StackError(f"the IAM gate did not start (said {line!r}); see {self.log_dir / 'iam-gate.log'}")
        self.gate_url = "http://" + line.removeprefix("listening on ")
        self.create_stack_resources()

    def create_stack_resources(self) -> None:
        """What `sam deploy` creates beside the functions and that they use: the lock table
        (template.yaml's LockTable, named after the stack)."""
        self.client("dynamodb").create_table(
            TableName=LOCK_TABLE, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "deployment", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "deployment", "KeyType": "HASH"}])

    def start_sfn(self) -> str:
        """The local Step Functions API over the same interpreter and runtime as `run`, with the
        stack's two state machines, and CloudFormation DescribeStacks naming them; returns its URL."""
        if getattr(self, "sfn_url", None):
            return self.sfn_url
        subs = function_substitutions()
        machines = [
            {"name": f"{STACK_NAME}-{kind}", "output": output, "definition": str(ROOT / path),
             "functions": subs[path]}
            for kind, output, path in [
                ("provision", "ProvisionStateMachineArn", "statemachine/provision.asl.json"),
                ("teardown", "TeardownStateMachineArn", "statemachine/teardown.asl.json"),
            ]
        ]
        log = open(self.log_dir / "sfn-server.log", "w")
        self.files.append(log)
        env = {**os.environ, **self.env(), "NODE_PATH": str(ROOT / "node_modules")}
        proc = subprocess.Popen(
            [shutil.which("node") or "node", str(SFN_SERVER), "--stack", STACK_NAME, "--machines", json.dumps(machines),
             "--bin-dir", str(BIN_DIR), "--log-dir", str(self.log_dir / "sfn")],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
        self.procs.append(proc)
        line = proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise StackError(f"the Step Functions server did not start (said {line!r}); see {self.log_dir / 'sfn-server.log'}")
        self.sfn_url = "http://" + line.removeprefix("listening on ")
        return self.sfn_url

    def cli_env(self) -> dict[str, str]:
        """What a user's shell has when the CLI runs against the local stack: the standard
        endpoint variables, and credentials of the user (not of a function: no IAM gate)."""
        url = self.start_sfn()
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_ENDPOINT_URL_SFN": url,
            "AWS_ENDPOINT_URL_CLOUDFORMATION": url,
            "AWS_ENDPOINT_URL_VPC_LATTICE": self.emulator_url,
        }

    def cli(self, *args: str, stdin: str | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
        """Run the built `lattice-db-access` binary against this stack."""
        if not CLI.exists():
            raise StackError(f"missing the CLI binary {CLI} (cargo build)")
        return subprocess.run([str(CLI), "--poll-seconds", "0.1", *args], cwd=ROOT, env=self.cli_env(),
                              input=stdin, capture_output=True, text=True, timeout=timeout)

    def datapath(self):
        """Real databases and clients on the emulated Lattice path (tests/local/datapath.py)."""
        if getattr(self, "_datapath", None) is None:
            from datapath import DataPath
            self._datapath = DataPath(self)
        return self._datapath

    def stop(self) -> None:
        if getattr(self, "_datapath", None) is not None:
            self._datapath.close()
            self._datapath = None
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
            if p.stdout:
                p.stdout.close()
        self.procs.clear()
        for f in self.files:
            f.close()
        self.files.clear()

    # ---- clients and state
    def env(self) -> dict[str, str]:
        """What the Lambdas see: every AWS call goes through the IAM gate to the local stack. The
        driver gives each function its own access key (`lda-<binary>`); the gate refuses any other."""
        return {
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "unset-the-driver-sets-one-per-function",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_ENDPOINT_URL": self.gate_url,
            "AWS_ENDPOINT_URL_VPC_LATTICE": self.gate_url,
            "AWS_ENDPOINT_URL_CLOUDWATCH": self.gate_url,
            "AWS_EC2_METADATA_DISABLED": "true",
            # template.yaml sets it on the lock function (the others ignore it).
            "LOCK_TABLE": LOCK_TABLE,
        }

    def iam(self, route: str, body: dict | None = None):
        """The IAM gate's control routes (log, reset, mutation)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.gate_url + "/_iam/" + route, data=data,
                                     method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read().decode()
        return json.loads(text) if text else None

    def client(self, service: str):
        url = self.emulator_url if service in ("vpc-lattice", "cloudwatch") else self.moto_url
        return boto3.client(service, endpoint_url=url, region_name=REGION,
                            aws_access_key_id="test", aws_secret_access_key="test")

    def emu(self, route: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.emulator_url + "/_emu/" + route, data=data,
                                     method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read().decode()
        return json.loads(text) if text else None

    def inventory(self) -> dict[str, list[str]]:
        """Every resource in moto and the emulator that a run could create, by id or name."""
        ec2, rds, logs, lattice = (self.client(s) for s in ("ec2", "rds", "logs", "vpc-lattice"))
        secrets = self.client("secretsmanager")
        state = self.emu("state")
        inv = {
            "securityGroups": sorted(g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]),
            "dbInstances": sorted(d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]),
            "dbClusters": sorted(d["DBClusterIdentifier"] for d in rds.describe_db_clusters()["DBClusters"]),
            "dbSubnetGroups": sorted(g["DBSubnetGroupName"] for g in rds.describe_db_subnet_groups()["DBSubnetGroups"]),
            "logGroups": sorted(g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]),
            "secrets": sorted(s["ARN"] for s in secrets.list_secrets()["SecretList"]),
            "serviceNetworks": sorted(x["id"] for x in lattice.list_service_networks()["items"]),
            "vpcAssociations": sorted(x["id"] for x in lattice.list_service_network_vpc_associations()["items"]),
            "resourceGateways": sorted(x["id"] for x in lattice.list_resource_gateways()["items"]),
            "resourceConfigurations": sorted(x["id"] for x in lattice.list_resource_configurations()["items"]),
            "resourceAssociations": sorted(x["id"] for x in lattice.list_service_network_resource_associations()["items"]),
            "dashboards": sorted(d["DashboardName"] for d in _items(state, "dashboards")),
            "alarms": sorted(a["AlarmName"] for a in _items(state, "alarms")),
        }
        return inv

    def reset(self) -> None:
        """Empty moto and the emulator (between runs in one stack)."""
        urllib.request.urlopen(urllib.request.Request(self.moto_url + "/moto-api/reset", method="POST"), timeout=10)
        self.emu("reset", {})
        self.iam("reset", {})
        self.create_stack_resources()

    # ---- the recipe's prerequisites
    def create_prerequisites(self) -> dict[str, str]:
        """A database VPC with tagged private subnets in two AZs (and a public one that must be
        ignored), and a client VPC, as the recipe assumes they exist."""
        ec2 = self.client("ec2")

        def vpc(name, cidr):
            v = ec2.create_vpc(CidrBlock=cidr, TagSpecifications=[
                {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": name}]}])["Vpc"]["VpcId"]
            return v

        def subnet(vpc_id, cidr, az, kind):
            return ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=az, TagSpecifications=[
                {"ResourceType": "subnet", "Tags": [{"Key": "Type", "Value": kind}]}])["Subnet"]["SubnetId"]

        db = vpc("database-vpc", "10.0.0.0/16")
        client = vpc("client-vpc", "10.1.0.0/16")
        ids = {
            "databaseVpc": db,
            "clientVpc": client,
            "dbSubnetA": subnet(db, "10.0.1.0/24", "us-east-1a", "private"),
            "dbSubnetB": subnet(db, "10.0.2.0/24", "us-east-1b", "private"),
            "dbPublic": subnet(db, "10.0.100.0/24", "us-east-1a", "public"),
            "clientSubnet": subnet(client, "10.1.1.0/24", "us-east-1a", "private"),
        }
        ids["appSecurityGroup"] = ec2.create_security_group(
            GroupName="app", Description="an application in the client VPC", VpcId=client)["GroupId"]
        return ids

    # ---- invoking one function (e.g. the failover handler, as EventBridge would)
    def invoke(self, binary: str, events: list, repeat: int = 1, extra_env: dict | None = None,
               name: str = "invoke") -> list[dict]:
        run_dir = self.log_dir / name
        run_dir.mkdir(parents=True, exist_ok=True)
        events_file = run_dir / "events.json"
        events_file.write_text(json.dumps(events))
        cmd = [shutil.which("node") or "node", str(NODE_DRIVER), "--invoke", binary, "--events", str(events_file),
               "--bin-dir", str(BIN_DIR), "--log-dir", str(run_dir), "--repeat", str(repeat)]
        if binary == "failover" and RESOLVE_ENV in (extra_env or {}):
            # Emulated RDS endpoints resolve nowhere: the failover's `ip` mode runs as the example
            # that adds host → IPv4 overrides (the production main.rs has no such hook).
            cmd += ["--binary", str(FAILOVER_LOCAL)]
        env = {**os.environ, **self.env(), **(extra_env or {}), "NODE_PATH": str(ROOT / "node_modules")}
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise StackError(f"invoking {binary} failed: {done.stderr}")
        return json.loads((run_dir / "results.json").read_text())

    # ---- running a state machine
    def run(self, input_doc: dict, definition: str = "statemachine/provision.asl.json",
            name: str = "run", quiet: bool = False,
            driver_args: list[str] | None = None,
            extra_env: dict | None = None) -> tuple[int, dict | None, str, Path]:
        """Run one execution; returns (exit code, output or None, stderr text, log dir)."""
        run_dir = self.log_dir / name
        run_dir.mkdir(parents=True, exist_ok=True)
        input_file = run_dir / "input.json"
        input_file.write_text(json.dumps(input_doc))
        subs = function_substitutions()[definition]
        node = shutil.which("node")
        if not node:
            raise StackError("node not found")
        cmd = [node, str(NODE_DRIVER), "--definition", str(ROOT / definition), "--functions", json.dumps(subs),
               "--input", str(input_file), "--bin-dir", str(BIN_DIR), "--log-dir", str(run_dir),
               "--execution-name", f"{name}-{int(time.time() * 1000)}"]
        if quiet:
            cmd.append("--quiet")
        cmd += driver_args or []
        env = {**os.environ, **self.env(), **(extra_env or {}), "NODE_PATH": str(ROOT / "node_modules")}
        err_lines = []
        with subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
            for line in proc.stderr:  # stream progress as it happens
                err_lines.append(line)
                if not quiet:
                    sys.stderr.write(line)
                    sys.stderr.flush()
            out = proc.stdout.read()
            code = proc.wait()
        output = json.loads(out) if code == 0 and out.strip() else None
        if code in (0, 2):
            # The driver's record must be whole: the event log ends with the execution's end.
            events = json.loads((run_dir / "events.json").read_text())
            want = "ExecutionSucceeded" if code == 0 else "ExecutionFailed"
            if not events or events[-1]["type"] != want:
                raise StackError(f"{run_dir}/events.json does not end with {want}")
        return code, output, "".join(err_lines), run_dir
