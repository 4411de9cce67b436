"""kernelkit.model.schema (op schemas -> C++/Python types) and kernelkit.model.regions (the marked regions `new`
and `remove` edit), as units: no project copy, no CLI."""

from __future__ import annotations

import re

import pytest

from kernelkit.errors import KernelkitError
from kernelkit.model import layout, regions
from kernelkit.model.regions import RegionSpec, key_by
from kernelkit.model.schema import Arg, parse_arg, parse_schema

# ------------------------------------------------------------------------------------------ schema


@pytest.mark.parametrize(
    ("schema_type", "cpp", "py"),
    [
        ("Tensor", "Tensor", "torch.Tensor"),
        ("Tensor!", "Tensor", "torch.Tensor"),
        ("Tensor(a!)", "Tensor", "torch.Tensor"),
        ("Tensor?", "std::optional<Tensor>", "torch.Tensor | None"),
        ("Tensor[]", "std::vector<Tensor>", "list[torch.Tensor]"),
        ("int", "int64_t", "int"),
        ("int?", "std::optional<int64_t>", "int | None"),
        ("int[]", "std::vector<int64_t>", "list[int]"),
        ("int[2]", "std::vector<int64_t>", "list[int]"),
        ("float", "double", "float"),
        ("float[]", "std::vector<double>", "list[float]"),
        ("float?", "std::optional<double>", "float | None"),
        ("bool", "bool", "bool"),
        ("bool[]", "std::vector<bool>", "list[bool]"),
        ("str", "std::string", "str"),
        ("str?", "std::optional<std::string>", "str | None"),
        ("ScalarType", "torch::headeronly::ScalarType", "torch.dtype"),
        ("Device", "torch::stable::Device", "torch.device"),
    ],
)
def test_type_mapping(schema_type, cpp, py):
    schema = parse_schema(f"op(Tensor! out, {schema_type} arg) -> ()")
    arg = schema.args[1]
    assert arg.name == "arg"
    assert arg.cpp_type == cpp
    assert arg.py_type == py


def test_a_whole_schema():
    schema = parse_schema(
        "my_custom(Tensor! out, Tensor x, Tensor? bias, int[] dims, float alpha, bool flag=False) -> ()"
    )
    assert schema.name == "my_custom"
    assert [a.name for a in schema.args] == ["out", "x", "bias", "dims", "alpha", "flag"]
    assert [a.cpp_type for a in schema.args] == [
        "Tensor", "Tensor", "std::optional<Tensor>", "std::vector<int64_t>", "double", "bool",
    ]  # fmt: skip
    assert [a.name for a in schema.mutable_tensors] == ["out"]
    assert [a.name for a in schema.input_tensors] == ["x"]  # the optional bias is no required input
    assert (
        schema.render()
        == "my_custom(Tensor! out, Tensor x, Tensor? bias, int[] dims, float alpha, bool flag=False) -> ()"
    )


@pytest.mark.parametrize("text", ["Tensor! out", "Tensor(a!) out", "Tensor(b!) out"])
def test_mutable_tensors(text):
    arg = parse_arg(text, "s")
    assert arg.mutable and arg.is_tensor and not arg.optional and not arg.is_list
    assert arg.schema_type == "Tensor!"


def test_plain_tensor_is_not_mutable():
    arg = parse_arg("Tensor input", "s")
    assert not arg.mutable and arg.is_tensor


def test_mutable_alias_renders_as_bang():
    assert parse_schema("op(Tensor(a!) out, Tensor input) -> ()").render() == "op(Tensor! out, Tensor input) -> ()"


@pytest.mark.parametrize(
    ("text", "default", "py_default"),
    [
        ("float eps=1e-06", "1e-06", "1e-06"),
        ("float eps = 0.5", "0.5", "0.5"),
        ("bool flag=False", "False", "False"),
        ("bool flag=True", "True", "True"),
        ("int? n=None", "None", "None"),
        ("int k=-1", "-1", "-1"),
        ("int[] dims=[1, 2]", "[1, 2]", "[1, 2]"),
        ("float alpha", None, None),
    ],
)
def test_defaults(text, default, py_default):
    arg = parse_arg(text, "s")
    assert arg.default == default
    assert arg.py_default == py_default


