"""The architecture's lines, held by reading the source (ast) and by importing it in a
fresh interpreter: modem never imports gateway, Flask or SQLAlchemy; verification logic
imports neither Flask nor pyserial; only gateway/config/settings.py reads the environment;
importing a module starts nothing."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_MODULE = ROOT / "gateway" / "config" / "settings.py"


def python_files(package: str) -> list[Path]:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no Python files under {package}/"
    return files


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, name: str | None = None) -> set[str]:
    """Every module named by an import statement in ``path`` (module ``name``), with
    relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = (name or module_name(path)).split(".")
    if path.name != "__init__.py":
        package.pop()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def forbidden_imports(package: str, forbidden: set[str]) -> dict[str, list[str]]:
    offences = {}
    for path in python_files(package):
        bad = sorted(name for name in imported_modules(path) if name.split(".")[0] in forbidden)
        if bad:
            offences[str(path.relative_to(ROOT))] = bad
    return offences


def test_the_import_reader_sees_absolute_relative_and_nested_imports(tmp_path):
    # The checks below are only as good as this reader: prove it on a known sample.
    sample = tmp_path / "x.py"
    sample.write_text("from ..gateway import app\nfrom . import pdu\nimport flask.json\n"
                      "def later():\n    from sqlalchemy import select\n")

    found = imported_modules(sample, "modem.x")

    assert {"gateway.app", "modem.pdu", "flask.json", "sqlalchemy.select"} <= found


def test_nothing_in_modem_imports_gateway_flask_or_sqlalchemy():
    assert forbidden_imports("modem", {"gateway", "flask", "werkzeug", "sqlalchemy"}) == {}


def test_nothing_in_verification_imports_flask_werkzeug_or_serial():
    assert forbidden_imports("gateway/verification",
                             {"flask", "werkzeug", "serial", "gsmmodem"}) == {}


def reads_environment(path: Path) -> list[int]:
    """Lines where ``path`` reads os.environ / os.getenv (or imports them from os)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    lines = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr in ("environ", "environb", "getenv",
                                                              "getenvb")
                and isinstance(node.value, ast.Name) and node.value.id == "os"):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os" and any(
                alias.name in ("environ", "environb", "getenv", "getenvb")
                for alias in node.names):
            lines.append(node.lineno)
    return lines


def test_only_the_settings_module_reads_the_environment():
    offences = {str(path.relative_to(ROOT)): reads_environment(path)
                for package in ("gateway", "modem") for path in python_files(package)
                if path != SETTINGS_MODULE and reads_environment(path)}

    assert offences == {}
    assert reads_environment(SETTINGS_MODULE), "the environment reader itself was not seen"


IMPORT_EVERYTHING = r"""
import gc, importlib, json, os, pkgutil, sys, threading

def fds():
    return set(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else set()

threads_before, fds_before = threading.active_count(), fds()
failed, imported = {}, []
for package_name in sys.argv[1:]:
    package = importlib.import_module(package_name)
    for info in pkgutil.walk_packages(package.__path__, package_name + "."):
        if info.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(info.name)
            imported.append(info.name)
        except Exception as exc:
            failed[info.name] = repr(exc)
gc.collect()
engines = 0
if "sqlalchemy" in sys.modules:
    from sqlalchemy.engine import Engine
    engines = sum(isinstance(o, Engine) for o in gc.get_objects())
ports = 0
if "serial" in sys.modules:
    import serial
    ports = sum(isinstance(o, serial.SerialBase) for o in gc.get_objects())
print(json.dumps({
    "imported": imported, "failed": failed,
    "threads": [t.name for t in threading.enumerate()],
    "new_threads": threading.active_count() - threads_before,
    "new_fds": sorted(fds() - fds_before), "engines": engines, "serial_ports": ports,
    "loaded": sorted({name.split(".")[0] for name in sys.modules}),
}))
"""


def import_in_fresh_interpreter(*packages: str) -> dict:
    completed = subprocess.run([sys.executable, "-c", IMPORT_EVERYTHING, *packages],
                               cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


@pytest.fixture(scope="module")
def everything_imported() -> dict:
    return import_in_fresh_interpreter("gateway", "modem")


def test_every_module_of_gateway_and_modem_imports(everything_imported):
    assert everything_imported["failed"] == {}
    assert "gateway.cli.server_commands" in everything_imported["imported"]
    assert "modem.pdu.codec" in everything_imported["imported"]


def test_importing_every_module_starts_no_thread(everything_imported):
    assert everything_imported["new_threads"] == 0, everything_imported["threads"]


def test_importing_every_module_opens_no_file_engine_or_serial_port(everything_imported):
    assert everything_imported["new_fds"] == []
    assert everything_imported["engines"] == 0
    assert everything_imported["serial_ports"] == 0


def test_importing_the_verification_logic_loads_neither_flask_nor_pyserial():
    loaded = set(import_in_fresh_interpreter("gateway.verification")["loaded"])

    assert not loaded & {"flask", "werkzeug", "serial", "gsmmodem"}


def test_importing_the_modem_package_loads_neither_gateway_flask_nor_sqlalchemy():
    loaded = set(import_in_fresh_interpreter("modem")["loaded"])

    assert not loaded & {"gateway", "flask", "werkzeug", "sqlalchemy"}
