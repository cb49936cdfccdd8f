"""The import graph of gateway/ and modem/, read from the source (ast): no module takes
part in an import cycle at run time (imports under ``if TYPE_CHECKING:`` excepted), and
each package imports only the packages its docstring allows (the table below, which is
the "Architecture" section of README.md in code)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KERNEL = {"gateway.clock", "gateway.errors", "gateway.logs", "gateway.metrics", "gateway.deps"}
BELOW_FACES = KERNEL | {"gateway.config", "gateway.crypto", "gateway.i18n", "gateway.storage",
                        "gateway.guard", "gateway.verification", "modem"}
#: What each part of gateway/ may import at run time, besides itself (and `gateway`'s
#: own __init__, which holds the version). `modem` is the whole modem package.
ALLOWED = {
    **{module: KERNEL | {"modem"} for module in KERNEL},
    "gateway.crypto": KERNEL,
    "gateway.i18n": KERNEL,
    "gateway.config": KERNEL | {"gateway.crypto", "modem"},
    "gateway.storage": KERNEL | {"gateway.config", "modem"},
    "gateway.guard": KERNEL | {"gateway.config", "gateway.storage", "modem"},
    "gateway.verification": BELOW_FACES,
    "gateway.pipeline": BELOW_FACES,
    "gateway.http": BELOW_FACES,
    "gateway.api": set(),  # the package docstring only
    "gateway.api.msisdn_v1": BELOW_FACES | {"gateway.http"},
    "gateway.api.service": BELOW_FACES | {"gateway.http"},
    "gateway.api.simulator": BELOW_FACES | {"gateway.http"},
    # The admin page shows the listings and sends the test SMS of the admin commands.
    "gateway.api.admin": BELOW_FACES | {"gateway.http", "gateway.admin"},
    "gateway.api.textsecure": BELOW_FACES | {"gateway.http"},
    "gateway.api.camara": BELOW_FACES | {"gateway.http"},
    "gateway.api.sna": BELOW_FACES | {"gateway.http"},
    "gateway.api.app": BELOW_FACES | {"gateway.http", "gateway.api.msisdn_v1", "gateway.api.admin",
                                      "gateway.api.service", "gateway.api.simulator",
                                      "gateway.api.textsecure", "gateway.api.camara",
                                      "gateway.api.sna"},
    "gateway.process": BELOW_FACES | {"gateway.http", "gateway.api.app", "gateway.pipeline"},
    "gateway.admin": BELOW_FACES | {"gateway.pipeline", "gateway.process"},
    "gateway.cli": BELOW_FACES | {"gateway.pipeline", "gateway.process", "gateway.admin"},
}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules_of(root: Path, *packages: str) -> dict[str, Path]:
    return {module_name(path, root): path
            for package in packages for path in sorted((root / package).rglob("*.py"))}


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = getattr(test, "id", None) or getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                skipped.update(id(inner) for child in node.body for inner in ast.walk(child))
    return skipped


def runtime_imports(path: Path, name: str, known: dict[str, Path]) -> set[str]:
    """The known modules that ``path`` (module ``name``) imports at run time, anywhere in
    the file (a function-level import runs too), resolving relative imports; ``from p
    import m`` names the module ``p.m`` when it is one, else ``p``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skipped = _type_checking_only(tree)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                         for a in node.names)
    return {module for module in found if module in known and module != name}


def import_graph(root: Path, *packages: str) -> dict[str, set[str]]:
    known = modules_of(root, *packages)
    return {name: runtime_imports(path, name, known) for name, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
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


def part_of(module: str) -> str | None:
    """The row of ALLOWED a gateway module belongs to (None for gateway/__init__)."""
    parts = module.split(".")
    if parts[0] == "modem":
        return "modem"
    if len(parts) == 1:
        return None
    if parts[1] == "api" and len(parts) > 2:
        return ".".join(parts[:3])
    return ".".join(parts[:2])


def test_the_reader_finds_a_planted_cycle_and_ignores_type_checking_imports(tmp_path):
    # The checks below are only as good as this reader: prove it on a known sample.
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("def later():\n    from .c import thing\n")
    (package / "c.py").write_text("import pkg.a\n")
    (package / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                  "    from pkg.e import E\n")
    (package / "e.py").write_text("from pkg import d\n")

    graph = import_graph(tmp_path, "pkg")

    assert graph["pkg.b"] == {"pkg.c"}
    assert graph["pkg.d"] == set()
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_no_module_of_gateway_or_modem_is_part_of_an_import_cycle():
    graph = import_graph(ROOT, "gateway", "modem")

    assert "gateway.cli.admin_commands" in graph["gateway.cli.server_commands"]
    assert cycles(graph) == []


def test_each_package_imports_only_what_its_docstring_allows():
    graph = import_graph(ROOT, "gateway", "modem")
    offences = {}
    for module, imported in graph.items():
        part = part_of(module)
        if part is None or part == "modem":
            continue
        assert part in ALLOWED, f"{module}: a new package needs a row in ALLOWED"
        bad = sorted(name for name in imported
                     if part_of(name) not in ALLOWED[part] | {part, None})
        if bad:
            offences[module] = bad
    assert offences == {}


def test_the_faces_never_import_each_other():
    graph = import_graph(ROOT, "gateway", "modem")
    faces = {part_of(module) for module in graph
             if module.startswith("gateway.api.") and module != "gateway.api.app"}
    crossings = {module: sorted(part_of(name) for name in imported
                                if part_of(name) in faces - {part_of(module)})
                 for module, imported in graph.items() if part_of(module) in faces}

    assert len(faces) >= 3
    assert {module: names for module, names in crossings.items() if names} == {}


def test_python_dash_m_gateway_cli_has_every_command_without_re_importing_itself():
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gateway.cli", "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=60)

    assert completed.returncode == 0, completed.stderr
    for command in ("serve", "api", "worker", "keys", "db", "modems", "send", "selftest",
                    "probe", "sim", "outbox", "inbox", "guard"):
        assert f"  {command} " in completed.stdout
    imported = [line.rsplit("|", 1)[-1].strip() for line in completed.stderr.splitlines()
                if line.startswith("import time:")]
    assert imported.count("gateway.cli.server_commands") == 1


def test_the_at_and_pdu_packages_stand_on_their_own():
    graph = import_graph(ROOT, "modem")
    offences = {module: sorted(name for name in imported
                               if not name.startswith(package) and name != "modem.exceptions")
                for package in ("modem.at", "modem.pdu")
                for module, imported in graph.items() if module.startswith(package)}

    assert any(module.startswith("modem.at.") for module in offences)
    assert {module: names for module, names in offences.items() if names} == {}


def test_every_package_opens_with_a_docstring_saying_what_it_may_import():
    packages = sorted(path for package in ("gateway", "modem")
                      for path in (ROOT / package).rglob("__init__.py")
                      if "migrations" not in path.parts)
    silent = [str(path.relative_to(ROOT)) for path in packages
              if "import" not in (ast.get_docstring(ast.parse(path.read_text())) or "")]

    assert len(packages) >= 15
    assert silent == []
