"""The structure docs/architecture.md promises: imports go one way, with no cycle (not even
between modules of one level); only the registry knows
the families (a family is one file in zoo/models, found by name); only zoo/tasks names a task
and only zoo/formats names an export format."""

import ast
import pathlib

import pytest

ZOO = pathlib.Path(__file__).resolve().parents[1] / "zoo"
# Lower layers never import higher ones (cli is the top, these are the floor).
LEVELS = {
    "zoo.cli": 7, "zoo.__main__": 7, "zoo.task_commands": 7,
    "zoo.ship": 6,
    "zoo.pretrained": 5,
    "zoo.training": 4, "zoo.export": 4, "zoo.runtime": 4, "zoo.environment_report": 4,
    "zoo.checkpoints": 3, "zoo.tasks": 3, "zoo.distribute": 3, "zoo.inference": 3, "zoo.manifest": 3, "zoo.cards": 3,
    "zoo.runs": 3, "zoo.recipe": 3,  # a recipe's data is checked by its task
    "zoo.models": 2, "zoo.formats": 2,
    "zoo.registry": 1, "zoo.layers": 1, "zoo.generate": 1, "zoo.data": 1, "zoo.storage": 1, "zoo.errors": 1,
    "zoo.arguments": 1, "zoo.backend": 1, "zoo.plugins": 1, "zoo.compat": 1, "zoo.plots": 1, "zoo.environment": 1,
    "zoo": 1,  # the package facade re-exports the registry; a new module defaults to the floor
}
FAMILY_HELPERS = {"zoo.models.recurrent_state"}  # shared building blocks, not families


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ZOO.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def level(name: str):
    while name and name not in LEVELS:
        name = name.rpartition(".")[0]
    return LEVELS.get(name)


def zoo_imports(path: pathlib.Path) -> set[str]:
    """Every zoo module `path` imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("zoo")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("zoo"):
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


MODULES = sorted(ZOO.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ZOO)))
def test_imports_go_one_way(path):
    own = level(module_name(path))
    upward = [name for name in zoo_imports(path) if (level(name) or 0) > own]
    # The package facade hands out the shipped models (`zoo.load`) and training (`zoo.train`),
    # importing them only then.
    if module_name(path) == "zoo":
        upward = [name for name in upward if not name.startswith(("zoo.pretrained.", "zoo.training."))]
    assert not upward, f"{module_name(path)} imports modules above it: {upward}"


def import_graph() -> dict[str, set[str]]:
    """Each zoo module -> the zoo modules it imports (at module level or inside functions)."""
    modules = {module_name(path): path for path in MODULES}

    def owner(name):  # `zoo.data.images.read_idx` is in the module zoo.data.images
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    return {name: {owner(imported) for imported in zoo_imports(path)} - {name, ""} for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph`, its nodes in import order with the first repeated at the end, or None."""
    finished, path = set(), []

    def visit(node):
        if node in path:
            return path[path.index(node):] + [node]
        if node in finished:
            return None
        path.append(node)
        for imported in sorted(graph.get(node, ())):
            cycle = visit(imported)
            if cycle:
                return cycle
        path.pop()
        finished.add(node)
        return None

    return next((cycle for cycle in map(visit, sorted(graph)) if cycle), None)


def test_find_cycle_names_the_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle():
    """Levels let modules of one level import each other; that must never go round in a circle."""
    cycle = find_cycle(import_graph())
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


@pytest.mark.parametrize("path", [p for p in MODULES if not p.is_relative_to(ZOO / "models")],
                         ids=lambda p: str(p.relative_to(ZOO)))
def test_only_the_registry_knows_the_families(path):
    families = [name for name in zoo_imports(path)
                if name.startswith("zoo.models.") and not any(name.startswith(h) for h in FAMILY_HELPERS)]
    assert not families, f"{module_name(path)} imports a family module directly: {families}"


def named_strings(path: pathlib.Path) -> list[tuple[int, str]]:
    """The string constants of a module with their line, but docstrings."""
    tree = ast.parse(path.read_text())
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skipped.add(id(first.value))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped]


def test_only_the_tasks_name_a_task():
    """A task's behaviour lives in its module: nothing else branches on its name. The model
    families (zoo/models) know no task, but one may share a task's name (``seq2seq``)."""
    from zoo.tasks import list_tasks

    tasks = set(list_tasks())
    found = [f"{path.relative_to(ZOO)}:{line} {value!r}" for path in MODULES
             if not path.is_relative_to(ZOO / "tasks") and not path.is_relative_to(ZOO / "models")
             for line, value in named_strings(path) if value in tasks]
    assert not found, f"task names outside zoo/tasks: {found}"


def test_only_the_format_registry_names_a_format():
    """Formats are written and loaded through the zoo/formats package alone. "keras" is also the
    library's name (versions, backend checks), so it is left out of the textual check; its
    format is reached through ``zoo.formats.KERAS`` like the others."""
    from zoo import formats

    names = set(formats.names()) - {"keras"}
    found = [f"{path.relative_to(ZOO)}:{line} {value!r}" for path in MODULES if not path.is_relative_to(ZOO / "formats")
             for line, value in named_strings(path) if value in names]
    assert not found, f"format names outside zoo/formats: {found}"