def test_default_list_with_commas_is_one_argument():
    schema = parse_schema("op(Tensor! out, Tensor x, int[] dims=[0, 1], float s=1.0) -> ()")
    assert [a.name for a in schema.args] == ["out", "x", "dims", "s"]
    assert schema.args[2].default == "[0, 1]"
    assert schema.render() == "op(Tensor! out, Tensor x, int[] dims=[0, 1], float s=1.0) -> ()"


def test_a_schema_without_a_name_takes_the_expected_one():
    schema = parse_schema("(Tensor! out, Tensor input, float scale) -> ()", expected_name="my_scale")
    assert schema.name == "my_scale"
    assert schema.render() == "my_scale(Tensor! out, Tensor input, float scale) -> ()"


def test_no_arguments_and_whitespace():
    assert parse_schema("  op ( )  ->  ()  ").args == ()
    assert parse_schema("op(Tensor!   out ,  Tensor  x)->()").render() == "op(Tensor! out, Tensor x) -> ()"


def test_arg_render_round_trip():
    for text in ("Tensor! out", "Tensor? bias", "int[] dims", "float alpha=0.5", "bool flag=False", "str? mode=None"):
        assert parse_arg(text, "s").render() == text.replace(" = ", "=")
    assert Arg("x", "Tensor", optional=True).render() == "Tensor? x"


@pytest.mark.parametrize(
    ("text", "expected_name", "needles"),
    [
        ("op(Tensor! out, Tensor input", None, ["expected 'name(Type arg, ...) -> ()'"]),
        ("op(Tensor! out, Tensor input)", None, ["expected 'name(Type arg, ...) -> ()'"]),
        ("Tensor! out, Tensor input -> ()", None, ["expected 'name(Type arg, ...) -> ()'"]),
        ("", None, ["expected 'name(Type arg, ...) -> ()'"]),
        ("op(Tensor! out, Tensor) -> ()", None, ["cannot parse argument 'Tensor'", "'Tensor! out'"]),
        ("op(Tensor! out, Tensor in put) -> ()", None, ["cannot parse argument 'Tensor in put'"]),
        (
            "op(Tensor! out, Scalar alpha) -> ()",
            None,
            ["type 'Scalar' of 'alpha' is not supported", "use float (or int) instead of Scalar"],
        ),
        ("op(Tensor! out, Generator? gen) -> ()", None, ["type 'Generator' of 'gen'", "pass a seed/offset as int"]),
        ("op(Tensor! out, SymInt n) -> ()", None, ["type 'SymInt' of 'n'", "use int"]),
        ("op(Tensor! out, MemoryFormat f) -> ()", None, ["type 'MemoryFormat'"]),
        (
            "op(Tensor! out, Frobnicator f) -> ()",
            None,
            ["type 'Frobnicator'", "supported: Tensor, int, float, bool, str"],
        ),
        ("op(Tensor! out, Tensor input) -> Tensor", None, ["returns 'Tensor'", "write into Tensor! arguments"]),
        ("op(Tensor input) -> (Tensor, Tensor)", None, ["returns '(Tensor, Tensor)'"]),
        ("other(Tensor! out) -> ()", "op", ["names op 'other', but the op is 'op'"]),
        ("op(Tensor! out, Tensor x, int x) -> ()", None, ["argument names repeat: x"]),
        ("op(Tensor! out, float a=1.0, float b) -> ()", None, ["'b' has no default but follows an argument with one"]),
        ("op(Tensor(a) out) -> ()", None, ["only mutable aliases"]),
        ("op(int! n) -> ()", None, ["only Tensor arguments can be mutable"]),
        ("op(Tensor![] outs) -> ()", None, ["a mutable tensor must be a plain Tensor!"]),
        ("op(Tensor!? out) -> ()", None, ["a mutable tensor must be a plain Tensor!"]),
        ("op(str[] names) -> ()", None, ["lists of str are not supported"]),
        ("op(Device[] devs) -> ()", None, ["lists of Device are not supported"]),
    ],
)
def test_refusals_say_why(text, expected_name, needles):
    with pytest.raises(KernelkitError) as info:
        parse_schema(text, expected_name=expected_name)
    message = str(info.value)
    assert message.startswith("schema '"), message
    assert "\n" not in message
    for needle in needles:
        assert needle in message, (needle, message)
    assert info.value.exit_code != 0


