"""The layout of `falcoish/` (docs/architecture.md): no import cycle, no module over 500
lines, at most 8 modules directly in the package, and every stage package imports only the
stages before it.

Read with `ast` from the source (no import is executed), so a cycle through a function-level
or TYPE_CHECKING import counts too.  The checks are run on a small synthetic package first,
to show they do catch a cycle, a big module and a layering breach.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "falcoish"
MAX_LINES = 500
MAX_TOP_MODULES = 8
# Stage packages in pipeline order (docs/architecture.md): each may import the ones before it.
LAYERS = ("errors", "file_safety", "events", "syntax", "fields", "condition", "rulefiles", "config",
          "output", "rules", "runtime", "kernel_filter", "sources", "hunt", "api", "",
          "cli")


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (any import statement, anywhere in it)."""
    files = {module_name(root, p): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = package[:len(package) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module or ""
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    found.add(sub if sub in files else target)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[mod] = {m for m in found if m in files and m != mod}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def long_modules(root: Path, limit: int = MAX_LINES) -> dict[str, int]:
    return {str(p.relative_to(root.parent)): n for p in root.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > limit}


def stage(module: str) -> str:
    """`falcoish.rules.loader` -> `rules`; a top-level module is its own stage; the package
    itself is ''."""
    return module.split(".")[1] if "." in module else ""


def layering_breaches(graph: dict[str, set[str]], layers: tuple[str, ...]) -> list[str]:
    out = []
    for mod, deps in sorted(graph.items()):
        for dep in sorted(deps):
            a, b = stage(mod), stage(dep)
            if a != b and (a not in layers or b not in layers or layers.index(b) > layers.index(a)):
                out.append(f"{mod} imports {dep}")
    return out


def test_the_checks_catch_a_cycle_a_big_module_and_a_breach(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "low").mkdir(parents=True)
    (pkg / "high").mkdir()
    for init in (pkg / "__init__.py", pkg / "low" / "__init__.py", pkg / "high" / "__init__.py"):
        init.write_text("")
    (pkg / "low" / "a.py").write_text("from . import b\n")
    (pkg / "low" / "b.py").write_text("def f():\n    from .a import x\n")     # a cycle, in a function
    (pkg / "low" / "c.py").write_text("from ..high import d\n" + "x = 1\n" * 600)
    (pkg / "high" / "d.py").write_text("from ..low.a import b\n")
    graph = import_graph(pkg)
    assert cycles(graph) == [["pkg.low.a", "pkg.low.b"]]
    assert long_modules(pkg) == {"pkg/low/c.py": 601}
    assert layering_breaches(graph, ("low", "high")) == ["pkg.low.c imports pkg.high.d"]


def test_no_import_cycle_in_falcoish() -> None:
    assert cycles(import_graph(PACKAGE)) == []


def test_no_module_over_500_lines() -> None:
    assert long_modules(PACKAGE) == {}


def test_few_modules_directly_in_the_package() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_MODULES, top


def test_stages_import_only_earlier_stages() -> None:
    graph = import_graph(PACKAGE)
    assert {stage(m) for m in graph} <= set(LAYERS), sorted({stage(m) for m in graph} - set(LAYERS))
    assert layering_breaches(graph, LAYERS) == []


def test_every_stage_package_says_its_job() -> None:
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and "TODO" not in doc and len(doc.splitlines()) >= 2, init
