"""The systemd unit, the example configuration and the install script in systemd/.

`systemd-analyze verify` checks the unit (on a copy whose ExecStart is this venv's
command: verify insists that the binary exists); the example configuration is loaded by
the real settings loader; install.sh runs into a temporary root; and the gateway runs
under a seccomp filter that does what the unit's MemoryDenyWriteExecute=yes does."""
import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
import requests

from gateway.process import supervisor
from gateway.config.settings import FIELDS, load_settings
from modem.transport import ModemConfig

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD = ROOT / "systemd"
UNIT = SYSTEMD / "msisdn-gateway.service"
EXAMPLE = SYSTEMD / "config.example.toml"
INSTALL = SYSTEMD / "install.sh"
SCRIPT = Path(sys.executable).with_name("msisdn-gateway")
EXEC_START = ("/opt/msisdn-gateway/bin/msisdn-gateway --config "
              "/etc/msisdn-gateway/config.toml serve")
# Settings an operator never writes: what systemd itself passes to the service.
NOT_IN_EXAMPLE = {"journal_stream", "notify_socket", "watchdog_usec"}


def unit_values(text: str) -> dict[str, list[str]]:
    """``Key`` -> every value it is given in the unit (comments and sections dropped)."""
    values: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(s|min)?", value)
    assert match, value
    return int(match.group(1)) * (60 if match.group(2) == "min" else 1)


# ------------------------------------------------------------------ the unit