# ----------------------------------------------------------------------------------------- regions

LINES = RegionSpec("things", key_by(r'^\s*"([a-z_]+)",\s*$'))
BLOCKS = RegionSpec("decls", key_by(r"\bdo_([a-z_]+)\("), blocks=True)
PATHS = RegionSpec("paths", key_by(r"src/[a-z_]+/([a-z_]+)\.cu\b"), sort_by_text=True)

LINES_TEXT = """\
head
# kernelkit:things-begin
    "apple",
    "cherry",
# kernelkit:things-end
tail
"""

BLOCKS_TEXT = """\
// prologue
// kernelkit:decls-begin
// apple
void do_apple(int x);

void do_cherry(int x,
               int y);
// kernelkit:decls-end
// epilogue
"""

PATHS_TEXT = """\
set(SOURCES
  # kernelkit:paths-begin
  src/alpha/zeta.cu
  src/gamma/alpha.cu
  # kernelkit:paths-end
)
"""


def test_lines_insert_sorted():
    text = regions.insert(LINES_TEXT, LINES, "banana", '    "banana",')
    assert text == LINES_TEXT.replace('    "cherry",', '    "banana",\n    "cherry",')
    text = regions.insert(text, LINES, "aaa", '    "aaa",')
    text = regions.insert(text, LINES, "zebra", '    "zebra",')
    assert [e.key for e in regions.entries(text, LINES)] == ["aaa", "apple", "banana", "cherry", "zebra"]
    assert text.startswith("head\n# kernelkit:things-begin\n") and text.endswith("# kernelkit:things-end\ntail\n")


def test_entries_report_their_lines():
    found = regions.entries(LINES_TEXT, LINES)
    assert [(e.key, e.line) for e in found] == [("apple", 3), ("cherry", 4)]
    assert found[0].text == '    "apple",'


def test_blocks_insert_with_blank_line_separators():
    entry = "// banana\nvoid do_banana(int x);"
    text = regions.insert(BLOCKS_TEXT, BLOCKS, "banana", entry)
    assert "void do_apple(int x);\n\n// banana\nvoid do_banana(int x);\n\nvoid do_cherry(int x," in text
    found = regions.entries(text, BLOCKS)
    assert [e.key for e in found] == ["apple", "banana", "cherry"]
    assert found[2].text == "void do_cherry(int x,\n               int y);"  # a block spans lines
    assert found[1].line == text.split("\n").index("// banana") + 1


def test_blocks_insert_last_and_into_an_empty_region():
    text = regions.insert(BLOCKS_TEXT, BLOCKS, "zebra", "void do_zebra();\n")
    assert text.endswith("int y);\n\nvoid do_zebra();\n// kernelkit:decls-end\n// epilogue\n")
    empty = "a\n// kernelkit:decls-begin\n// kernelkit:decls-end\nb\n"
    once = regions.insert(empty, BLOCKS, "one", "void do_one();")
    assert once == "a\n// kernelkit:decls-begin\nvoid do_one();\n// kernelkit:decls-end\nb\n"
    assert regions.remove(once, BLOCKS, "one") == empty


