"""The architecture's rooms, checked: each part of ``pipeline`` imports only the rooms below it (as its
``__init__`` says), ``taxonomy`` imports nothing of ours, ``review_store`` nothing of ``pipeline``,
and the app (``app.py``, ``pages/``, ``pipeline/app/``) never reaches an engine, not even through
another module."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
OURS = ("pipeline", "review_store", "taxonomy")
BASE = ("pipeline.errors", "pipeline.defaults", "pipeline.registry", "review_store", "taxonomy")
# what each room may import of ours, besides itself
ALLOWED = {
    "pipeline.text": ("pipeline.errors",),
    "pipeline.engines": (*BASE, "pipeline.text"),
    "pipeline.labelling": (*BASE, "pipeline.text"),
    "pipeline.stages": (*BASE, "pipeline.text", "pipeline.engines", "pipeline.labelling"),
    "pipeline.review": (*BASE, "pipeline.text", "pipeline.labelling", "pipeline.stages.label_agreement"),
    "pipeline.export": (*BASE, "pipeline.text"),
    "pipeline.steer": (*BASE, "pipeline.text", "pipeline.engines", "pipeline.export.options"),
    "pipeline.bench": (*BASE, "pipeline.text", "pipeline.engines", "pipeline.labelling", "pipeline.stages", "pipeline.review"),
    "pipeline.app": (*BASE, "pipeline.text", "pipeline.stages.funnel", "pipeline.review", "pipeline.bench.metrics",
                     "pipeline.bench.report", "pipeline.export"),
    "pipeline.flow": (*BASE, "pipeline.text", "pipeline.engines", "pipeline.labelling", "pipeline.stages",
                      "pipeline.review", "pipeline.export", "pipeline.steer", "pipeline.bench"),
    "pipeline.demo": (*BASE, "pipeline.flow", "pipeline.text", "pipeline.engines", "pipeline.labelling", "pipeline.stages", "pipeline.review",
                      "pipeline.bench", "pipeline.export"),
    "pipeline.cli": (*BASE, "pipeline"),
}


def imported_modules(path: Path) -> set[str]:
    """Every module an ``import`` names anywhere in the file, top level or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n for n in names if n.split(".")[0] in OURS}


def _within(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _room_of(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:2])


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_each_room_imports_only_what_its_init_allows(room):
    folder = REPO / Path(*room.split("."))
    crossings = [f"{path.relative_to(REPO)} imports {module}"
                 for path in sorted(folder.rglob("*.py")) for module in sorted(imported_modules(path))
                 if not _within(module, (room, *ALLOWED[room]))]
    assert not crossings, "\n".join(crossings)


def test_every_pipeline_module_is_in_a_room():
    loose = [p.name for p in (REPO / "pipeline").glob("*.py") if p.name not in ("__init__.py", "errors.py", "defaults.py", "registry.py")]
    assert not loose, f"modules outside a room: {loose}"
    rooms = {_room_of(p) for p in (REPO / "pipeline").glob("*/__init__.py")}
    assert rooms == set(ALLOWED)


