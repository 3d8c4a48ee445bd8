"""The package's import graph: no module imports (directly or through others) one that imports it back."""
import ast
from pathlib import Path

import weakgan

SRC = Path(weakgan.__file__).parent


def import_graph() -> dict[str, set[str]]:
    """{module: the weakgan modules it imports}, counting imports inside functions too (a lazy import that
    closes a circle still ties the two modules together)."""
    modules = {}
    for path in SRC.rglob("*.py"):
        parts = ("weakgan", *path.relative_to(SRC).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("weakgan"):
                found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                          for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("weakgan")}
        graph[name] = {m for m in found if m in modules and m != name and m != "weakgan"}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}   # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep, path + [dep])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_find_cycle_sees_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_package_has_no_import_circle():
    graph = import_graph()
    assert {"weakgan.run", "weakgan.run_folder", "weakgan.stages.classifier", "weakgan.teacher"} <= set(graph)
    assert "weakgan.run_folder" in graph["weakgan.teacher"]   # the graph does see imports inside functions
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
