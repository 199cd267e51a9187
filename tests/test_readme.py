"""The README's commands work as written: every ```bash block, in order, in one shell, in a folder
holding a copy of the demo store (as `make demo` leaves it), with the installed `misalign` on PATH."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from review_store import Store

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def readme_blocks() -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", (REPO / "README.md").read_text(encoding="utf-8"), re.S | re.M)


def test_the_readme_has_runnable_blocks_and_stays_a_short_guide():
    assert len(readme_blocks()) >= 5
    assert len((REPO / "README.md").read_text(encoding="utf-8").splitlines()) <= 300
    for link in re.findall(r"\]\((docs/[^)#]+)", (REPO / "README.md").read_text(encoding="utf-8")):
        assert (REPO / link).is_file(), link


def test_every_readme_command_block_runs_as_written_on_the_demo_store(demo_run, tmp_path):
    shutil.copy(demo_run[0], tmp_path / "demo.db")
    script = "set -eo pipefail\n" + "".join(f"echo '=== README block {i + 1}'\n{block}" for i, block in enumerate(readme_blocks()))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MISALIGN_DB", None)
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    ran = done.stdout + done.stderr
    last = re.findall(r"=== README block \d+", done.stdout)[-1:]
    assert done.returncode == 0, f"{last}: {ran[-3000:]}"
    assert "Traceback" not in ran
    assert (tmp_path / "curated" / "hub" / "README.md").is_file() and (tmp_path / "labelled" / "responses.jsonl").is_file()
    with Store(tmp_path / "demo.db", read_only=True) as store:  # every report of the guide's runs adds up
        runs = store.stage_runs(limit=1000)
    assert all(r["items_in"] == r["kept"] + sum(r["dropped"].values()) for r in runs)
    # and each is recorded under the name its stage is registered with, so it can be looked up and worded
    from pipeline.registry import STAGES

    assert {r["stage"] for r in runs} - set(STAGES) == set()
    assert {"import_responses", "export_responses", "review_label_queue", "steer_build"} & {r["stage"] for r in runs}
