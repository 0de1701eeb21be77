"""Regular-expression literals of ``String.matches()``: check the rules dialect, translate to ``re``.

The dialect (rules.md §9): literal characters, ``.``, ``* + ?``, ``{n}``/``{n,}``/``{n,m}``,
groups, alternation, character sets with ranges and negation, ``\\d \\w \\s \\D \\W \\S`` and
backslash escapes; ``^`` only as the very first character and ``$`` only as the very last; the
only flag is ``i``. ``matches`` is a *search* (a match anywhere), so the translation maps the
anchors to ``\\A`` and ``\\Z`` (Python's ``$`` would also match before a final newline), and
maps ``\\d``/``\\w`` to their ASCII sets and ``.`` to "anything but a line terminator", as in
JavaScript.

Refused at upload: other flags, misplaced anchors, a group or alternation with an empty
alternative (``/^(foo|)$/``), ``(?`` groups, backreferences and unknown letter escapes.
"""

from __future__ import annotations

import re
import warnings

_QUANTIFIER = re.compile(r"\{[0-9]+(?:,[0-9]*)?\}")
_HEX2 = re.compile(r"[0-9a-fA-F]{2}")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_CLASS_ESCAPES = {"d": "0-9", "w": "A-Za-z0-9_", "s": r"\s", "D": r"\D", "W": r"\W", "S": r"\S"}
_ESCAPES = {
    "d": "[0-9]", "D": "[^0-9]", "w": "[A-Za-z0-9_]", "W": "[^A-Za-z0-9_]",
    "s": r"\s", "S": r"\S", "b": r"\b", "B": r"\B",
    "n": r"\n", "r": r"\r", "t": r"\t", "f": r"\f", "v": r"\v", "0": r"\x00",
}  # fmt: skip
_CONTROL = {"n": r"\n", "r": r"\r", "t": r"\t", "f": r"\f", "v": r"\v", "0": r"\x00", "b": r"\x08"}
_DOT = "[^\n\r\u2028\u2029]"
_CLASS_SPECIAL = frozenset("\\]^-[&~|")


