"""Credential forms beyond those of test_secrets.py, each in a real run: the programs' command
lines (what each process ran) and the recorded environment reach no artifact with the secret.

- a private key in PEM form, in an argument or a variable whose name does not say so;
- a URL whose path is the credential (Slack, Discord webhooks; a Telegram bot's token), in a
  `*_URL` variable (a name that says "where", not "secret") or an argument;
- a Google OAuth access token (`ya29.`);
- a secret given by its place: `aws configure set aws_secret_access_key KEY`, `az login -p`,
  `zip -P`, `7z -pX`, `ldapsearch -w`, `sqlcmd -P`, `smbclient -U user%pass`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.support.tracing import rotrace_cli

PEM_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUpemSECRET"
PEM = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PEM_BODY}\n-----END OPENSSH PRIVATE KEY-----\n"
SLACK = "T0AAAAAAA/B0BBBBBBB/slackHOOKsecret1234"
DISCORD = "112233445566/discordHOOKsecret5678"
TELEGRAM = "123456789:AAHdqTcvTELEGRAMsecret0K5PALDsaw"
GOOGLE = "ya29.a0AfH6SMBgoogleACCESSsecret99"
AWS = "wJalrXUtnFEMIawsSECRETbPxRfiCYEXAMPLE"
AZ, ZIP, SEVEN, LDAP, SQL, SMB = (
    "azPWsecret1",
    "zipPWsecret2",
    "sevenPWsecret3",
    "ldapPWsecret4",
    "sqlPWsecret5",
    "smbPWsecret6",
)
SECRETS = (PEM_BODY, SLACK, DISCORD, TELEGRAM, GOOGLE, AWS, AZ, ZIP, SEVEN, LDAP, SQL, SMB)

SCRIPT = f"""
aws configure set aws_secret_access_key {AWS}
aws configure set region eu-west-1
az login --service-principal -u app -p {AZ} --tenant t
zip -P {ZIP} out.zip f
7z a -p{SEVEN} out.7z f
ldapsearch -x -D cn=admin -w {LDAP}
sqlcmd -S db -U sa -P {SQL}
smbclient //host/share -U alice%{SMB}
curl -d x https://hooks.slack.com/services/{SLACK}
curl https://api.telegram.org/bot{TELEGRAM}/sendMessage
curl -H "x: {GOOGLE}" https://example.invalid
ssh-add - "$DEPLOY_SSH"
"""


def test_no_secret_of_these_forms_reaches_an_artifact(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("aws", "az", "zip", "7z", "ldapsearch", "sqlcmd", "smbclient", "curl", "ssh-add"):
        (bin_dir / name).symlink_to("/bin/true")
    env = {
        k: v for k, v in os.environ.items() if k not in ("COLUMNS", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY")
    }
    env.update(
        PATH=f"{bin_dir}:{env['PATH']}",
        SLACK_WEBHOOK_URL=f"https://hooks.slack.com/services/{SLACK}",
        DISCORD_WEBHOOK=f"https://discord.com/api/webhooks/{DISCORD}",
        DEPLOY_SSH=PEM,
    )
    run = rotrace_cli("run", "-v", "--json", "t.json", "--", "sh", "-c", SCRIPT, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    trace = json.loads((tmp_path / "t.json").read_text())
    cmdlines = {p["cmdline"][0]: p["cmdline"] for p in trace["processes"]}
    assert cmdlines["aws"] in (["aws", "configure", "set", "region", "eu-west-1"],
                               ["aws", "configure", "set", "aws_secret_access_key", "***"])  # fmt: skip
    assert cmdlines["smbclient"] == ["smbclient", "//host/share", "-U", "alice%***"]  # the user is kept
    artifacts = {"run's output": run.stdout + run.stderr, "the JSON trace": (tmp_path / "t.json").read_text()}
    for args in (["report", "-v", "t.json"], ["report", "--format", "json", "t.json"]):
        proc = rotrace_cli(*args, cwd=tmp_path, env=env)
        artifacts[" ".join(args)] = proc.stdout + proc.stderr
    leaked = {what: [s for s in SECRETS if s in text] for what, text in artifacts.items()}
    assert all(not found for found in leaked.values()), leaked


LISTED = "listedPWsecret7"
ENCODED = "encodedTOKENsecret8"
SESSION = "53616c7465645f5fsessionSECRET9"
# A Python program running a command written as a list, handed a URL whose redirect carries a
# token percent-encoded, under a SESSION cookie variable
PROGRAM = f"""
import subprocess, sys
subprocess.run(["curl", "-u", "bob:{LISTED}", sys.argv[1]], check=True)
"""
URL = f"https://h.example/login?next=%2Fapp%3Ftoken%3D{ENCODED}"


def test_a_listed_an_encoded_and_a_session_secret_reach_no_artifact(tmp_path: Path) -> None:
    """What the command line's reader once left: a command written as a list inside a script, a
    pair percent-encoded inside a URL, a variable named only SESSION."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "curl").symlink_to("/bin/true")
    outside = ("COLUMNS", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY")
    env = {k: v for k, v in os.environ.items() if k not in outside}
    env.update(PATH=f"{bin_dir}:{env['PATH']}", SESSION=SESSION)
    argv = ["python3", "-c", PROGRAM, URL, SESSION]  # a bare value: known by its variable's name
    run = rotrace_cli("run", "-v", "--json", "t.json", "--", *argv, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    text = (tmp_path / "t.json").read_text()
    trace = json.loads(text)
    cmdlines = {Path(p["cmdline"][0]).name: p["cmdline"] for p in trace["processes"]}
    assert cmdlines["curl"][2] == "bob:***", cmdlines  # the program the list ran
    assert '"bob:***", sys.argv[1]' in cmdlines["python3"][2], cmdlines  # the list in the script
    assert cmdlines["python3"][3:] == ["https://h.example/login?next=%2Fapp%3Ftoken%3D***", "***"], cmdlines
    artifacts = {"run's output": run.stdout + run.stderr, "the JSON trace": text}
    for args in (["report", "-v", "t.json"], ["report", "--format", "json", "t.json"]):
        proc = rotrace_cli(*args, cwd=tmp_path, env=env)
        artifacts[" ".join(args)] = proc.stdout + proc.stderr
    leaked = {what: [s for s in (LISTED, ENCODED, SESSION) if s in out] for what, out in artifacts.items()}
    assert all(not found for found in leaked.values()), leaked
