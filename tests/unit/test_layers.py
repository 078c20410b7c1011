"""The layers the architecture page promises, read from the code: knowledge/
is pure, hosts/ imports no step, steps/ no task, and no module of fabfile/
takes part in an import cycle (imports inside functions count)."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "fabfile"
# Libraries that talk to hosts or drive the command line.
HOST_LIBRARIES = {"fabric", "invoke", "paramiko", "psycopg2"}


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path):
    """(fabfile modules, other top-level packages) that a module imports."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    ours, others = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                (ours if alias.name.startswith("fabfile") else others).add(
                    alias.name if alias.name.startswith("fabfile") else alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            if not target.startswith("fabfile"):
                others.add(target.split(".")[0])
                continue
            for alias in node.names:   # `from . import x`: the module x where there is one
                sub = f"{target}.{alias.name}"
                ours.add(sub if sub in MODULES else target)
    return ours, others


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: imports(path) for name, path in MODULES.items()}


def layer(name):
    parts = name.split(".")
    return parts[1] if len(parts) > 2 else "top"


def test_no_import_cycle():
    ours = {name: {t for t in found if t in MODULES and t != name}
            for name, (found, _) in GRAPH.items()}
    state, cycles = {}, []

    def visit(name, path):
        state[name] = "open"
        for target in sorted(ours[name]):
            if state.get(target) == "open":
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[name] = "done"
    for name in sorted(ours):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if layer(n) == "knowledge"))
def test_knowledge_is_pure(name):
    ours, others = GRAPH[name]
    assert {layer(t) for t in ours if t in MODULES} <= {"knowledge"}, ours
    assert not others & HOST_LIBRARIES, others


@pytest.mark.parametrize("name", sorted(n for n in MODULES if layer(n) == "hosts"))
def test_hosts_import_no_step(name):
    ours, _ = GRAPH[name]
    assert {layer(t) for t in ours if t in MODULES} <= {"knowledge", "hosts"}, ours


@pytest.mark.parametrize("name", sorted(n for n in MODULES if layer(n) == "steps"))
def test_steps_import_no_task(name):
    ours, _ = GRAPH[name]
    assert {layer(t) for t in ours if t in MODULES} <= {"knowledge", "hosts", "steps"}, ours


def test_the_checker_sees_imports():
    """It would see a cycle: it reads both kinds of import, and relative ones."""
    found, others = GRAPH["fabfile.steps.clone"]
    assert "fabfile.steps.server" in found and "fabfile.knowledge.datadir" in found
    assert "fabfile.hosts.cluster" in found
    assert "fabric" in GRAPH["fabfile.hosts.remote"][1]
