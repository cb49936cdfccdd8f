"""The AT command line parser of the simulated modem (V.250 syntax).

Command line grammar (after the ``AT`` prefix)::

    line      := { command [";"] }
    command   := extended | basic
    extended  := ("+" | "^" | "$" | "%") NAME ( "=?" | "?" | "=" args | "" )
    basic     := ["&"] LETTER [DIGITS] | "S" DIGITS ( "?" | "=" DIGITS )
    args      := arg { "," arg }      (quotes are stripped, commas inside quotes kept)
"""
from __future__ import annotations

from dataclasses import dataclass

PROMPT = object()


class AtError(Exception):
    """A final result other than OK: kind CME or CMS (with code), ERROR, or UNKNOWN command."""

    def __init__(self, kind: str, code: int = 0) -> None:
        super().__init__(f"{kind} {code}")
        self.kind, self.code = kind, code


@dataclass(frozen=True)
class Command:
    name: str  # "+CMGS", "^CURC", "E", "&F"
    kind: str  # exec, read, test, set
    args: tuple[str, ...] = ()

    def int_arg(self, index: int, default: int | None = None) -> int:
        try:
            return int(self.args[index])
        except (IndexError, ValueError):
            if default is None:
                raise AtError("ERROR") from None
            return default


def _split_args(raw: str) -> tuple[str, ...]:
    args, current, quoted = [], "", False
    for ch in raw:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            args.append(current.strip())
            current = ""
        else:
            current += ch
    args.append(current.strip())
    return tuple(args)


def _end_of_args(rest: str, start: int) -> int:
    quoted = False
    for i in range(start, len(rest)):
        if rest[i] == '"':
            quoted = not quoted
        elif rest[i] == ";" and not quoted:
            return i
    return len(rest)


def parse_line(rest: str) -> list[Command]:
    """The commands of one line after "AT"; raises AtError("UNKNOWN") for what it cannot read."""
    out, i = [], 0
    while i < len(rest):
        ch = rest[i]
        if ch in " ;":
            i += 1
        elif ch in "+^$%":
            j = i + 1
            while j < len(rest) and (rest[j].isalnum() or rest[j] == "_"):
                j += 1
            if j == i + 1:
                raise AtError("UNKNOWN")
            name = rest[i:j].upper()
            if rest.startswith("=?", j):
                out.append(Command(name, "test"))
                i = j + 2
            elif rest.startswith("?", j):
                out.append(Command(name, "read"))
                i = j + 1
            elif rest.startswith("=", j):
                end = _end_of_args(rest, j + 1)
                out.append(Command(name, "set", _split_args(rest[j + 1:end])))
                i = end
            else:
                out.append(Command(name, "exec"))
                i = j
        elif ch == "&" or ch.isalpha():
            j = i + (2 if ch == "&" else 1)
            name = rest[i:j].upper()
            k = j
            while k < len(rest) and (rest[k].isdigit() or (name == "S" and rest[k] in "=?")):
                k += 1
            out.append(Command(name, "exec", (rest[j:k],)))
            i = k
        else:
            raise AtError("UNKNOWN")
    return out