def verify(unit_text: str, directory: Path) -> str:
    """`systemd-analyze verify` on ``unit_text`` with this venv's command as ExecStart;
    returns its diagnostics (it exits 0 on unknown keys, so they are what counts)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    unit = directory / "msisdn-gateway.service"
    unit.write_text(unit_text.replace("ExecStart=/opt/msisdn-gateway/bin/msisdn-gateway",
                                      f"ExecStart={SCRIPT}"))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                            timeout=120)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 or output, "systemd-analyze failed without a word"
    return output


def test_the_unit_passes_systemd_analyze_verify(tmp_path):
    assert verify(UNIT.read_text(), tmp_path) == ""


def test_systemd_analyze_verify_does_see_a_misspelt_key(tmp_path):
    # The control for the test above: a diagnostic (with exit status 0) is a failure.
    text = UNIT.read_text().replace("ProtectSystem=strict", "ProtectSytem=strict")
    assert "Unknown key 'ProtectSytem'" in verify(text, tmp_path)


def test_the_unit_runs_serve_as_a_notify_service_with_a_watchdog():
    values = unit_values(UNIT.read_text())

    assert values["ExecStart"] == [EXEC_START]
    assert values["Type"] == ["notify"] and values["NotifyAccess"] == ["main"]
    assert values["Restart"] == ["on-failure"] and seconds(values["RestartSec"][0]) > 0
    assert seconds(values["WatchdogSec"][0]) >= 30  # keep-alives every half of it
    assert values["KillMode"] == ["mixed"]  # serve alone gets SIGTERM and stops the rest
    # A send in progress may hold the worker STOP_GRACE_SECONDS; then serve exits.
    assert seconds(values["TimeoutStopSec"][0]) > supervisor.STOP_GRACE_SECONDS


def test_the_unit_runs_as_its_own_user_with_the_modems_and_little_else():
    values = unit_values(UNIT.read_text())

    assert values["User"] == ["msisdn-gateway"] and values["Group"] == ["msisdn-gateway"]
    assert values["SupplementaryGroups"] == ["dialout"]
    assert values["StateDirectory"] == ["msisdn-gateway"]
    assert values["ConfigurationDirectory"] == ["msisdn-gateway"]
    assert values["CapabilityBoundingSet"] == [""] and values["UMask"] == ["0077"]
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "RestrictNamespaces",
                "LockPersonality", "MemoryDenyWriteExecute", "ProtectKernelTunables",
                "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups"):
        assert values[key] == ["yes"], key
    assert values["ProtectSystem"] == ["strict"] and values["PrivateDevices"] == ["no"]
    assert values["DevicePolicy"] == ["closed"]
    assert values["DeviceAllow"] == ["char-ttyUSB rw", "char-ttyACM rw"]
    assert values["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
    assert values["SystemCallArchitectures"] == ["native"]
    assert values["SystemCallFilter"][0] == "@system-service"


# ------------------------------------------------------------------ the example configuration


def test_the_example_configuration_loads_with_the_real_settings_loader():
    settings = load_settings(EXAMPLE, environ={})

    assert settings.state_dir == Path("/var/lib/msisdn-gateway")
    assert settings.public_url == "https://verify.example.org"
    assert (settings.host, settings.port) == ("127.0.0.1", 5000)
    assert settings.trusted_proxies == ("127.0.0.1/32", "::1/128")
    [modem] = settings.modems
    assert modem.url.startswith("/dev/gsm-modem-") and modem.daily_quota == 500
    assert not settings.simulate


def test_the_example_shows_every_setting_and_every_modem_key():
    text = EXAMPLE.read_text()
    shown = set(re.findall(r"^#? ?([a-z_]+) = ", text, re.MULTILINE))
    modem_keys = {f.name for f in dataclasses.fields(ModemConfig)}

    assert set(FIELDS) - {"modems"} - NOT_IN_EXAMPLE <= shown, \
        sorted(set(FIELDS) - {"modems"} - NOT_IN_EXAMPLE - shown)
    assert modem_keys <= shown, sorted(modem_keys - shown)
    assert "[[modems]]" in text


def test_every_commented_setting_of_the_example_is_valid_once_uncommented(tmp_path):
    # Uncomment the commented lines of the first [[modems]] table and of the settings
    # above it (the second table is left out: it would need a port of its own).
    lines = []
    for line in EXAMPLE.read_text().splitlines():
        if line.startswith("# [[modems]]"):
            break
        match = re.match(r"^# ([a-z_]+ = .*)$", line)
        if match and "database_url" not in line and "_key_file" not in line:
            line = match.group(1)
        lines.append(line)
    uncommented = tmp_path / "config.toml"
    uncommented.write_text("\n".join(lines) + "\n")

    settings = load_settings(uncommented, environ={})

    assert settings.mt_networks == ("208",) and settings.modems[0].pin == "1234"
    assert settings.modems[0].cnmi == "2,1,0,2,0"


# ------------------------------------------------------------------ install.sh


def test_the_install_script_is_valid_bash():
    result = subprocess.run(["bash", "-n", str(INSTALL)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert INSTALL.read_text().startswith("#!/bin/bash\n")
    assert os.access(INSTALL, os.X_OK)


@pytest.mark.skipif(shutil.which("shellcheck") is None,
                    reason="shellcheck is not installed (Debian: apt-get install shellcheck)")
def test_the_install_script_passes_shellcheck():
    result = subprocess.run(["shellcheck", str(INSTALL)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def source_copy(destination: Path) -> Path:
    """The files install.sh needs, copied (pip builds in the source tree)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in ("gateway", "modem", "systemd", "udev"):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, destination / name, ignore=ignore)
    for name in ("setup.py", "README.md"):
        shutil.copy2(ROOT / name, destination / name)
    return destination


