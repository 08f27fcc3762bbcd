"""The layers of DESIGN.md, read from the sources (``ast``: nothing is imported): no import
circle between modules, each layer imports only layers below it, and no module imports a private
name of another package."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("cococrowd", "benchmarks", "baselines")
# lowest first; a module belongs to the longest prefix that names it
LAYERS = [
    ("format", ["cococrowd"]),
    ("scoring", ["benchmarks.scoring"]),
    ("data", ["benchmarks.data"]),
    ("analysis", ["benchmarks.analysis"]),
    ("engine", ["benchmarks.engine", "benchmarks.weights"]),
    ("methods", ["benchmarks.seqpose", "baselines"]),
    ("report", ["benchmarks.scores_report"]),
    ("orchestration", ["benchmarks.evaluate", "benchmarks.run"]),
    ("cli", ["benchmarks.cli", "cococrowd.cli", "benchmarks.launch", "cococrowd.launch", "benchmarks",
             "baselines"]),   # (and the package roots)
]


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(name: str, path: Path, known) -> list[tuple[str, list[str]]]:
    """(module, imported names) of every import of the project's modules, at any depth."""
    base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                module = alias.name
                while module and module not in known:
                    module = module.rpartition(".")[0]
                if module:
                    found.append((module, []))
        elif isinstance(node, ast.ImportFrom):
            parent = ".".join(base[:len(base) - node.level + 1] + [node.module or ""]).strip(".") if node.level \
                else node.module or ""
            for alias in node.names:
                sub = f"{parent}.{alias.name}"
                if sub in known:
                    found.append((sub, []))
                elif parent in known:
                    found.append((parent, [alias.name]))
    return [(m, names) for m, names in found if m != name]


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {m: {i for i, _ in _imports(m, p, known)} for m, p in known.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def _layer(module: str) -> int:
    best = max((len(p), rank) for rank, (_, prefixes) in enumerate(LAYERS) for p in prefixes
               if module == p or module.startswith(p + "."))
    return best[1]


def test_the_circle_finder_finds_a_circle():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_between_modules():
    graph = _graph()
    assert len(graph) > 50 and "benchmarks.scores_report" in graph["benchmarks.evaluate"]
    assert _circles(graph) == []


def test_each_layer_imports_only_layers_below_it():
    up = sorted((m, i) for m, imports in _graph().items() for i in imports
                if _layer(i) > _layer(m))
    assert up == [], up


def test_no_module_imports_a_private_name_of_another_package():
    known = _modules()
    private = [(m, i, n) for m, p in known.items() for i, names in _imports(m, p, known) for n in names
               if n.startswith("_") and i.split(".")[0] != m.split(".")[0]]
    assert private == [], private