def test_sort_by_text_orders_by_path_not_by_key():
    text = regions.insert(PATHS_TEXT, PATHS, "beta", "  src/beta/beta.cu")
    assert [e.text.strip() for e in regions.entries(text, PATHS)] == [
        "src/alpha/zeta.cu", "src/beta/beta.cu", "src/gamma/alpha.cu",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "spec", "key", "entry"),
    [
        (LINES_TEXT, LINES, "cherry", '    "cherry",'),
        (BLOCKS_TEXT, BLOCKS, "apple", "void do_apple(long x);"),
        (PATHS_TEXT, PATHS, "zeta", "  src/other/zeta.cu"),
    ],
    ids=["lines", "blocks", "paths"],
)
def test_duplicate_refused(text, spec, key, entry):
    with pytest.raises(KernelkitError) as info:
        regions.insert(text, spec, key, entry, "some/file.txt")
    message = str(info.value)
    assert "some/file.txt" in message and f"'{key}' already has an entry" in message and spec.name in message


@pytest.mark.parametrize(("text", "spec"), [(LINES_TEXT, LINES), (BLOCKS_TEXT, BLOCKS), (PATHS_TEXT, PATHS)])
def test_remove_of_a_missing_key_refused(text, spec):
    with pytest.raises(KernelkitError) as info:
        regions.remove(text, spec, "durian", "some/file.txt")
    assert "some/file.txt" in str(info.value) and "no entry for 'durian'" in str(info.value)


@pytest.mark.parametrize(
    ("text", "spec", "key", "entry"),
    [
        (LINES_TEXT, LINES, "banana", '    "banana",'),
        (LINES_TEXT, LINES, "aaa", '    "aaa",'),
        (LINES_TEXT, LINES, "zzz", '    "zzz",'),
        (BLOCKS_TEXT, BLOCKS, "banana", "// banana\nvoid do_banana(int x,\n               int y);"),
        (BLOCKS_TEXT, BLOCKS, "aaa", "void do_aaa();"),
        (BLOCKS_TEXT, BLOCKS, "zzz", "void do_zzz();"),
        (PATHS_TEXT, PATHS, "beta", "  src/beta/beta.cu"),
        (PATHS_TEXT, PATHS, "omega", "  src/zz/omega.cu"),
    ],
)
def test_insert_then_remove_is_byte_identical(text, spec, key, entry):
    inserted = regions.insert(text, spec, key, entry)
    assert inserted != text
    assert regions.remove(inserted, spec, key) == text


def test_remove_takes_out_exactly_one_entry():
    assert regions.remove(LINES_TEXT, LINES, "apple") == LINES_TEXT.replace('    "apple",\n', "")
    assert regions.remove(BLOCKS_TEXT, BLOCKS, "apple") == BLOCKS_TEXT.replace(
        "// apple\nvoid do_apple(int x);\n\n", ""
    )


def test_insert_touches_nothing_outside_the_region():
    text = 'x "zzz",\n' + LINES_TEXT + '    "aaa",\n'
    inserted = regions.insert(text, LINES, "banana", '    "banana",')
    assert inserted.startswith('x "zzz",\nhead\n') and inserted.endswith('tail\n    "aaa",\n')


@pytest.mark.parametrize(
    ("text", "counts"),
    [
        ("no markers at all\n", "found 0 begin and 0 end markers"),
        ("# kernelkit:things-begin\n", "found 1 begin and 0 end markers"),
        ("# kernelkit:things-end\n", "found 0 begin and 1 end markers"),
        ("# kernelkit:things-end\n# kernelkit:things-begin\n", "found 1 begin and 1 end markers"),
        (
            "# kernelkit:things-begin\n# kernelkit:things-begin\n# kernelkit:things-end\n",
            "found 2 begin and 1 end markers",
        ),
    ],
    ids=["none", "no-end", "no-begin", "reversed", "two-begins"],
)
def test_broken_markers_name_the_file(text, counts):
    for call in (
        lambda: regions.insert(text, LINES, "x", '    "x",', "library/CMakeLists.txt"),
        lambda: regions.remove(text, LINES, "x", "library/CMakeLists.txt"),
        lambda: regions.entries(text, LINES, "library/CMakeLists.txt"),
    ):
        with pytest.raises(KernelkitError) as info:
            call()
        message = str(info.value)
        assert message.startswith("library/CMakeLists.txt: ")
        assert "kernelkit:things-begin" in message and "kernelkit:things-end" in message
        assert counts in message