def _loaded_after(imports: list[str]) -> set[str]:
    """The modules of ours loaded in a fresh interpreter after importing ``imports``."""
    code = ("import json, sys\n" + "".join(f"import {m}\n" for m in imports) +
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('pipeline', 'review_store', "
            "'taxonomy'))))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_taxonomy_imports_nothing_of_ours():
    modules = [f"taxonomy.{p.stem}" for p in (REPO / "taxonomy").glob("*.py") if p.stem != "__init__"]
    assert {m for m in _loaded_after(modules) if not m.startswith("taxonomy")} == set()


def test_review_store_imports_nothing_of_pipeline():
    modules = [f"review_store.{p.stem}" for p in (REPO / "review_store").glob("*.py") if p.stem != "__init__"]
    loaded = _loaded_after(modules)
    assert not {m for m in loaded if m.startswith("pipeline")} and loaded & set(modules) == set(modules)


def test_the_app_never_reaches_an_engine():
    files = [REPO / "app.py", *(REPO / "pages").glob("*.py"), *(REPO / "pipeline" / "app").glob("*.py")]
    modules = sorted({m for f in files for m in imported_modules(f)})
    loaded = _loaded_after(modules)
    assert "pipeline.app.shared" in loaded  # the check imported what the pages import
    assert not {m for m in loaded if m.startswith("pipeline.engines")}, sorted(loaded)


def test_no_module_imports_itself_round_about():
    """No import cycle among our modules, function-level imports included (they only hide one)."""
    graph = {}
    modules = {}
    for root in OURS:
        for path in (REPO / root).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for name, path in modules.items():
        graph[name] = {m for m in imported_modules(path) if m in modules and m != name}
    state, cycles = {}, []

    def visit(name: str, trail: list[str]) -> None:  # depth first; a module met again on the trail closes a cycle
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                cycles.append(" -> ".join(trail[trail.index(target):] + [target]))
            elif target not in state:
                visit(target, trail + [target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "\n".join(cycles)


def test_the_app_reads_only_through_its_window_and_cannot_reach_a_write(tmp_path, monkeypatch):
    """Pages name store queries as functions, never as strings; the reader takes APP_READS alone and runs
    them on a read-only connection, so even a query that wrote could not. A page imports no function that
    takes a store and opens none: whatever it writes goes through a named action of ``pipeline.app.actions``,
    the one module of the app that holds a writable connection."""
    import importlib
    import inspect
    import re
    import sqlite3

    from review_store import APP_READS, Store

    pages = [REPO / "app.py", *(REPO / "pages").glob("*.py")]
    sources = [*pages, *(REPO / "pipeline" / "app").glob("*.py")]
    for path in sources:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\bread\(\s*[\"']", text), f"{path.name} names a query as a string"
        for name in re.findall(r"\bread\(Store\.(\w+)", text):
            assert getattr(Store, name) in APP_READS, f"{path.name} reads Store.{name}, not in APP_READS"
    assert not {f.__name__ for f in APP_READS} & {"add_prompts", "save_annotations", "transaction", "vacuum"}

    reaching = []
    for path in pages:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in OURS:
                module = importlib.import_module(node.module)
                for alias in node.names:
                    thing = getattr(module, alias.name)
                    if callable(thing) and not isinstance(thing, type) and \
                            "store" in inspect.signature(thing).parameters:
                        reaching.append(f"{path.name} imports {node.module}.{alias.name}, which takes a store")
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Store":
                reaching.append(f"{path.name}:{node.lineno} opens a store")
    assert not reaching, reaching
    from pipeline.app import actions, shared

    writers = {path.name for path in (REPO / "pipeline" / "app").glob("*.py")
               if re.search(r"\bStore\((?![^)]*read_only=True)[^)]*\)(?!\.close\(\))", path.read_text(encoding="utf-8"))}
    assert writers == {"actions.py"}  # shared.py only opens read-only (and creates a missing store once)
    assert not [name for name, f in vars(actions).items() if inspect.isfunction(f) and f.__module__ == actions.__name__
                and not name.startswith("_") and "store" in inspect.signature(f).parameters]

    monkeypatch.setenv("MISALIGN_DB", str(tmp_path / "app.db"))
    Store(tmp_path / "app.db").close()
    with pytest.raises(TypeError, match="not a query the app may read"):
        shared.read(Store.save_annotations, rows=[])
    reader = shared._open_reader(str(tmp_path / "app.db"))
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.db.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")
    assert not hasattr(shared, "store")  # no writable store beside the window


def test_one_name_for_each_thing_that_labels():
    """A labeler is a named source of labels (imported:…, human:…, trained:…); the machine that labels is
    a labelling model. The old spelling lives only in names other programs hold: Argilla's field
    ``labeller_guess`` and the ``judge_may_be_labeller`` setting recorded in older stores."""
    held = ("labeller_guess", "judge_may_be_labeller")
    files = [REPO / "README.md", *(REPO / "docs").glob("*.md"), *(REPO / "pages").glob("*.py"),
             *(p for root in OURS for p in (REPO / root).rglob("*.py"))]
    found = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for word in held:
                line = line.replace(word, "")
            if "labeller" in line.lower():
                found.append(f"{path.relative_to(REPO)}:{number}")
    assert not found, found


def test_the_engines_room_names_no_stage():
    """Stages are declared once, in ``pipeline.registry``; the engines room reads their roles, sampling and
    sections from there and spells no stage's or section's name itself (docstrings aside)."""
    from pipeline.registry import SECTIONS, STAGES

    names = set(STAGES) | set(SECTIONS)
    found = []
    for path in sorted((REPO / "pipeline" / "engines").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                      and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
        found += [f"{path.name}:{node.lineno} {node.value!r}" for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and node.value in names and id(node) not in docstrings]
    assert not found, found
