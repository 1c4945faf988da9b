"""The import rules of the layout: the core never imports the bot, the answer path never imports the
lab (training, calibration, benchmarks) nor trains, and no package has import cycles.

Every import counts, including those inside functions (a lazy import still ties two modules
together); only imports under `if TYPE_CHECKING:` are left out, since they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("retriever", "bot", "lab")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, only_in: str = "") -> set[str]:
    """What `path` imports; with `only_in`, what it imports outside the function of that name."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if only_in and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == only_in:
            return
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _graph() -> dict[str, set[str]]:
    files = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py")]
    modules = {_module_name(p): p for p in files}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {m for m in _imports(path) if m in modules and m != name}
    return graph


def test_the_core_never_imports_the_bot() -> None:
    offenders = {
        name: sorted(m for m in deps if m == "bot" or m.startswith("bot."))
        for name, deps in _graph().items()
        if name.startswith("retriever")
    }
    assert not {k: v for k, v in offenders.items() if v}


def _is_lab(module: str) -> bool:
    return module == "lab" or module.startswith("lab.")


def test_the_answer_path_never_imports_the_lab() -> None:
    """Only `newsqa bench` reaches into the lab, and only when it runs (a lazy import in cmd_bench)."""
    offenders = {
        name: sorted(filter(_is_lab, deps))
        for name, deps in _graph().items()
        if not _is_lab(name) and name != "retriever.cli"
    }
    assert not {k: v for k, v in offenders.items() if v}
    outside_bench = _imports(ROOT / "retriever" / "cli.py", only_in="cmd_bench")
    assert not list(filter(_is_lab, outside_bench))
    assert "lab.benchmarks" in _imports(ROOT / "retriever" / "cli.py")  # the rule is about something real


def test_the_product_does_not_train() -> None:
    """No optimiser, no backward pass, no training loop in `retriever/` or `bot/`: that is the lab's."""
    found: dict[str, list[str]] = {}
    for package in ("retriever", "bot"):
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            hits = [m for m in _imports(path) if m.startswith(("torch.optim", "torch.utils.data"))]
            hits += [
                f"line {node.lineno}: .{node.func.attr}()"
                for node in ast.walk(tree)
                if isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"backward", "zero_grad"}
            ]
            if hits:
                found[_module_name(path)] = hits
    assert not found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    # A package imports its own __init__ on every submodule import: leave package edges out,
    # they are not the two-way dependencies this test is about.
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if node.startswith(dep + ".") or dep.startswith(node + "."):
                continue
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycles(package: str) -> None:
    graph = {k: {d for d in v if d.startswith(package)} for k, v in _graph().items() if k.startswith(package)}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])