# The real regions of the project, as `new` and `remove` see them.

_REAL = [
    ("library/CMakeLists.txt", layout.OPS, "my_op", "  misc/my_op"),
    ("library/CMakeLists.txt", layout.FP4_OPS, "my_op", "  misc/my_op"),
    ("library/python/kernelkit_ops/__init__.py", layout.EXPORTS, "my_op", "from kernelkit_ops.misc.my_op import my_op"),
    ("library/python/kernelkit_ops/__init__.py", layout.ALL, "my_op", '    "my_op",'),
]


@pytest.mark.parametrize(
    ("rel", "spec", "key", "entry"), _REAL, ids=[f"{r[0].split('/')[-1]}:{r[1].name}" for r in _REAL]
)
def test_real_regions_round_trip(repo_root, rel, spec, key, entry):
    original = (repo_root / rel).read_text()
    before = regions.entries(original, spec, rel)
    inserted = regions.insert(original, spec, key, entry, rel)
    after = regions.entries(inserted, spec, rel)
    assert sorted(e.key for e in after) == sorted([e.key for e in before] + [key])
    order = [e.text.strip() for e in after] if spec.sort_by_text else [e.key for e in after]
    assert order == sorted(order)
    added = len(inserted.split("\n")) - len(original.split("\n"))
    assert added == entry.count("\n") + 1 + (1 if spec.blocks and before else 0)  # plus a blank separator
    assert regions.remove(inserted, spec, key, rel) == original


def test_real_regions_hold_the_activation_ops(repo_root):
    from kernelkit.model import registry

    cmake = (repo_root / "library/CMakeLists.txt").read_text()
    keys = [e.key for e in regions.entries(cmake, layout.OPS)]
    assert {"gelu_and_mul", "gelu_tanh_and_mul", "silu_and_mul"} <= set(keys)
    texts = [e.text.strip() for e in regions.entries(cmake, layout.OPS)]
    assert texts == sorted(texts)  # the CMake list is kept sorted by path
    assert "activation/silu_and_mul" in texts
    # FP4 ops: in CMake's fp4-ops list instead, and nowhere else in a shared file.
    fp4 = [e.key for e in regions.entries(cmake, layout.FP4_OPS)]
    assert not set(fp4) & set(keys)
    # Each listed op registers itself in its own binding TU, once.
    for key, text in zip(keys + fp4, texts + [e.text.strip() for e in regions.entries(cmake, layout.FP4_OPS)]):
        found = registry.registrations((repo_root / "library/csrc" / f"{text}.cc").read_text())
        assert [(r.namespace, r.name) for r in found] == [("kernelkit", key)]


def test_a_wrapped_export_is_one_entry():
    """ruff format wraps an import longer than the line in parentheses: still one entry, removed whole."""
    text = "# kernelkit:exports-begin\nfrom p.a.x import x\n# kernelkit:exports-end\n"
    long = "from p.b.a_long_name import (\n    a_long_name,\n)"
    inserted = regions.insert(text, layout.EXPORTS, "a_long_name", long)
    found = regions.entries(inserted, layout.EXPORTS)
    assert [(e.key, e.line) for e in found] == [("x", 2), ("a_long_name", 3)]
    assert found[1].text == long
    assert regions.insert(inserted, layout.EXPORTS, "y", "from p.c.y import y").endswith(
        "from p.c.y import y\n# kernelkit:exports-end\n"
    )
    assert regions.remove(inserted, layout.EXPORTS, "a_long_name") == text


def test_an_entry_sorting_last_goes_before_a_formatter_blank_line():
    """isort puts a blank line between the last import and the end marker: a new last entry goes above it."""
    text = "# kernelkit:exports-begin\nfrom p.a.x import x\n\n# kernelkit:exports-end\n"
    inserted = regions.insert(text, layout.EXPORTS, "z", "from p.z.z import z")
    assert (
        inserted == "# kernelkit:exports-begin\nfrom p.a.x import x\nfrom p.z.z import z\n\n# kernelkit:exports-end\n"
    )
    assert regions.remove(inserted, layout.EXPORTS, "z") == text


