"""The scoring layer does not reach up: scoring imports neither the report nor the
orchestration; benchmarks.evaluate sits above both; the old import path still works."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers.scoring import three_image_world, write_json

ROOT = Path(__file__).resolve().parents[3]


def test_scoring_loads_no_report(tmp_path):
    gt, res = three_image_world()
    gp, rp = write_json(tmp_path / "gt.json", gt), write_json(tmp_path / "res.json", res)
    code = ("import sys, json; from benchmarks.scoring import score_files; "
            f"s = score_files({str(gp)!r}, {str(rp)!r}, bootstrap=5, protocol='crowdpose'); "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('benchmarks'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert "benchmarks.scoring.score" in loaded
    assert not {"benchmarks.scores_report", "benchmarks.evaluate"} & set(loaded), loaded


def test_evaluate_writes_scores_and_report_and_scoring_no_longer_offers_it(tmp_path):
    from benchmarks import scoring
    from benchmarks.evaluate import score_and_report

    assert not hasattr(scoring, "score_and_report")
    gt, res = three_image_world()
    gp, rp = write_json(tmp_path / "gt.json", gt), write_json(tmp_path / "res.json", res)
    s = score_and_report(gp, rp, tmp_path / "out", bootstrap=0, method="M")
    assert json.loads((tmp_path / "out" / "scores.json").read_text()) == json.loads(json.dumps(s))
    assert (tmp_path / "out" / "report.md").read_text().startswith("# Scores: M")


def _upward_imports(path: Path) -> list[tuple[str, str]]:
    """(enclosing function, module) of each import that leaves benchmarks.scoring for benchmarks.*."""
    import ast

    tree = ast.parse(path.read_text())
    found = []

    def visit(node, func):
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else func
            if isinstance(child, ast.ImportFrom):
                mod = child.module or ""
                if child.level >= 2 or (child.level == 0 and mod.startswith("benchmarks")
                                        and not mod.startswith("benchmarks.scoring")):
                    found.append((name, "." * child.level + mod))
            elif isinstance(child, ast.Import):
                found.extend((name, a.name) for a in child.names
                             if a.name.startswith("benchmarks") and not a.name.startswith("benchmarks.scoring"))
            visit(child, name)

    visit(tree, "<module>")
    return found


def test_no_scoring_module_imports_upwards():
    """No scoring module names a layer above it (evaluate, report, methods, cli)."""
    found = {p.name: _upward_imports(p) for p in (ROOT / "benchmarks" / "scoring").glob("*.py")}
    assert found and all(v == [] for v in found.values()), found
