"""The `lattice-db-access` CLI, built, driven on the local stack through the local Step Functions
API (tests/local/sfn_server.cjs) and CloudFormation DescribeStacks, with the standard
AWS_ENDPOINT_URL_* variables (issue 12).

    .venv/bin/python -m unittest tests/local/test_cli.py -v      (after cargo build --workspace)
"""

import json
import os
import re
import subprocess
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import ROOT, STACK_NAME, LocalStack  # noqa: E402
from test_teardown import provision_input  # noqa: E402

AWS_CLI = ROOT / ".venv-awscli" / "bin" / "aws"
SNAPSHOT = Path(__file__).resolve().parent / "snapshots" / "cli-provision.txt"


def plain(progress: str) -> list[str]:
    """The progress lines with what varies run to run taken out: elapsed times and ids."""
    out = []
    for line in progress.splitlines():
        line = re.sub(r"^\[\s*[0-9.]+s\] ", "", line)
        line = re.sub(r"\b(rgw|sn|snva|rcfg|snra|sg|vpc|subnet|als)-[0-9a-z]+\b", r"\1-…", line)
        line = re.sub(r"arn:aws:states:[^ ]+", "arn:…", line)
        out.append(line)
    return out


class Cli(unittest.TestCase):
    def provision(self, stack, doc, *extra):
        path = stack.log_dir / f"{doc['name']}-input.json"
        path.write_text(json.dumps(doc))
        return stack.cli("provision", str(path), *extra)

    def test_provision_status_list_connect_follow_and_teardown(self):
        with LocalStack() as stack:
            ids = stack.create_prerequisites()
            doc = provision_input(ids)
            done = self.provision(stack, doc)
            self.assertEqual(done.returncode, 0, done.stderr[-3000:])

            # The progress: a line per step in recipe order, each polling loop with what it
            # waits for, then the connection details on stdout.
            lines = plain(done.stderr)
            if os.environ.get("UPDATE_SNAPSHOTS"):
                SNAPSHOT.parent.mkdir(exist_ok=True)
                SNAPSHOT.write_text("\n".join(sorted(lines)) + "\n")
            # Parallel branches interleave, so the snapshot is of the lines, sorted; the order
            # within the workflow is checked below.
            self.assertEqual(sorted(lines), SNAPSHOT.read_text().splitlines())
            order = [i for i, l in enumerate(lines) for step in (
                "→ validate input", "→ acquire lock", "→ create database network", "→ create resource configuration",
                "→ create resource association", "execution succeeded") if l == step]
            self.assertEqual(order, sorted(order), lines)
            self.assertTrue(any(re.fullmatch(
                r"waiting for resource gateway rgw-… \(CREATE_IN_PROGRESS, attempt 1/\d+, next check in 3 s\)", l)
                for l in lines), lines)
            self.assertIn("host       snra-", done.stdout)
            self.assertIn("port       3306", done.stdout)

            # A second deployment, PostgreSQL, started elsewhere (the SDK) and followed by the CLI.
            # Its own client VPC: a VPC joins one service network only.
            ec2 = stack.client("ec2")
            ledger_vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16", TagSpecifications=[
                {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "ledger-clients"}]}])["Vpc"]["VpcId"]
            pg = {**doc, "name": "ledger", "clientVpcs": [{"id": ledger_vpc, "allowedCidrs": ["10.2.0.0/16"]}],
                  "database": {"create": {"engine": "postgres", "instanceClass": "db.t3.micro",
                                          "allocatedStorage": 20}}}
            sfn = self.sfn(stack)
            arn = sfn.start_execution(
                stateMachineArn=self.machine(stack, "provision"), name="started-elsewhere", input=json.dumps(pg),
            )["executionArn"]
            followed = stack.cli("follow", "ledger")
            self.assertEqual(followed.returncode, 0, followed.stderr[-3000:])
            self.assertIn("execution succeeded", followed.stderr)
            self.assertEqual(sfn.describe_execution(executionArn=arn)["status"], "SUCCEEDED")

            listed = stack.cli("list", "--output", "json")
            self.assertEqual(listed.returncode, 0, listed.stderr)
            deployments = {d["deployment"]: d for d in json.loads(listed.stdout)["deployments"]}
            self.assertEqual(sorted(deployments), ["ledger", "orders"])
            self.assertEqual({d["status"] for d in deployments.values()}, {"SUCCEEDED"})

            status = stack.cli("status", "orders", "--output", "json")
            self.assertEqual(status.returncode, 0, status.stderr)
            st = json.loads(status.stdout)
            self.assertEqual(st["executions"][0]["status"], "SUCCEEDED")
            self.assertTrue(st["provisioned"]["dnsName"].startswith("snra-"), st)
            # Where things stand in AWS now: the primary the configuration's tags name, the statuses.
            self.assertEqual(st["now"]["primary"], "instance orders-db")
            self.assertEqual({st["now"][k] for k in ("resourceGateway", "resourceConfiguration", "resourceAssociation")},
                             {"ACTIVE"})
            text = stack.cli("status", "orders").stdout
            self.assertIn("primary    instance orders-db (standby -)", text)

            for deployment, client in [("orders", "mysql --host=snra-"), ("ledger", "psql \"host=snra-")]:
                c = stack.cli("connect", deployment)
                self.assertEqual(c.returncode, 0, c.stderr)
                self.assertIn(client, c.stdout)
                self.assertIn("get-secret-value --secret-id 'arn:aws:secretsmanager:", c.stdout)
                self.assertIn("must carry security group sg-", c.stdout)
                # The password is fetched when the command runs, never printed.
                arn = re.search(r"--secret-id '([^']+)'", c.stdout).group(1)
                secret = json.loads(stack.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])
                self.assertTrue(secret["password"])
                self.assertNotIn(secret["password"], c.stdout + c.stderr)

            for deployment in ("orders", "ledger"):
                down = stack.cli("teardown", deployment, "--yes", "--skip-final-snapshot")
                self.assertEqual(down.returncode, 0, down.stderr[-3000:])
                self.assertIn("execution succeeded", down.stderr)
            inv = stack.inventory()
            self.assertEqual(inv["serviceNetworks"], [])
            self.assertEqual(inv["dbInstances"], [])

    def test_doctor_is_clean_then_reports_a_removed_rule_and_a_repointed_configuration(self):
        with LocalStack() as stack:
            ids = stack.create_prerequisites()
            done = self.provision(stack, provision_input(ids))
            self.assertEqual(done.returncode, 0, done.stderr[-3000:])
            clean = stack.cli("doctor", "orders")
            self.assertEqual((clean.returncode, clean.stdout.strip()), (0, "deployment orders: no drift"), clean.stderr)

            out = json.loads(stack.cli("status", "orders", "--output", "json").stdout)["provisioned"]
            ec2, lattice = stack.client("ec2"), stack.client("vpc-lattice")
            db_sg = out["resources"]["databaseSecurityGroupId"]
            [g] = ec2.describe_security_groups(GroupIds=[db_sg])["SecurityGroups"]
            ec2.revoke_security_group_ingress(GroupId=db_sg, IpPermissions=g["IpPermissions"])
            rcfg = out["resources"]["resourceConfigurationId"]
            lattice.update_resource_configuration(
                resourceConfigurationIdentifier=rcfg,
                resourceConfigurationDefinition={"dnsResource": {"domainName": "elsewhere.example.com",
                                                                 "ipAddressType": "IPV4"}})

            drifted = stack.cli("doctor", "orders", "--output", "json")
            self.assertEqual(drifted.returncode, 1, drifted.stderr)
            found = {d["resource"]: d for d in json.loads(drifted.stdout)["drift"]}
            self.assertEqual(sorted(found), sorted([f"database security group {db_sg}", f"resource configuration {rcfg}"]))
            rule = found[f"database security group {db_sg}"]
            self.assertEqual(rule["found"], f"lacks ingress rule tcp 3306 {out['resources']['gatewaySecurityGroupId']}")
            self.assertIn("points at dns:elsewhere.example.com", found[f"resource configuration {rcfg}"]["found"])
            self.assertIn("provision", rule["fix"])

            # The fix the doctor names works: a re-run converges, and the doctor is clean again.
            again = self.provision(stack, provision_input(ids))
            self.assertEqual(again.returncode, 0, again.stderr[-3000:])
            self.assertEqual(stack.cli("doctor", "orders").returncode, 0)

    def test_a_failed_provisioning_prints_its_error_and_cause_and_exits_1(self):
        with LocalStack() as stack:
            stack.create_prerequisites()
            doc = provision_input()
            doc["clientVpcs"] = [{"name": "no-such-vpc"}]
            done = self.provision(stack, doc)
            self.assertEqual(done.returncode, 1, done.stderr[-3000:])
            self.assertIn("Error: Input.Invalid", done.stderr)
            self.assertRegex(done.stderr, r"Cause: clientVpcs\[0\]")

    def test_a_bad_input_is_refused_before_anything_starts_and_exits_2(self):
        with LocalStack() as stack:
            doc = provision_input()
            doc["port"] = 70000
            done = self.provision(stack, doc)
            self.assertEqual(done.returncode, 2, done.stderr)
            self.assertIn("port", done.stderr)
            self.assertEqual(self.sfn(stack).list_executions(
                stateMachineArn=self.machine(stack, "provision"))["executions"], [])
            # Usage errors are 2 too; AWS refusals 3 (an unknown stack).
            self.assertEqual(stack.cli("no-such-command").returncode, 2)
            self.assertEqual(stack.cli("--stack", "other", "list").returncode, 3)

    def test_the_aws_cli_v1_speaks_to_the_local_step_functions_api(self):
        with LocalStack() as stack:
            stack.create_prerequisites()
            url = stack.start_sfn()
            env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                   "AWS_DEFAULT_REGION": "us-east-1"}

            def aws(*args):
                done = subprocess.run([str(AWS_CLI), "--endpoint-url", url, "--output", "json", *args],
                                      env=env, capture_output=True, text=True, timeout=120)
                self.assertEqual(done.returncode, 0, done.stderr)
                return json.loads(done.stdout) if done.stdout.strip() else None

            stacks = aws("cloudformation", "describe-stacks", "--stack-name", STACK_NAME)["Stacks"]
            outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0]["Outputs"]}
            started = aws("stepfunctions", "start-execution", "--state-machine-arn",
                          outputs["TeardownStateMachineArn"], "--name", "cli-v1",
                          "--input", json.dumps({"name": "nothing-here"}))
            deadline = time.time() + 120
            while True:
                d = aws("stepfunctions", "describe-execution", "--execution-arn", started["executionArn"])
                if d["status"] != "RUNNING" or time.time() > deadline:
                    break
                time.sleep(0.2)
            self.assertEqual(d["status"], "SUCCEEDED", d)
            history = aws("stepfunctions", "get-execution-history", "--execution-arn", started["executionArn"])
            self.assertEqual(history["events"][0]["type"], "ExecutionStarted")
            self.assertEqual(history["events"][-1]["type"], "ExecutionSucceeded")

    # ---- helpers
    def sfn(self, stack):
        import boto3
        return boto3.client("stepfunctions", endpoint_url=stack.start_sfn(), region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test")

    def machine(self, stack, kind):
        return f"arn:aws:states:us-east-1:123456789012:stateMachine:{STACK_NAME}-{kind}"


if __name__ == "__main__":
    unittest.main()
