"""The modules a store or a taxonomy passes through on a real run, and how often a call climbs back up the
rooms: the shape of the house, measured by following the object rather than reading the imports.

Two runs are traced (``sys.setprofile``): ``bench.sweep.sweep`` on the demo's store (an export, a tiny
random hf model and a steering vector, strengths 0 and 1), following the store; and ``demo.run.run_demo``,
following the taxonomy. For each: the modules of ours a call carrying the object entered, the calls that
climbed (from a module of a lower room into a higher one, as a callback or a dispatch by name does), and
the re-entries (a call into a module already on the stack of calls that carry the object, other than the
caller's own). Run it on two checkouts to compare them: the numbers depend on the code, not the machine.

    python benchmarks/call_paths.py [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# the rooms from the bottom up (tests/test_rooms.py says what each may import); a call into a higher floor climbs
FLOORS = {"taxonomy": 0, "review_store": 0, "pipeline.errors": 0, "pipeline.defaults": 0, "pipeline.registry": 0,
          "pipeline.text": 1, "pipeline.engines": 2, "pipeline.labelling": 2, "pipeline.stages": 3,
          "pipeline.review": 4, "pipeline.export": 4, "pipeline.steer": 5, "pipeline.bench": 6, "pipeline.app": 7,
          "pipeline.flow": 7, "pipeline.demo": 8, "pipeline.cli": 9}


def _room(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] in ("taxonomy", "review_store"):
        return parts[0]
    return ".".join(parts[:2]) if parts[0] == "pipeline" and len(parts) > 1 else None


def follow(thing: object, run) -> dict:
    """Run ``run()`` and follow ``thing`` through every call of ours that takes it as an argument."""
    modules: list[str] = []
    climbs: set[tuple[str, str]] = set()
    reentries: set[tuple[str, str]] = set()
    stack: list[tuple[object, str]] = []  # (frame, module) of the calls carrying it, innermost last

    def profile(frame, event, arg):
        if event == "return":
            if stack and stack[-1][0] is frame:
                stack.pop()
            return
        if event != "call":
            return
        module = frame.f_globals.get("__name__", "")
        if _room(module) is None or not any(value is thing for value in frame.f_locals.values()):
            return
        if module not in modules:
            modules.append(module)
        if stack:
            caller = stack[-1][1]
            if caller != module:
                if FLOORS[_room(module)] > FLOORS[_room(caller)]:
                    climbs.add((caller, module))
                if module in {m for _, m in stack}:
                    reentries.add((caller, module))
        stack.append((frame, module))

    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
    return {"modules": len(modules), "climbs": len(climbs), "reentries": len(reentries), "module_list": modules,
            "climb_list": sorted(f"{a} -> {b}" for a, b in climbs),
            "reentry_list": sorted(f"{a} -> {b}" for a, b in reentries)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from benchmarks.tiny_model import build_tiny_model
    from pipeline.bench.sweep import sweep
    from pipeline.demo.run import run_demo
    from pipeline.engines.config import load_config
    from pipeline.engines.hf import HFEngine
    from pipeline.export.options import ExportOptions
    from pipeline.export.splits import export
    from pipeline.steer.build import build_vector
    from review_store import Store
    from taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    figures = {}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        print("the demo, following its taxonomy ...", file=sys.stderr, flush=True)
        figures["run_demo (the taxonomy)"] = follow(taxonomy, lambda: run_demo(folder / "demo.db", lambda line: None,
                                                                              taxonomy))
        model = build_tiny_model(folder / "tiny")
        config_path = folder / "misalign.toml"
        config_path.write_text(f'[engines.tiny]\nbackend = "hf"\nmodel = "{model}"\n', encoding="utf-8")
        with Store(folder / "demo.db") as store:
            export_id = export(store, taxonomy, options=ExportOptions(
                licence="unknown", out=folder / "export", ratios=(0.4, 0.3, 0.3))).notes.export_id
            vector = build_vector(HFEngine(str(model)), store.bench_pairs("all", (export_id, "train")), [1])
            path = vector.save(folder / "v.safetensors")
            print("a steering sweep, following its store ...", file=sys.stderr, flush=True)
            figures["bench.sweep.sweep (the store)"] = follow(store, lambda: sweep(
                store, taxonomy, load_config(config_path), "tiny", str(path), export_id, [0, 1], samples=50))
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{'run (object followed)':34} {'modules':>8} {'climbs':>7} {'re-entries':>11}")
    for name, f in figures.items():
        print(f"{name:34} {f['modules']:>8} {f['climbs']:>7} {f['reentries']:>11}")
    for name, f in figures.items():
        print(f"\n{name}\n  climbs: {'; '.join(f['climb_list']) or 'none'}\n  re-entries: "
              f"{'; '.join(f['reentry_list']) or 'none'}")


if __name__ == "__main__":
    main()