def test_export_entry_wraps_as_ruff_does(repo_root):
    from kernelkit.project import find_project

    project = find_project(repo_root)
    assert layout.export_entry(project, "norm", "my_op") == "from kernelkit_ops.norm.my_op import my_op"
    name = "a" * 60
    assert layout.export_entry(project, "norm", name) == f"from kernelkit_ops.norm.{name} import (\n    {name},\n)"


def test_insert_then_remove_keeps_a_hand_edited_region():
    text = LINES_TEXT.replace("# kernelkit:things-begin\n", "# kernelkit:things-begin\n\n")
    assert regions.remove(regions.insert(text, LINES, "banana", '    "banana",'), LINES, "banana") == text


@pytest.mark.parametrize(
    "schema, message",
    [
        ("foo(Tensor! out, Tensor input, bool flag=true) -> ()", "default 'true' of 'flag' is not valid for bool"),
        ("foo(Tensor! out, Tensor input, float eps=abc) -> ()", "default 'abc' of 'eps' is not valid for float"),
        ("foo(Tensor! out, Tensor input, float eps=1e-6f) -> ()", "default '1e-6f' of 'eps'"),
        ("foo(Tensor! out, Tensor input, int n=1.5) -> ()", "default '1.5' of 'n' is not valid for int"),
        ("foo(Tensor! out, Tensor input, str mode=abc) -> ()", "a quoted string"),
    ],
)
def test_defaults_torch_would_reject_at_load_are_refused(schema, message):
    # torch aborts the whole process when the library registers such a schema: refuse it up front.
    with pytest.raises(KernelkitError, match=re.escape(message)):
        parse_schema(schema)


def test_valid_defaults_pass():
    s = parse_schema(
        'foo(Tensor! out, Tensor input, float eps=1e-06, bool f=False, int n=-3, str m="x", Tensor? b=None) -> ()'
    )
    assert [a.default for a in s.args[2:]] == ["1e-06", "False", "-3", '"x"', "None"]


def test_host_functions_are_read_beside_the_op_and_not_counted_as_ops():
    """KERNELKIT_REGISTER_HOST_FN lines (wrapped as a formatter leaves them, one commented out) are the binding's
    host functions; KERNELKIT_REGISTER_OP stays the one op of the file."""
    from kernelkit.model import registry

    text = (
        'KERNELKIT_REGISTER_OP(ns, op_a, &kernelkit::binding::op_a, "op_a(Tensor! out) -> ()");\n'
        "KERNELKIT_REGISTER_HOST_FN(ns, make_handle, &kernelkit::binding::make_handle,\n"
        '                           "make_handle(int[] ptrs, Tensor data, int rank) -> int");\n'
        'KERNELKIT_REGISTER_HOST_FN(ns, get_meta, &get_meta, "get_meta(int fa) "\n  "-> (int[], int[])");\n'
        '// KERNELKIT_REGISTER_HOST_FN(ns, gone, &gone, "gone() -> ()");\n'
    )
    assert [(r.name, r.function) for r in registry.registrations(text)] == [("op_a", "op_a")]
    found = registry.host_functions(text)
    assert [(r.namespace, r.name, r.function, r.schema_text, r.line) for r in found] == [
        ("ns", "make_handle", "make_handle", "make_handle(int[] ptrs, Tensor data, int rank) -> int", 2),
        ("ns", "get_meta", "get_meta", "get_meta(int fa) -> (int[], int[])", 4),
    ]


def test_the_all_reduce_binding_registers_sgl_kernels_host_functions(repo_root):
    from kernelkit.model import registry

    text = (repo_root / "library/csrc/allreduce/all_reduce.cc").read_text()
    names = {r.name for r in registry.host_functions(text)}
    assert {"init_custom_ar", "dispose", "meta_size", "register_buffer", "get_graph_buffer_ipc_meta",
            "register_graph_buffers"} <= names  # fmt: skip
    assert [r.name for r in registry.registrations(text)] == ["all_reduce"]