class RegexError(ValueError):
    """An unsupported or malformed pattern; ``offset`` counts from the literal's opening ``/``."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


def compile_regex(pattern: str, flags: str) -> re.Pattern[str]:
    """The Python pattern equivalent to ``/pattern/flags``. Raises RegexError."""
    for i, flag in enumerate(flags):
        if flag != "i" or flags.index(flag) != i:
            raise RegexError(f"Unsupported regular expression flag '{flag}'.", len(pattern) + 2 + i)
    python = _Translator(pattern).translate()
    options = re.IGNORECASE if flags else 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return re.compile(python, options)
    except (re.error, Warning, RecursionError, OverflowError) as err:
        raise RegexError(f"Invalid regular expression: {err}.", 1) from None


class _Translator:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.out: list[str] = []

    def fail(self, message: str, index: int) -> RegexError:
        return RegexError(message, index + 1)

    def translate(self) -> str:
        p, out, n = self.p, self.out, len(self.p)
        groups: list[int] = []  # indexes of the open '('
        empty = True  # the current alternative has nothing in it yet
        repeatable = False  # the last item can take a quantifier
        i = 0
        while i < n:
            ch = p[i]
            if ch == "^":
                if i != 0:
                    raise self.fail("'^' is only allowed at the start of the pattern.", i)
                out.append(r"\A")
                repeatable = False
                i += 1
                continue
            if ch == "$":
                if i != n - 1:
                    raise self.fail("'$' is only allowed at the end of the pattern.", i)
                out.append(r"\Z")
                repeatable = False
                i += 1
                continue
            if ch in "*+?" or (ch == "{" and _QUANTIFIER.match(p, i)):
                if not repeatable:
                    raise self.fail("Nothing to repeat.", i)
                if ch == "{":
                    m = _QUANTIFIER.match(p, i)
                    assert m is not None
                    out.append(m.group())
                    i = m.end()
                else:
                    out.append(ch)
                    i += 1
                if p[i : i + 1] == "?":  # a lazy quantifier: same yes/no answer
                    out.append("?")
                    i += 1
                repeatable = False
                continue
            if ch == "(":
                if p[i + 1 : i + 2] == "?":
                    raise self.fail("Groups starting with '(?' are not supported.", i)
                groups.append(i)
                out.append("(")
                empty, repeatable = True, False
                i += 1
                continue
            if ch == ")":
                if not groups:
                    raise self.fail("Unmatched ')'.", i)
                if empty:
                    raise self.fail("A group may not have an empty alternative.", i)
                groups.pop()
                out.append(")")
                empty, repeatable = False, True
                i += 1
                continue
            if ch == "|":
                if empty:
                    raise self.fail("An alternative may not be empty.", i)
                out.append("|")
                empty, repeatable = True, False
                i += 1
                continue
            if ch == "\\":
                i = self.escape(i)
            elif ch == "[":
                i = self.char_class(i)
            elif ch == ".":
                out.append(_DOT)
                i += 1
            else:
                out.append(re.escape(ch))
                i += 1
            empty, repeatable = False, True
        if groups:
            raise self.fail("Unterminated group.", groups[-1])
        if empty and "|" in out:
            raise self.fail("An alternative may not be empty.", n)
        return "".join(out)

    def escape(self, i: int) -> int:
        p = self.p
        esc = p[i + 1 : i + 2]
        if esc == "":
            raise self.fail("A pattern may not end with '\\'.", i)
        if esc in _ESCAPES:
            self.out.append(_ESCAPES[esc])
            return i + 2
        if esc == "x" and _HEX2.fullmatch(p, i + 2, i + 4):
            self.out.append(re.escape(chr(int(p[i + 2 : i + 4], 16))))
            return i + 4
        if esc == "u" and _HEX4.fullmatch(p, i + 2, i + 6):
            self.out.append(re.escape(chr(int(p[i + 2 : i + 6], 16))))
            return i + 6
        if esc.isdigit():
            raise self.fail("Backreferences are not supported.", i)
        if esc.isalnum() or not esc.isascii():
            raise self.fail(f"Unsupported escape '\\{esc}'.", i)
        self.out.append(re.escape(esc))
        return i + 2

    def char_class(self, i: int) -> int:
        p = self.p
        start = i
        i += 1
        negate = p[i : i + 1] == "^"
        if negate:
            i += 1
        atoms: list[tuple[str, bool]] = []  # (python text, is a single character)
        while True:
            if i >= len(p):
                raise self.fail("Unterminated character set.", start)
            ch = p[i]
            if ch == "]":
                i += 1
                break
            if ch == "\\":
                esc = p[i + 1 : i + 2]
                if esc in _CLASS_ESCAPES:
                    atoms.append((_CLASS_ESCAPES[esc], False))
                    i += 2
                elif esc in _CONTROL:
                    atoms.append((_CONTROL[esc], True))
                    i += 2
                elif esc == "x" and _HEX2.fullmatch(p, i + 2, i + 4):
                    atoms.append((_class_char(chr(int(p[i + 2 : i + 4], 16))), True))
                    i += 4
                elif esc == "u" and _HEX4.fullmatch(p, i + 2, i + 6):
                    atoms.append((_class_char(chr(int(p[i + 2 : i + 6], 16))), True))
                    i += 6
                elif esc == "" or esc.isalnum() or not esc.isascii():
                    raise self.fail(f"Unsupported escape '\\{esc}'.", i)
                else:
                    atoms.append((_class_char(esc), True))
                    i += 2
                continue
            atoms.append((_class_char(ch), True) if ch != "-" else ("-", True))
            i += 1
        if not atoms:
            self.out.append(r"[\s\S]" if negate else "(?!)")  # JS: [^] is anything, [] nothing
            return i
        parts: list[str] = []
        k = 0
        while k < len(atoms):
            text, single = atoms[k]
            is_range = k + 2 < len(atoms) and single and atoms[k + 1][0] == "-" and atoms[k + 2][1]
            if is_range:
                parts.append(f"{text}-{atoms[k + 2][0]}")
                k += 3
                continue
            parts.append(r"\-" if text == "-" else text)
            k += 1
        self.out.append(("[^" if negate else "[") + "".join(parts) + "]")
        return i


def _class_char(ch: str) -> str:
    return "\\" + ch if ch in _CLASS_SPECIAL else ch
