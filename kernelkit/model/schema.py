"""Op schemas (`name(Tensor! out, Tensor input, float eps=1e-06) -> ()`) and their C++/Python types.

Only what the LibTorch stable ABI of torch 2.10 can pass to a kernel is accepted; anything else is
refused with a message saying what is supported, before any file is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from kernelkit.errors import KernelkitError

# schema base type -> (C++ type in the binding, Python annotation)
BASE_TYPES = {
    "Tensor": ("Tensor", "torch.Tensor"),
    "int": ("int64_t", "int"),
    "float": ("double", "float"),
    "bool": ("bool", "bool"),
    "str": ("std::string", "str"),
    "ScalarType": ("torch::headeronly::ScalarType", "torch.dtype"),
    "Device": ("torch::stable::Device", "torch.device"),
}
LISTABLE = {"Tensor", "int", "float", "bool"}
UNSUPPORTED_HINT = {
    "Scalar": "use float (or int) instead of Scalar",
    "SymInt": "use int",
    "Generator": "Generator needs the stable ABI of torch 2.13; pass a seed/offset as int",
    "Dimname": "use int dims",
    "Layout": "not needed by kernels; drop it",
    "MemoryFormat": "pass strides or check contiguity in the binding",
}

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ARG = re.compile(
    r"^(?P<base>[A-Za-z]+)(?P<alias>\([a-z]!?\)|!)?(?P<list>\[\d*\])?(?P<opt>\?)?\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?:\s*=\s*(?P<default>.+))?$",
    re.S,  # a default may hold a raw newline: refused with the message about string defaults, not "cannot parse"
)


@dataclass(frozen=True)
class Arg:
    name: str
    base: str  # Tensor, int, float, bool, str, ScalarType, Device
    mutable: bool = False  # Tensor! / Tensor(a!)
    optional: bool = False  # T?
    is_list: bool = False  # T[] (or T[N])
    default: str | None = None
    list_size: str = ""  # N of T[N]
    # The default as a Python literal of the value torch parses it to (torch_checked sets it), e.g. "7" for 007
    # and "'a\"b'" for 'a\"b'; None: derived from the schema text.
    py_literal: str | None = field(default=None, compare=False)

    @property
    def is_tensor(self) -> bool:
        return self.base == "Tensor" and not self.is_list

    @property
    def schema_type(self) -> str:
        listed = f"[{self.list_size}]" if self.is_list else ""
        return self.base + ("!" if self.mutable else "") + listed + ("?" if self.optional else "")

    @property
    def cpp_type(self) -> str:
        cpp = BASE_TYPES[self.base][0]
        if self.is_list:
            cpp = f"std::vector<{cpp}>"
        if self.optional:
            cpp = f"std::optional<{cpp}>"
        return cpp

    @property
    def py_type(self) -> str:
        py = BASE_TYPES[self.base][1]
        if self.is_list:
            py = f"list[{py}]"
        if self.optional:
            py = f"{py} | None"
        return py

    @property
    def py_default(self) -> str | None:
        """The schema default as Python source (None when the arg has none)."""
        if self.default is None:
            return None
        if self.py_literal is not None:
            return self.py_literal
        value = self.default.strip()
        return {"True": "True", "False": "False", "None": "None"}.get(value, value)

    def render(self) -> str:
        text = f"{self.schema_type} {self.name}"
        return text + (f"={self.default}" if self.default is not None else "")


@dataclass(frozen=True)
class Schema:
    name: str
    args: tuple[Arg, ...]

    def render(self) -> str:
        return f"{self.name}({', '.join(a.render() for a in self.args)}) -> ()"

    @property
    def mutable_tensors(self) -> list[Arg]:
        return [a for a in self.args if a.is_tensor and a.mutable]

    @property
    def input_tensors(self) -> list[Arg]:
        return [a for a in self.args if a.is_tensor and not a.mutable and not a.optional]


def _split_args(text: str) -> list[str]:
    """The arguments of `text`, split at its top-level commas (not those in brackets or string literals)."""
    parts, depth, current, quote, escaped = [], 0, "", "", False
    for ch in text:
        if quote:  # inside a string literal: only its closing quote (not an escaped one) ends it
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
            current += ch
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current.strip())
    return parts


def parse_arg(text: str, schema: str) -> Arg:
    match = _ARG.match(text.strip())
    if not match:
        raise KernelkitError(
            f"schema '{schema}': cannot parse argument '{text}' (expected e.g. 'Tensor! out' or 'float eps=1e-06')"
        )
    base = match.group("base")
    if base not in BASE_TYPES:
        hint = UNSUPPORTED_HINT.get(base, f"supported: {', '.join(BASE_TYPES)} (with ?, [] where valid)")
        raise KernelkitError(
            f"schema '{schema}': type '{base}' of '{match.group('name')}' is not supported by the stable ABI binding "
            f"({hint})"
        )
    alias = match.group("alias") or ""
    mutable = alias.endswith("!)") or alias == "!"
    if alias and not mutable:
        raise KernelkitError(f"schema '{schema}': '{text}': only mutable aliases (Tensor! / Tensor(a!)) are supported")
    if mutable and base != "Tensor":
        raise KernelkitError(f"schema '{schema}': '{text}': only Tensor arguments can be mutable")
    is_list = match.group("list") is not None
    if is_list and base not in LISTABLE:
        raise KernelkitError(f"schema '{schema}': '{text}': lists of {base} are not supported")
    if mutable and (is_list or match.group("opt")):
        raise KernelkitError(f"schema '{schema}': '{text}': a mutable tensor must be a plain Tensor!")
    default = match.group("default")
    if default is not None:
        _check_default(
            base,
            match.group("opt") is not None,
            match.group("list") is not None,
            default.strip(),
            match.group("name"),
            schema,
        )
    return Arg(
        name=match.group("name"),
        base=base,
        mutable=mutable,
        optional=match.group("opt") is not None,
        is_list=is_list,
        default=match.group("default"),
        list_size=(match.group("list") or "[]")[1:-1],
    )


# What torch's schema lexer reads as a number (it has no inf/nan literals, and its ints are int64).
_NUMBER = {"int": re.compile(r"^-?[0-9]+$"), "float": re.compile(r"^-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$")}
_INT64 = (-(2**63), 2**63 - 1)


def _check_default(base: str, optional: bool, is_list: bool, value: str, name: str, schema: str) -> None:
    """A default torch would refuse at load time (aborting the process) is refused here instead."""
    if value == "None" and optional:
        return
    ok = False
    if is_list:
        ok = bool(re.match(r"^\[.*\]$", value)) and base in ("int", "float", "bool")
    elif base in _NUMBER:
        ok = bool(_NUMBER[base].match(value))
        if ok and base == "int" and not _INT64[0] <= int(value) <= _INT64[1]:
            raise KernelkitError(
                f"schema '{schema}': default {value} of '{name}' does not fit int (a 64-bit integer: "
                f"{_INT64[0]} to {_INT64[1]})"
            )
    elif base == "bool":
        ok = value in ("True", "False")
    elif base == "str":
        ok = len(value) >= 2 and value[0] == value[-1] and value[0] in "'\""
        odd = sorted({c for c in value if not " " <= c <= "~"})
        if ok and odd:
            raise KernelkitError(
                f"schema '{schema}': default of '{name}' holds {', '.join(map(ascii, odd))}; a string default may hold "
                "printable ASCII only (write a newline or tab as \\n or \\t)"
            )
    if not ok:
        hint = {
            "bool": "True or False",
            "int": "an integer",
            "float": "a number like 1e-06; torch schemas have no inf or nan",
            "str": "a quoted string",
        }
        expected = "None" if base == "Tensor" else hint.get(base, "a literal of its type")
        if is_list and base in LISTABLE and base != "Tensor":
            expected = f"a list like {dict(int='[1, 2]', float='[0.5, 1.0]', bool='[True, False]')[base]}"
        raise KernelkitError(
            f"schema '{schema}': default '{value}' of '{name}' is not valid for {base} (use {expected})"
        )


def parse_schema(text: str, expected_name: str | None = None) -> Schema:
    """Parse a schema; `(…) -> ()` without a name takes `expected_name`. Returns must be `()`."""
    src = text.strip()
    if expected_name and src.startswith("("):
        src = expected_name + src
    match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*->\s*(.+)$", src, re.S)
    if not match:
        raise KernelkitError(f"schema '{text}': expected 'name(Type arg, ...) -> ()'")
    name, arg_text, returns = match.group(1), match.group(2), match.group(3).strip()
    if expected_name and name != expected_name:
        raise KernelkitError(f"schema '{text}': names op '{name}', but the op is '{expected_name}'")
    if returns != "()":
        raise KernelkitError(
            f"schema '{text}': returns '{returns}'; kernelkit ops return () and write into Tensor! arguments "
            "(the Python wrapper allocates outputs)"
        )
    args = tuple(parse_arg(a, text) for a in _split_args(arg_text))
    names = [a.name for a in args]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise KernelkitError(f"schema '{text}': argument names repeat: {', '.join(duplicates)}")
    seen_default = False
    for arg in args:
        if arg.default is not None:
            seen_default = True
        elif seen_default:
            raise KernelkitError(f"schema '{text}': '{arg.name}' has no default but follows an argument with one")
    return Schema(name=name, args=args)


def torch_checked(schema: Schema, text: str) -> Schema:
    """`schema` as torch itself parses it (torch._C.parse_schema, torch's own parser, which the op's registration
    runs at load time, where a refusal aborts the process): refused here instead, as one line. Returns the schema
    with each default's Python literal taken from the value torch parsed (`007` -> 7, `'a\\'b'` -> "a'b")."""
    import torch

    rendered = schema.render()
    try:
        parsed = torch._C.parse_schema(rendered)
    except Exception as exc:  # noqa: BLE001  (RuntimeError mostly; IndexError for numbers out of range)
        raise KernelkitError(f"schema '{text}': torch's schema parser rejects it ({_torch_reason(exc)})") from None
    torch_args = list(parsed.arguments)
    if [a.name for a in torch_args] != [a.name for a in schema.args]:  # pragma: no cover  (a kernelkit bug)
        raise KernelkitError(f"schema '{text}': torch reads its arguments as {[a.name for a in torch_args]}")
    args = tuple(
        replace(arg, py_literal=_py_literal(got.default_value)) if arg.default is not None else arg
        for arg, got in zip(schema.args, torch_args)
    )
    return replace(schema, args=args)


def _py_literal(value: object) -> str:
    """`value` as Python source, strings quoted as ruff format quotes them (double quotes unless that needs more
    escapes)."""
    if isinstance(value, list):
        return "[" + ", ".join(_py_literal(v) for v in value) + "]"
    literal = repr(value)
    if isinstance(value, str) and value.count('"') <= value.count("'") and literal.startswith("'"):
        body = re.sub(r"\\.|\"", lambda m: {"\\'": "'", '"': '\\"'}.get(m.group(0), m.group(0)), literal[1:-1])
        literal = f'"{body}"'
    if isinstance(value, float) and literal in ("inf", "-inf", "nan"):  # pragma: no cover  (torch refuses these)
        literal = f"float('{literal}')"
    return literal


def _torch_reason(exc: Exception) -> str:
    """torch's message in a few words, with what its caret points at."""
    message = str(exc)
    if isinstance(exc, IndexError) or message.strip() in ("stoll", "stod", "stoi"):
        return "a number out of range"
    lines = [line for line in message.splitlines() if line.strip()]
    reason = re.sub(r"\s*here:?$", "", lines[0].strip()).rstrip(":").strip() if lines else type(exc).__name__
    reason = re.sub(r"^.*INTERNAL ASSERT FAILED at .*?please report a bug to PyTorch\.\s*", "", reason)
    caret = next((i for i, line in enumerate(lines) if "<--- HERE" in line), None)
    if caret is not None and caret > 0:
        column = lines[caret].index("~") if "~" in lines[caret] else -1
        source = lines[caret - 1]
        if 0 <= column < len(source):
            reason += f" at '{source[column : column + 24].rstrip()}'"
    return reason or type(exc).__name__


def cpp_string_literal(text: str) -> str:
    """`text` as a C++ string literal (what KERNELKIT_REGISTER_OP gets): backslashes and quotes escaped."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


_CPP_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "?": "?", "0": "\0"}


def cpp_string_value(body: str) -> str:
    """The value of a C++ string literal's body (its text between the quotes): simple escapes undone."""
    return re.sub(r"\\(.)", lambda m: _CPP_ESCAPES.get(m.group(1), m.group(0)), body, flags=re.S)
