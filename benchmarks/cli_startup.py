"""CLI start-up: wall time of ``misalign --help``, ``status`` and ``init`` (median of 5) against the 1.0 s
target and against a baseline revision checked out beside this one, with the heaviest imports listed.

    python benchmarks/cli_startup.py [--json] [--repeat 5] [--baseline ec8fbd7]

The baseline (default: the last revision before the CLI loaded its commands lazily) is checked out
with ``git worktree`` into a temporary folder and run with the same Python, so both are measured in
one run on the same machine and load.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 1.0
COMMANDS = {"--help": ["--help"], "status": ["status"], "init": ["init"]}
# the entry point moved with the CLI; older revisions have pipeline/cli.py
ENTRY = "import sys; sys.path.insert(0, {repo!r}); from {module} import app; sys.argv[0] = 'misalign'; app()"


def entry_module(repo: Path) -> str:
    return "pipeline.cli.main" if (repo / "pipeline" / "cli" / "main.py").exists() else "pipeline.cli"


def time_command(repo: Path, args: list[str], store: Path, repeat: int) -> float:
    """Median wall seconds of the CLI in ``repo`` running ``args`` on ``store`` (a new process each time)."""
    code = ENTRY.format(repo=str(repo), module=entry_module(repo))
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, "--db", str(store), *args], cwd=repo, capture_output=True,
                       check=True)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def top_imports(repo: Path, limit: int = 8) -> list[tuple[str, float]]:
    """The slowest packages the CLI module loads (cumulative seconds each, ``python -X importtime``;
    a package imported by another counts in both)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c",
                           f"import sys; sys.path.insert(0, {str(repo)!r}); import {entry_module(repo)}"],
                          cwd=repo, capture_output=True, text=True, check=True)
    rows = {}
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s*(\S+)", line)
        if match and ("." not in match.group(2) or match.group(2) == entry_module(repo)):
            rows[match.group(2)] = int(match.group(1)) / 1e6
    return sorted(rows.items(), key=lambda r: -r[1])[:limit]


def measure(repo: Path, folder: Path, repeat: int) -> dict[str, float]:
    store = folder / f"startup-{repo.name}.db"  # each revision on a store of its own schema
    subprocess.run([sys.executable, "-c", ENTRY.format(repo=str(repo), module=entry_module(repo)), "--db", str(store),
                    "init"], cwd=repo, capture_output=True, check=True)
    return {name: time_command(repo, args, store, repeat) for name, args in COMMANDS.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline", default="ec8fbd7", help="git revision to compare with ('' for none)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ours = measure(REPO, tmp, args.repeat)
        theirs = {}
        if args.baseline:
            checkout = tmp / "baseline"
            subprocess.run(["git", "worktree", "add", "--detach", str(checkout), args.baseline], cwd=REPO,
                           capture_output=True, check=True)
            try:
                theirs = measure(checkout, tmp, args.repeat)
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(checkout)], cwd=REPO, capture_output=True)
        imports = top_imports(REPO)

    result = {"target_seconds": TARGET_SECONDS, "repeat": args.repeat, "baseline": args.baseline or None,
              "commands": {name: {"seconds": round(s, 3), "baseline_seconds": round(theirs[name], 3) if theirs else None,
                                  "speed-up": round(theirs[name] / s, 2) if theirs else None,
                                  "within_target": s < TARGET_SECONDS} for name, s in ours.items()},
              "top_imports": [{"module": m, "seconds": round(s, 3)} for m, s in imports]}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"misalign start-up, median of {args.repeat} (target < {TARGET_SECONDS:.1f} s; baseline {args.baseline})")
    print(f"{'command':10} {'now s':>7} {'baseline s':>10} {'speed-up':>8}  within target")
    for name, row in result["commands"].items():
        base = f"{row['baseline_seconds']:10.2f}" if theirs else f"{'-':>10}"
        ratio = f"{row['speed-up']:7.1f}x" if theirs else f"{'-':>8}"
        print(f"{name:10} {row['seconds']:7.2f} {base} {ratio}  {'yes' if row['within_target'] else 'NO'}")
    print("\nslowest imports of the CLI module (cumulative s):")
    for row in result["top_imports"]:
        print(f"  {row['module']:40} {row['seconds']:6.3f}")


if __name__ == "__main__":
    main()
