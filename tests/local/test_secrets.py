"""No secret value anywhere: not in what ships (template, state machines, examples, docs) nor in anything an
end-to-end run leaves behind (every function's log lines, outputs, events, the local AWS's own logs).
Only the secret's ARN may appear.

The end-to-end run provisions events/provision.json on the local AWS stack, delivers a failover event and
tears the deployment down, with the functions logging at DEBUG (a superset of the deployed INFO). moto keeps
the RDS-managed master password as the secret's value: it is read back from moto's Secrets Manager and must
appear nowhere.

    .venv/bin/python -m unittest tests/local/test_secrets.py -v
"""

import json
import os
import re
import sys
import unittest
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import ROOT, LocalStack  # noqa: E402

# What looks like a password or a secret value.
PATTERNS = {
    "moto's master password": re.compile(re.escape("P@55w0rd!")),
    "the recipe's plaintext password": re.compile(re.escape("SecurePassword123!")),
    "a MasterUserPassword field (a plaintext master password)": re.compile(r"\bMasterUserPassword\b"),
    "a --master-user-password argument": re.compile(r"--master-user-password\s+\S"),
    "a password field": re.compile(r"""["']?\bpassword["']?\s*[:=]\s*["'][^"']""", re.I),
    "a Secrets Manager secret value": re.compile(r"""["']?\bSecret(?:String|Binary)["']?\s*[:=]"""),
    "an AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
    # 40 base64 characters with upper case, lower case and a digit: the shape of a secret access key.
    "an AWS secret access key": re.compile(
        r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]{0,39}[A-Z])(?=[A-Za-z0-9/+]{0,39}[a-z])(?=[A-Za-z0-9/+]{0,39}[0-9])"
        r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"),
    "a private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}

# (file relative to the repository, text of the line) allowed to match, with the reason.
ALLOWED = {
    ("README.md", "| `--master-user-password SecurePassword123!` (#2) |"):
        "the recipe-differences table quotes the recipe's plaintext password as the bug this project fixes",
}

SHIPPED = ["template.yaml", "README.md", "statemachine/*.asl.json", "events/**/*", "docs/**/*"]


def findings(text: str, where: str, rel: str | None = None, extra: dict | None = None) -> list[str]:
    """Every line of `text` that matches a pattern (or an `extra` literal), minus the allowed ones."""
    out = []
    patterns = {**PATTERNS, **{k: re.compile(re.escape(v)) for k, v in (extra or {}).items()}}
    for n, line in enumerate(text.splitlines(), 1):
        for what, rx in patterns.items():
            if rx.search(line) and not any(rel == f and snippet in line for f, snippet in ALLOWED):
                out.append(f"{where}:{n}: {what}: {line.strip()[:200]}")
    return out


def shipped_files() -> list[Path]:
    files = set()
    for pattern in SHIPPED:
        files |= {p for p in ROOT.glob(pattern) if p.is_file()}
    return sorted(files)


class Scanner(unittest.TestCase):
    def test_the_patterns_catch_what_they_are_for_and_spare_what_is_not_a_secret(self):
        caught = [
            '{"username":"dbadmin","password":"P@55w0rd!"}',
            "aws rds create-db-instance --master-user-password SecurePassword123!",
            '"MasterUserPassword": "x"',
            'password = "hunter2"',
            '{"SecretString": "..."}',
            "key AKIAIOSFODNN7EXAMPLE",
            "secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ]
        for line in caught:
            self.assertTrue(findings(line, "x"), line)
        spared = [
            "ManageMasterUserPassword: RDS keeps the password",
            "aws secretsmanager get-secret-value --secret-id \"$ARN\" --query SecretString --output text",
            '"secretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1f2e-AbCdEf"',
            "commit 0123456789abcdef0123456789abcdef01234567",
            '"xrayTraceId":"Root=1-6b099c53-ca6a31aa04a60c0b2377b9e0;Sampled=0"',
            "snra-36780089bcc075e23.rcfg-7bjbuex8r4egy9arl.9eeda966.vpc-lattice-rsc.us-east-1.on.aws",
        ]
        for line in spared:
            self.assertEqual(findings(line, "x"), [], line)


class NoSecretsShipped(unittest.TestCase):
    def test_template_state_machines_examples_readme_and_docs_hold_no_secret(self):
        files = shipped_files()
        names = {str(p.relative_to(ROOT)) for p in files}
        self.assertTrue({"template.yaml", "README.md", "statemachine/provision.asl.json",
                         "events/provision.json"} <= names, names)
        found = []
        for p in files:
            rel = str(p.relative_to(ROOT))
            found += findings(p.read_text(errors="replace"), rel, rel)
        self.assertEqual(found, [])

    def test_the_template_takes_no_password_parameter(self):
        text = (ROOT / "template.yaml").read_text()
        self.assertNotRegex(text, r"(?i)NoEcho|MasterUserPassword\s*:")


class NoSecretsInAnEndToEndRun(unittest.TestCase):
    maxDiff = None

    def test_a_full_run_logs_and_outputs_only_the_secret_arn(self):
        with mock.patch.dict(os.environ, {"AWS_LAMBDA_LOG_LEVEL": "DEBUG"}), LocalStack() as stack:
            stack.create_prerequisites()
            doc = json.loads((ROOT / "events" / "provision.json").read_text())
            code, out, err, run_dir = stack.run(doc, name="provision", quiet=True)
            self.assertEqual(code, 0, err)
            (run_dir / "output.json").write_text(json.dumps(out, indent=2))
            (run_dir / "driver-stderr.txt").write_text(err)

            # The value of the secret RDS manages, read from moto as an application would.
            secret_arn = out["secretArn"]
            value = stack.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
            password = json.loads(value)["password"]
            self.assertGreaterEqual(len(password), 8)

            from test_failover import event  # the AWS-documented event shape

            [res] = stack.invoke("failover", [event("instance-failover-completed-0049.json", "orders-db")],
                                 name="failover")
            self.assertTrue(res["ok"], res)
            code, _, err, teardown_dir = stack.run({**out, "skipFinalSnapshot": True},
                                                   definition="statemachine/teardown.asl.json",
                                                   name="teardown", quiet=True)
            self.assertEqual(code, 0, err)
            (teardown_dir / "driver-stderr.txt").write_text(err)

            stack.stop()  # flush and close the local AWS's own logs before reading them
            files = sorted(p for p in stack.log_dir.rglob("*") if p.is_file())
            names = {str(p.relative_to(stack.log_dir)) for p in files}
            for wanted in ("provision/database.log", "provision/status.log", "provision/output.json",
                           "provision/events.json", "failover/failover.log", "teardown/teardown-database.log",
                           "moto.log", "emulator.log"):
                self.assertIn(wanted, names)
            found, arn_seen = [], False
            for p in files:
                text = p.read_text(errors="replace")
                arn_seen |= secret_arn in text
                found += findings(text, str(p.relative_to(stack.log_dir)),
                                  extra={"the managed secret's value": password, "the secret string": value})
            self.assertEqual(found, [])
            self.assertTrue(arn_seen, "the secret ARN is reported (it is what clients use)")
            self.assertIn(secret_arn, (run_dir / "output.json").read_text())


if __name__ == "__main__":
    unittest.main()
