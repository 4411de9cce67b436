"""Input torch itself would refuse at load time (aborting every import of the library) is refused by `new` and
`init`, as one line, with the tree untouched; odd input torch accepts works end to end: the schema reaches the
C++ literal escaped, the wrapper's defaults are the values torch parses, and `remove` takes it all out again."""

from __future__ import annotations

import ast

import pytest
from scaffold_helpers import ProjectCopy, pristine_project, project  # noqa: F401  (fixtures)
from test_scaffold import PKG, _binding_compiles, assert_one_line_error, binding_command  # noqa: F401  (a fixture)
from typer.testing import CliRunner

from kernelkit.model.schema import cpp_string_literal, cpp_string_value, parse_schema, torch_checked

HEAD = "s1(Tensor! out, Tensor input"


@pytest.mark.parametrize(
    ("tail", "needle"),
    [
        pytest.param("float f=inf", "no inf or nan", id="float-inf"),
        pytest.param("float f=-inf", "no inf or nan", id="float-minus-inf"),
        pytest.param("float f=nan", "no inf or nan", id="float-nan"),
        pytest.param("float f=1e999", "out of range", id="float-out-of-range"),
        pytest.param("int i=99999999999999999999999", "64-bit", id="int-huge"),
        pytest.param("int i=9223372036854775808", "64-bit", id="int-just-past-int64"),
        pytest.param("int[] x=[1,", "a list like [1, 2]", id="list-unclosed"),
        pytest.param("int[] x=[1,,2]", "torch's schema parser rejects it", id="list-empty-item"),
        pytest.param("int[] x=[1.5]", "torch's schema parser rejects it", id="list-float-in-int"),
        pytest.param("bool b=true", "True or False", id="bool-lowercase"),
        pytest.param(r"str s='a\qb'", "ill formed octal", id="str-bad-escape"),
        pytest.param(r"str s='a\x41b'", "torch's schema parser rejects it", id="str-hex-escape"),
        pytest.param(r"str s='a\u00e9b'", "torch's schema parser rejects it", id="str-unicode-escape"),
        pytest.param("str s='a' 'b'", "torch's schema parser rejects it", id="str-two-literals"),
        pytest.param("str s='\u00e9'", "printable ASCII", id="str-non-ascii"),
        pytest.param("str s='a\tb'", "printable ASCII", id="str-raw-tab"),
    ],
)
def test_schemas_torch_rejects_are_refused_before_anything_is_written(project: ProjectCopy, tail, needle):
    schema = f"{HEAD}, {tail}) -> ()"
    result = project.run("new", "s1", "--schema", schema)
    assert result.exit_code == 2, result.output
    assert_one_line_error(result, needle, "s1(Tensor! out")
    project.assert_unchanged()


# schema tail -> {argument: the value torch parses its default to}
ODD_BUT_VALID = {
    "float-neg-exp": ("float f=-1e-06", {"f": -1e-06}),
    "int-leading-zeros": ("float f=0.5, int i=007", {"i": 7}),
    "int64-extremes": ("float f=0.5, int a=9223372036854775807, int b=-9223372036854775808", {"b": -(2**63)}),
    "str-quotes-backslash": (
        r"""float f=0.5, str s='a"b\\c\'d\n', str q="it's", str u='a,b)'""",
        {"s": "a\"b\\c'd\n", "q": "it's", "u": "a,b)"},
    ),
    "str-triple-quoted": ('float f=0.5, str w="""x"""', {"w": "x"}),
    "lists": ("float f=0.5, int[] d=[1,2], float[] g=[1, 2.5], bool[] h=[True]", {"d": [1, 2], "g": [1.0, 2.5]}),
}