def install(source: Path, root: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSISDN_GATEWAY_")}
    env.pop("DESTDIR", None)
    result = subprocess.run(
        ["bash", str(source / "systemd" / "install.sh"), "--root", str(root),
         "--python", sys._base_executable],
        capture_output=True, text=True, env=env, timeout=540)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """install.sh run once into a temporary root, from a copy of the source."""
    base = tmp_path_factory.mktemp("install")
    source, root = source_copy(base / "src"), base / "root"
    return source, root, install(source, root)


def test_the_install_script_lays_out_the_venv_config_keys_udev_rules_and_unit(installed):
    source, root, result = installed
    venv = root / "opt/msisdn-gateway"
    config = root / "etc/msisdn-gateway/config.toml"
    keys = root / "var/lib/msisdn-gateway/keys"

    assert config.read_text() == EXAMPLE.read_text()
    assert (root / "etc/systemd/system/msisdn-gateway.service").read_text() == UNIT.read_text()
    assert os.readlink(root / "usr/local/bin/msisdn-gateway") == \
        "/opt/msisdn-gateway/bin/msisdn-gateway"
    version = subprocess.run([str(venv / "bin/msisdn-gateway"), "--version"],
                             capture_output=True, text=True, timeout=60)
    assert version.stdout.startswith("msisdn-gateway, version "), version.stderr
    for name in ("signing-key.pem", "secret.hex"):
        assert (keys / name).stat().st_mode & 0o777 == 0o600, name
    assert keys.stat().st_mode & 0o777 == 0o700
    assert (config.parent.stat().st_mode & 0o777) == 0o750
    if (source / "udev/99-msisdn-gateway.rules").exists():
        assert (root / "etc/udev/rules.d/99-msisdn-gateway.rules").read_bytes() == \
            (source / "udev/99-msisdn-gateway.rules").read_bytes()
    assert "==> done" in result.stdout and "--root: not run: chown" in result.stdout


def test_the_installed_command_migrates_a_database_with_the_installed_config(
        installed, tmp_path):
    _, root, _ = installed
    venv = root / "opt/msisdn-gateway"
    # the migrations are package data (not packages): a plain `pip install .` must ship them
    assert list(venv.glob("lib/python3*/site-packages/gateway/storage/migrations/env.py"))
    assert list(venv.glob("lib/python3*/site-packages/gateway/storage/migrations/versions/"
                          "0004_*.py"))
    migrated = subprocess.run(
        [str(venv / "bin/msisdn-gateway"), "--config", str(root / "etc/msisdn-gateway/config.toml"),
         "db", "upgrade", "--state-dir", str(tmp_path)], capture_output=True, text=True,
        timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    assert "database at revision" in migrated.stdout


def test_running_the_install_script_again_upgrades_the_code_and_keeps_config_and_keys(
        installed):
    source, root, _ = installed
    config = root / "etc/msisdn-gateway/config.toml"
    keys = root / "var/lib/msisdn-gateway/keys"
    config.write_text(config.read_text().replace("verify.example.org", "sms.example.net"))
    key_bytes = {p.name: p.read_bytes() for p in keys.iterdir()}
    (source / "gateway" / "installed_probe.py").write_text("UPGRADED = True\n")

    again = install(source, root)

    assert "sms.example.net" in config.read_text()
    assert {p.name: p.read_bytes() for p in keys.iterdir()} == key_bytes
    assert "kept as it is" in again.stdout and "kept as they are" in again.stdout
    assert list((root / "opt/msisdn-gateway").glob(
        "lib/python3*/site-packages/gateway/installed_probe.py"))


def test_the_install_script_refuses_to_touch_the_system_without_root_or_a_root_dir(
        tmp_path):
    if os.geteuid() == 0:
        result = subprocess.run(["bash", str(INSTALL), "--bogus"], capture_output=True,
                                text=True)
        assert result.returncode == 1 and "unknown option: --bogus" in result.stderr
        return
    result = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True)
    assert result.returncode == 1 and "run it as root" in result.stderr


# ------------------------------------------------------------------ MemoryDenyWriteExecute


# What MemoryDenyWriteExecute=yes installs (systemd's seccomp_memory_deny_write_execute):
# EPERM for mmap with PROT_WRITE|PROT_EXEC, and mprotect/pkey_mprotect adding PROT_EXEC,
# and shmat with SHM_EXEC. Applied with no_new_privs, inherited by every child, then exec.
MDWX_LAUNCHER = r"""
import ctypes, os, platform, struct, sys
ARCHES = {"x86_64": (0xC000003E, 9, 10, 329, 30), "aarch64": (0xC00000B7, 222, 226, 288, 196)}
audit_arch, mmap_nr, mprotect_nr, pkey_mprotect_nr, shmat_nr = ARCHES[platform.machine()]
LD, JEQ, AND, RET = 0x20, 0x15, 0x54, 0x06
ALLOW, DENY = 0x7FFF0000, 0x00050000 | 1  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO|EPERM
ARG2 = 16 + 2 * 8  # seccomp_data.args[2], low 32 bits
program = [
    (LD, 0, 0, 4), (JEQ, 1, 0, audit_arch), (RET, 0, 0, ALLOW),
    (LD, 0, 0, 0),
    (JEQ, 4, 0, mmap_nr), (JEQ, 7, 0, mprotect_nr), (JEQ, 6, 0, pkey_mprotect_nr),
    (JEQ, 9, 0, shmat_nr), (RET, 0, 0, ALLOW),
    (LD, 0, 0, ARG2), (AND, 0, 0, 6), (JEQ, 8, 0, 6), (RET, 0, 0, ALLOW),  # mmap W|X
    (LD, 0, 0, ARG2), (AND, 0, 0, 4), (JEQ, 4, 0, 4), (RET, 0, 0, ALLOW),  # mprotect X
    (LD, 0, 0, ARG2), (AND, 0, 0, 0o100000), (JEQ, 0, 1, 0o100000),        # shmat EXEC
    (RET, 0, 0, DENY), (RET, 0, 0, ALLOW),
]
code = b"".join(struct.pack("HBBI", *insn) for insn in program)
buffer = ctypes.create_string_buffer(code)
fprog = struct.pack("HxxxxxxP", len(program), ctypes.addressof(buffer))
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(38, 1, 0, 0, 0) or libc.prctl(22, 2, ctypes.c_char_p(fprog), 0, 0):
    sys.exit(f"cannot install the filter: {os.strerror(ctypes.get_errno())}")
os.execv(sys.argv[1], sys.argv[1:])
"""

UNDER_MDWX = r"""
import ctypes, mmap, sys
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
except PermissionError:
    pass
else:
    sys.exit("the filter is not in force: W+X memory was mapped")
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import hashes
from gateway.crypto.browserid import generate_signing_key, load_signing_key
import gateway.cli.server_commands, gateway.process.api_server, gateway.process.worker
from gateway.process import supervisor
supervisor._die_with_parent()  # the ctypes call serve makes for each child
signature = load_signing_key(generate_signing_key()).sign(b"certificate")
HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=b"x").derive(b"token")
print("ok", len(signature))
"""


def mdwx_command(*command: str) -> list[str]:
    import platform

    if platform.machine() not in ("x86_64", "aarch64"):
        pytest.skip(f"no MemoryDenyWriteExecute emulation for {platform.machine()}")
    return [sys.executable, "-c", MDWX_LAUNCHER, *command]


def test_python_cryptography_and_ctypes_work_under_memory_deny_write_execute():
    result = subprocess.run(mdwx_command(sys.executable, "-c", UNDER_MDWX),
                            capture_output=True, text=True, timeout=120)
    if "cannot install the filter" in result.stderr:
        pytest.skip(result.stderr.strip())
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok 256")


def test_serve_simulate_becomes_healthy_under_memory_deny_write_execute(tmp_path):
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSISDN_GATEWAY_")}
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            mdwx_command(str(SCRIPT), "serve", "--simulate", "--state-dir", str(tmp_path),
                         "--port", str(port), "--workers", "1"),
            stdout=output, stderr=subprocess.STDOUT, env=env)
    try:
        end = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if requests.get(f"http://127.0.0.1:{port}/__heartbeat__",
                                timeout=5).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # or still booting
                pass
            assert time.monotonic() < end, log.read_text()
            time.sleep(0.1)  # waiting for the other process to listen
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
    assert code == 0, log.read_text()
    assert "Traceback" not in log.read_text(), log.read_text()


def test_the_install_script_follows_no_link_the_service_user_put_among_the_keys(installed):
    # The state directory is the service user's: a link there would have root chmod its
    # target (a directory of the system, made 0700) on the next run of the script.
    source, root, _ = installed
    keys = root / "var/lib/msisdn-gateway/keys"
    victim = root / "victim"
    victim.mkdir(mode=0o755)
    victim.chmod(0o755)
    keys.rename(root / "keys.real")
    keys.symlink_to(victim)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MSISDN_GATEWAY_")}
        result = subprocess.run(
            ["bash", str(source / "systemd" / "install.sh"), "--root", str(root),
             "--python", sys._base_executable],
            capture_output=True, text=True, env=env, timeout=540)
    finally:
        keys.unlink()
        (root / "keys.real").rename(keys)
    assert result.returncode != 0
    assert "is a symbolic link" in result.stderr
    assert victim.stat().st_mode & 0o777 == 0o755 and list(victim.iterdir()) == []
