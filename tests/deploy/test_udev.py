"""udev/99-msisdn-gateway.rules: its syntax, the promises every modem rule keeps, and its
agreement with the table of supported modems in hardware.md.

Syntax is checked twice: by ``udevadm verify`` where this machine has it (systemd 253 and
later; skipped otherwise), and always by the small parser below, which knows the keys and
operators of udev(7) and the mistakes ``udevadm verify`` does not catch (ATTRS{} keys of
two different parent devices in one rule, a private property matched but never set).
Each check also runs on a broken copy of the rules, so a check that can no longer fail
is noticed.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "udev" / "99-msisdn-gateway.rules"
HARDWARE = ROOT / "hardware.md"

MATCH_OPS = {"==", "!="}
ASSIGN_OPS = {"=", "+=", "-=", ":="}
# key -> (allowed operators, whether it takes {attribute}), from udev(7).
KEYS = {
    **{key: (MATCH_OPS, False) for key in (
        "ACTION", "DEVPATH", "KERNEL", "SUBSYSTEM", "DRIVER", "KERNELS", "SUBSYSTEMS",
        "DRIVERS", "TAGS", "PROGRAM", "RESULT")},
    **{key: (MATCH_OPS, True) for key in ("ATTRS", "CONST", "TEST")},
    **{key: (MATCH_OPS | ASSIGN_OPS, False) for key in ("NAME", "SYMLINK", "TAG")},
    **{key: (MATCH_OPS | ASSIGN_OPS, True) for key in ("ATTR", "SYSCTL", "ENV")},
    **{key: ({"=", ":="}, False) for key in ("OWNER", "GROUP", "MODE")},
    **{key: (ASSIGN_OPS, True) for key in ("SECLABEL", "RUN", "IMPORT")},
    **{key: ({"=", "+=", ":="}, False) for key in ("OPTIONS",)},
    **{key: ({"="}, False) for key in ("LABEL", "GOTO")},
}
OPTIONAL_ATTRIBUTE = {"RUN", "TEST"}
# Parent-device keys of one rule must all match on one device: these live on the USB
# device, the bInterface* ones on the USB interface.
USB_DEVICE_ATTRS = {"idVendor", "idProduct", "serial", "manufacturer", "product", "devpath"}
PAIR = re.compile(r'(?P<key>[A-Z_]+)(?:\{(?P<attr>[^{}"]+)\})?(?P<op>==|!=|\+=|-=|:=|=)'
                  r'"(?P<value>(?:[^"\\]|\\.)*)"')
USB_ID = re.compile(r"\b([0-9a-f]{4}):([0-9a-f]{4})\b")


class Pair:
    def __init__(self, match: re.Match):
        self.key, self.attr, self.op, self.value = match.group("key", "attr", "op", "value")

    def __repr__(self) -> str:
        attr = f"{{{self.attr}}}" if self.attr else ""
        return f'{self.key}{attr}{self.op}"{self.value}"'


class Rule:
    def __init__(self, number: int, pairs: list[Pair]):
        self.number, self.pairs = number, pairs

    def get(self, key: str, attr: str | None = None, ops: set[str] = MATCH_OPS) -> list[str]:
        return [p.value for p in self.pairs if p.key == key and p.attr == attr and p.op in ops]

    def assigns(self, key: str, attr: str | None = None) -> list[str]:
        return self.get(key, attr, ASSIGN_OPS)

    @property
    def usb_id(self) -> tuple[str, str] | None:
        vendor, product = self.get("ATTRS", "idVendor"), self.get("ATTRS", "idProduct")
        return (vendor[0], product[0]) if vendor and product else None

    @property
    def names_a_port(self) -> bool:
        return self.get("SUBSYSTEM") == ["tty"]


def logical_lines(text: str):
    """(line number, text) of each rule line, with backslash continuations joined."""
    pending, start = "", 0
    for number, line in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        yield start, pending + line
        pending = ""
    if pending:
        yield start, pending


def parse(text: str) -> tuple[list[Rule], list[str]]:
    """The rules of ``text`` and the syntax problems found, each naming its line."""
    rules, problems = [], []
    for number, line in logical_lines(text):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pairs, pos = [], 0
        while True:
            match = PAIR.match(line, pos)
            if match is None:
                problems.append(f"line {number}: expected KEY[{{attr}}]OP\"value\" at "
                                f"{line[pos:]!r}")
                break
            pairs.append(Pair(match))
            pos = match.end()
            if pos == len(line):
                break
            if not line.startswith(", ", pos) or line.startswith(",  ", pos):
                problems.append(f"line {number}: pairs must be separated by ', ': {line[pos:]!r}")
                break
            pos += 2
        for pair in pairs:
            problems += [f"line {number}: {p}" for p in pair_problems(pair)]
        rules.append(Rule(number, pairs))
    return rules, problems


def pair_problems(pair: Pair) -> list[str]:
    if pair.key not in KEYS:
        return [f"unknown key {pair.key}"]
    ops, takes_attr = KEYS[pair.key]
    problems = []
    if pair.op not in ops:
        problems.append(f"{pair!r}: {pair.key} does not take {pair.op}")
    if takes_attr and pair.attr is None and pair.key not in OPTIONAL_ATTRIBUTE:
        problems.append(f"{pair!r}: {pair.key} needs {{attribute}}")
    if not takes_attr and pair.attr is not None:
        problems.append(f"{pair!r}: {pair.key} takes no {{attribute}}")
    if pair.attr in ("idVendor", "idProduct") and not re.fullmatch(r"[0-9a-f]{4}", pair.value):
        problems.append(f"{pair!r}: sysfs shows USB ids as 4 lower-case hex digits")
    if pair.key == "MODE" and not re.fullmatch(r"0[0-7]{3}", pair.value):
        problems.append(f"{pair!r}: MODE is 4 octal digits")
    return problems


def structure_problems(rules: list[Rule]) -> list[str]:
    """Rules that are well formed but wrong: jumps, parents, private properties."""
    problems, labels, set_so_far = [], [], set()
    for rule in rules:
        at = f"line {rule.number}"
        if rule.assigns("LABEL"):
            labels += rule.assigns("LABEL")
            continue
        if not any(p.op in MATCH_OPS for p in rule.pairs):
            problems.append(f"{at}: a rule without a match applies to every device")
        seen = [repr(p) for p in rule.pairs]
        problems += [f"{at}: {p} twice" for p in sorted({p for p in seen if seen.count(p) > 1})]
        attrs = {p.attr for p in rule.pairs if p.key == "ATTRS"}
        if attrs & USB_DEVICE_ATTRS and any(a.startswith("bInterface") for a in attrs):
            problems.append(f"{at}: ATTRS of the USB device and of a USB interface can never "
                            "match together (one parent per rule)")
        for pair in rule.pairs:
            if pair.key == "ENV" and (pair.attr or "").startswith(".") \
                    and pair.op in MATCH_OPS and pair.attr not in set_so_far:
                problems.append(f"{at}: ENV{{{pair.attr}}} is matched but never set before")
        set_so_far |= {p.attr for p in rule.pairs if p.key == "ENV" and p.op in ASSIGN_OPS}
    gotos = [(rule.number, target) for rule in rules for target in rule.assigns("GOTO")]
    for number, target in gotos:
        later = [r for r in rules if r.number > number and target in r.assigns("LABEL")]
        if not later:
            problems.append(f"line {number}: GOTO=\"{target}\" has no LABEL after it")
    for label in labels:
        if label not in {target for _, target in gotos}:
            problems.append(f"LABEL=\"{label}\" is never jumped to")
    return problems


def modem_problems(rules: list[Rule]) -> list[str]:
    """What every modem rule promises: ModemManager keeps off the whole device, and the
    AT port gets a /dev/gsm-modem-* name, group dialout, mode 0660 and a systemd tag."""
    problems, ports, devices = [], set(), set()
    for rule in rules:
        if rule.usb_id is None:
            continue
        at, usb_id = f"line {rule.number}", ":".join(rule.usb_id)
        if rule.assigns("ENV", "ID_MM_DEVICE_IGNORE") != ["1"]:
            problems.append(f"{at} ({usb_id}): must set ENV{{ID_MM_DEVICE_IGNORE}}=\"1\"")
        if not rule.names_a_port:
            devices.add(usb_id)
            others = [p for p in rule.pairs if p.op in ASSIGN_OPS
                      and (p.key, p.attr) != ("ENV", "ID_MM_DEVICE_IGNORE")]
            if others:
                problems.append(f"{at} ({usb_id}): a rule for the whole device only sets "
                                f"ID_MM_DEVICE_IGNORE, not {others}")
            continue
        ports.add(usb_id)
        for key, expected in (("GROUP", ["dialout"]), ("MODE", ["0660"])):
            if rule.assigns(key) != expected:
                problems.append(f"{at} ({usb_id}): {key} must be {expected[0]}")
        if "systemd" not in rule.get("TAG", ops={"+="}):
            problems.append(f"{at} ({usb_id}): must add TAG+=\"systemd\"")
        links = rule.get("SYMLINK", ops={"+="})
        selects_interface = (rule.get("ENV", ".GSM_MODEM_IFNUM")
                             or rule.get("ENV", ".GSM_MODEM_IFCLASS"))
        wanted = "gsm-modem-usb-$id" if selects_interface else "gsm-modem-serial-usb-$id"
        if links != [wanted]:
            problems.append(f"{at} ({usb_id}): a port rule either selects the AT interface "
                            "(ENV{.GSM_MODEM_IFNUM} or ENV{.GSM_MODEM_IFCLASS}) and adds "
                            "SYMLINK+=\"gsm-modem-usb-$id\", or is a one-port bridge and adds "
                            f"SYMLINK+=\"gsm-modem-serial-usb-$id\"; it adds {links}")
    problems += [f"{usb_id}: no rule makes ModemManager ignore the whole device"
                 for usb_id in sorted(ports - devices)]
    problems += [f"{usb_id}: ignored by ModemManager but its AT port gets no name"
                 for usb_id in sorted(devices - ports)]
    return problems


def all_problems(text: str) -> list[str]:
    rules, problems = parse(text)
    return problems + structure_problems(rules) + modem_problems(rules)


def interface_numbers(text: str) -> dict[str, str]:
    """VID:PID -> the AT interface number its port rule selects ("" when selected otherwise)."""
    rules, _ = parse(text)
    return {":".join(r.usb_id): (r.get("ENV", ".GSM_MODEM_IFNUM") or [""])[0]
            for r in rules if r.usb_id and r.names_a_port}


def supported_table(markdown: str) -> dict[str, dict[str, str]]:
    """VID:PID -> row (column title -> cell) of the table under "## Supported modems"."""
    section = re.search(r"^## Supported modems\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert section, 'hardware.md has no "## Supported modems" section'
    lines = [line for line in section.group(1).splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        row = dict(zip(header, (cell.strip() for cell in line.strip("|").split("|"))))
        for vendor, product in USB_ID.findall(row["VID:PID"]):
            rows[f"{vendor}:{product}"] = row
    return rows


def table_problems(rules_text: str, markdown: str) -> list[str]:
    numbers, table = interface_numbers(rules_text), supported_table(markdown)
    problems = [f"{usb_id} is in the rules but not in hardware.md's table"
                for usb_id in sorted(set(numbers) - set(table))]
    problems += [f"{usb_id} is in hardware.md's table but not in the rules"
                 for usb_id in sorted(set(table) - set(numbers))]
    for usb_id in sorted(set(numbers) & set(table)):
        if numbers[usb_id] and numbers[usb_id] not in table[usb_id]["AT interface"]:
            problems.append(f"{usb_id}: the rules select interface {numbers[usb_id]}, "
                            f"hardware.md says {table[usb_id]['AT interface']!r}")
    return problems


# ---------------------------------------------------------------- the shipped files

def test_the_rules_parse_and_keep_every_promise():
    assert all_problems(RULES.read_text()) == []


def test_the_rules_name_the_same_modems_as_hardware_md():
    assert table_problems(RULES.read_text(), HARDWARE.read_text()) == []


def test_the_rules_cover_the_modems_of_the_issue():
    ids = set(interface_numbers(RULES.read_text()))
    assert {"2c7c:0125", "1e0e:9001", "12d1:1506", "10c4:ea60", "1a86:7523",
            "0403:6001", "067b:2303"} <= ids


def _udevadm_verify():
    udevadm = shutil.which("udevadm")
    if udevadm is None:
        pytest.skip("udevadm is not installed here")
    probe = subprocess.run([udevadm, "verify", "--help"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("this udevadm has no verify command (systemd < 253)")
    return lambda path: subprocess.run([udevadm, "verify", "--resolve-names=never", str(path)],
                                       capture_output=True, text=True)


def test_udevadm_verify_accepts_the_rules():
    result = _udevadm_verify()(RULES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_udevadm_verify_refuses_a_broken_copy(tmp_path):
    verify = _udevadm_verify()
    broken = tmp_path / "99-broken.rules"
    broken.write_text(RULES.read_text().replace('GROUP="dialout"', 'GRUOP="dialout"', 1))
    assert verify(broken).returncode != 0


# ---------------------------------------------------------------- the checks can fail

def _break(old: str, new: str) -> str:
    text = RULES.read_text()
    assert old in text, f"{old!r} is no longer in the rules: update this test"
    return text.replace(old, new, 1)


PORT_0125 = 'ATTRS{idProduct}=="0125", ENV{.GSM_MODEM_IFNUM}=="02"'


@pytest.mark.parametrize("old, new, complaint", [
    ('GROUP="dialout", ', "", "GROUP must be dialout"),
    ('MODE="0660"', 'MODE="0666"', "MODE must be 0660"),
    (', TAG+="systemd"', "", 'TAG+="systemd"'),
    ('ENV{.GSM_MODEM_IFNUM}=="02", ENV{ID_MM_DEVICE_IGNORE}="1"', 'ENV{.GSM_MODEM_IFNUM}=="02"',
     "ID_MM_DEVICE_IGNORE"),
    ('ATTRS{idProduct}=="0125", ENV{ID_MM_DEVICE_IGNORE}="1"\n', 'ATTRS{idProduct}=="0125", '
     'ENV{ID_MM_DEVICE_IGNORE}="1", GROUP="dialout"\n', "only sets ID_MM_DEVICE_IGNORE"),
    ('SYMLINK+="gsm-modem-usb-$id"', 'SYMLINK+="ttyModem"', "it adds ['ttyModem']"),
    (PORT_0125, 'ATTRS{idProduct}=="0125"', "it adds ['gsm-modem-usb-$id']"),
    ('SUBSYSTEMS=="usb", ATTRS{idVendor}=="2c7c", ATTRS{idProduct}=="0125", '
     'ENV{ID_MM_DEVICE_IGNORE}="1"\n', "", "2c7c:0125: no rule makes ModemManager ignore"),
    (PORT_0125, 'ATTRS{idProduct}=="0125", ATTRS{bInterfaceNumber}=="02"', "one parent per rule"),
    (PORT_0125, 'ATTRS{idProduct}=="0125", ENV{.GSM_MODEM_IFNUMBER}=="02"', "never set before"),
    ('ATTRS{idVendor}=="2c7c"', 'ATTRS{idVendor}=="2C7C"', "lower-case hex"),
    ('GROUP="dialout"', 'GROUP=="dialout"', "GROUP does not take =="),
    ('GROUP="dialout"', 'GRUOP="dialout"', "unknown key GRUOP"),
    ('MODE="0660", ', 'MODE="0660",', "separated by ', '"),
    ('MODE="0660"', "MODE=0660", "expected KEY"),
    ('ENV{ID_MM_DEVICE_IGNORE}="1"', 'ENV="1"', "ENV needs {attribute}"),
    ('LABEL="msisdn_gateway_end"', 'LABEL="msisdn_gateway_stop"', "has no LABEL after it"),
])
def test_a_broken_rule_is_reported(old, new, complaint):
    problems = all_problems(_break(old, new))
    assert any(complaint in problem for problem in problems), problems


def test_a_modem_missing_from_hardware_md_is_reported():
    markdown = HARDWARE.read_text().replace("1e0e:9001", "1e0e:9011")
    problems = table_problems(RULES.read_text(), markdown)
    assert "1e0e:9001 is in the rules but not in hardware.md's table" in problems
    assert "1e0e:9011 is in hardware.md's table but not in the rules" in problems


def test_a_wrong_interface_in_hardware_md_is_reported():
    problems = table_problems(_break(PORT_0125, PORT_0125.replace('"02"', '"03"')),
                              HARDWARE.read_text())
    assert any("2c7c:0125: the rules select interface 03" in p for p in problems), problems
