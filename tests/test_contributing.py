"""The contributor's guide names only files that exist, and says how few each new part touches."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GUIDE = REPO / "docs" / "contributing.md"


def test_every_file_the_guide_names_exists():
    named = set(re.findall(r"`([\w./-]+/[\w.-]+\.(?:py|md))`", GUIDE.read_text(encoding="utf-8")))  # paths
    assert len(named) > 10
    assert sorted(p for p in named if "N_Name" not in p and not (REPO / p).is_file()) == []


def test_a_backend_is_its_engine_module_and_one_declaration():
    guide = GUIDE.read_text(encoding="utf-8")
    section = guide.split("## An engine backend")[1].split("\n## ")[0]
    code = {p for p in re.findall(r"`(pipeline/[\w./]+\.py)`", section)}
    assert code == {"pipeline/engines/protocol.py", "pipeline/engines/first_token.py", "pipeline/engines/llamacpp.py",
                    "pipeline/engines/backends.py"}  # read two, copy one, declare in one


def test_each_new_part_touches_fewer_files_than_before():
    """What a newcomer changes to add a part, as the guide lists it: fewer files than the 5, 12 and 4 it took
    before each stage, option and capability was declared once."""
    guide = GUIDE.read_text(encoding="utf-8")
    touched = {}
    for part in ("An engine backend", "A stage", "A page"):
        section = guide.split(f"## {part}")[1].split("\n## ")[0]
        line = section.split("Touches:")[1].split("\n\n")[0].split("; and")[0]  # what every such part touches
        touched[part] = re.findall(r"`([\w./-]+\.py)`", line)
    assert len(touched["An engine backend"]) < 5 and len(touched["A stage"]) < 12 and len(touched["A page"]) < 4, touched
    assert "pipeline/registry.py" in touched["A stage"] and "pipeline/engines/config.py" not in touched["A stage"]