@pytest.mark.parametrize("case", list(ODD_BUT_VALID))
def test_odd_schemas_torch_accepts_work_end_to_end(project: ProjectCopy, case):
    tail, defaults = ODD_BUT_VALID[case]
    schema = f"{HEAD}, {tail}) -> ()"
    project.ok("new", "s1", "--schema", schema)
    # The registration's C++ literal holds the schema, escaped, and reads back as it (what `check` parses).
    binding = project.read("library/csrc/misc/s1.cc")
    assert cpp_string_literal(parse_schema(schema).render()) in binding
    # The wrapper's defaults are the values torch parses the schema's defaults to, as ruff would quote them.
    wrapper = project.read(f"{PKG}/misc/s1.py")
    function = next(n for n in ast.parse(wrapper).body if isinstance(n, ast.FunctionDef) and n.name == "s1")
    names = [a.arg for a in function.args.args]
    given = {
        n: ast.unparse(d) for n, d in zip(names[len(names) - len(function.args.defaults) :], function.args.defaults)
    }
    for name, value in defaults.items():
        assert ast.literal_eval(given[name]) == value, name
    if case == "str-quotes-backslash":  # double quotes unless they need more escapes (ruff format's choice)
        assert """s: str = "a\\"b\\\\c'd\\n",""" in wrapper and """q: str = "it's",""" in wrapper
    for rel in (f"{PKG}/misc/s1.py", "tests/ops/misc/test_s1.py", "benchmarks/ops/misc/bench_s1.py"):
        compile(project.read(rel), rel, "exec")
    project.ok("check")
    project.ok("remove", "s1", "--yes")
    project.assert_unchanged()


@pytest.mark.slow
@pytest.mark.parametrize("case", ["str-quotes-backslash", "float-neg-exp", "lists"])
def test_odd_schemas_compile_in_the_binding(project: ProjectCopy, binding_command, case):  # noqa: F811
    tail, _ = ODD_BUT_VALID[case]
    project.ok("new", "s1", "--schema", f"{HEAD}, {tail}) -> ()")
    compiled = _binding_compiles(project, binding_command, "s1")
    assert compiled.returncode == 0, compiled.stderr[-3000:]


@pytest.mark.parametrize(
    "text",
    ["plain", 'a"b', "a\\b", "a\\\"b'c\\n", '\\"', "x\\\\"],
)
def test_cpp_string_literal_round_trips(text):
    literal = cpp_string_literal(text)
    assert literal.startswith('"') and literal.endswith('"')
    assert cpp_string_value(literal[1:-1]) == text


def test_torch_checked_takes_defaults_from_torch():
    schema = torch_checked(parse_schema(f"{HEAD}, int i=007, str s='a\\'b') -> ()"), "text")
    assert [a.py_default for a in schema.args[2:]] == ["7", '"a\'b"']


# ------------------------------------------------------------------------------------------- init


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        pytest.param(["--namespace", "aten"], ["torch.ops.aten is torch's own namespace", "--namespace aten_ops"]),
        pytest.param(["--namespace", "prim"], ["torch's own namespace"]),
        pytest.param(["--namespace", "prims"], ["torch's own namespace"]),
        pytest.param(["--namespace", "quantized"], ["torch's own namespace"]),
        pytest.param(["--namespace", "c10"], ["torch's own namespace"]),
        pytest.param(["--namespace", "profiler"], ["torch's own namespace"]),
        pytest.param(["--namespace", "onnx"], ["torch's own namespace"]),
        pytest.param(["--namespace", "loaded_libraries"], ["torch's own namespace"]),
        pytest.param(["--namespace", "_"], ["lowercase identifier"]),
        pytest.param(["--namespace", "class"], ["no Python keyword"]),
        pytest.param(["--namespace", "linux"], ["predefines"]),
        pytest.param(["--name", "aten"], ["--name (the default --namespace) 'aten'"]),
        pytest.param(["--name", "torch"], ["shadow the Python package torch", "--name my_torch"]),
        pytest.param(["--name", "typing"], ["standard-library module typing"]),
        pytest.param(["--name", "json"], ["standard-library module json"]),
        pytest.param(["--name", "kernelkit"], ["shadow the kernelkit CLI"]),
        pytest.param(["--name", "numpy"], ["shadow the Python package numpy"]),
        pytest.param(["--name", "lambda"], ["lowercase Python identifier"]),
    ],
)
def test_init_refuses_names_torch_or_python_own(tmp_path, monkeypatch, args, needles):
    from kernelkit.cli import app

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["init", str(tmp_path / "lib"), *args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert list(tmp_path.iterdir()) == []
