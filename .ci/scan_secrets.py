"""Fail when a file git tracks looks like a credential: the kinds of key this project meets (a local
Argilla's owner key, API keys of model hubs and servers, private keys, a password or key written as a
value in a settings file). Prints one line per finding (file, line, kind; never the secret itself).

    python .ci/scan_secrets.py [REPO]      # exit 1 on any finding
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

PATTERNS = {
    "an Argilla owner API key": re.compile(r"\bowner\.[0-9a-f]{32}\b"),
    "a private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "an OpenAI-style API key": re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"),
    "a Hugging Face token": re.compile(r"\bhf_[A-Za-z0-9]{30,}"),
    "a GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}"),
    "an AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    # a literal value of 12+ characters under a credential's name, as JSON, TOML, YAML or an assignment
    "a credential value": re.compile(
        r"""["']?\b(api_key|apikey|password|secret|token)["']?\s*[:=]\s*["']([^"'\s$<>{}]{12,})["']""", re.I),
}
# values of the credential-value kind that name a placeholder or a variable, not a secret
PLACEHOLDERS = re.compile(r"^(your|example|changeme|placeholder|x+|\.+|test|dummy)", re.I)


def findings(repo: Path) -> list[str]:
    """``file:line: kind`` for every tracked file's line that looks like a credential."""
    files = subprocess.run(["git", "-C", str(repo), "ls-files", "-z"], capture_output=True, check=True).stdout
    found = []
    for name in filter(None, files.decode().split("\0")):
        path = repo / name
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            text = path.read_bytes().decode("latin-1")  # binary files can hold keys too
        for number, line in enumerate(text.splitlines(), 1):
            for kind, pattern in PATTERNS.items():
                match = pattern.search(line)
                if match and not (kind == "a credential value" and PLACEHOLDERS.match(match.group(2))):
                    found.append(f"{name}:{number}: looks like {kind}")
    return found


if __name__ == "__main__":
    repo = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    lines = findings(repo)
    for line in lines:
        print(line)
    print(f"scan_secrets: {len(lines)} possible credentials in the files git tracks" if lines else
          "scan_secrets: no credential in the files git tracks")
    sys.exit(1 if lines else 0)
