"""`kernelkit list` in a terminal of any width: one line per op, the columns that fit, and a caption naming those
left out (a wrapped table, several lines per op in an 80-column terminal, was unreadable)."""

from __future__ import annotations

import pytest
from scaffold_helpers import (  # noqa: F401  (pristine_project, project: fixtures)
    ProjectCopy,
    pristine_project,
    project,
    table_cells,
)

from kernelkit.cli.list_ops import fit_columns

COLUMNS = [  # header, cells, drop order (None: never dropped)
    ("op", ["a_long_op_name", "b"], None),
    ("category", ["norm", "rope"], 2),
    ("dtypes", ["bf16,fp16,fp32", "bf16"], 0),
    ("test", ["✓", "[red]✗[/]"], None),
    ("last bench", ["1.5 µs 80% T=1", "—"], 1),
]
# Widths as drawn: 1 + per column (widest cell or header + 3): op 17, category 11, dtypes 17, test 7, last bench 17.
FULL_WIDTH = 1 + 17 + 11 + 17 + 7 + 17


def headers(columns) -> list[str]:
    return [header for header, _, _ in columns]


def test_every_column_when_it_fits():
    kept, left_out = fit_columns(COLUMNS, FULL_WIDTH)
    assert headers(kept) == ["op", "category", "dtypes", "test", "last bench"] and left_out == []


@pytest.mark.parametrize(
    ("width", "left"),
    [
        (FULL_WIDTH - 1, ["dtypes"]),
        (FULL_WIDTH - 17, ["dtypes"]),
        (FULL_WIDTH - 18, ["dtypes", "last bench"]),
        (FULL_WIDTH - 34, ["dtypes", "last bench"]),
        (FULL_WIDTH - 35, ["dtypes", "last bench", "category"]),
    ],
)
def test_columns_drop_in_their_order_until_the_rest_fits(width, left):
    kept, left_out = fit_columns(COLUMNS, width)
    assert left_out == left
    assert headers(kept) == [h for h in headers(COLUMNS) if h not in left]  # the rest keep their places


def test_the_essential_columns_stay_however_narrow():
    kept, left_out = fit_columns(COLUMNS, 10)
    assert headers(kept) == ["op", "test"] and left_out == ["dtypes", "last bench", "category"]


def test_markup_does_not_count_towards_a_cells_width():
    # "[red]✗[/]" is one character on screen: the test column is its header's width, not the markup's.
    only_test = [("test", ["[red]✗[/]"], None)]
    assert fit_columns(only_test, 1 + 4 + 3) == (only_test, [])


@pytest.mark.parametrize("width", [60, 80, 100, 120, 250])
def test_the_real_table_has_one_line_per_op_at_every_width(project: ProjectCopy, width: int):
    ops = [row["op"] for row in project.ok("list", "--json").json()]
    text = project.run("list", width=width).output
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    for op in ops:  # each op whole, on exactly one row
        assert sum(1 for line in lines if line.startswith("│") and line.split("│")[1].strip() == op) == 1, op
    rows = [line for line in lines if line.startswith("│")]
    assert len(rows) == len(ops)  # no continuation lines
    header = next(line for line in lines if line.startswith("┃") and "op" in line)
    shown = [cell.strip() for cell in header.split("┃")[1:-1]]
    cells = dict(zip(shown, table_cells(text, "rmsnorm")))
    assert cells["test"] == cells["bench"] == "✓"  # shown at every width
    caption = " ".join(line.strip() for line in lines if "left out at" in line or "shows them" in line)
    if width >= 250:
        assert "left out" not in text and "bf16" in text  # dtypes shown
    else:
        assert f"left out at {width} columns: dtypes" in caption and "--json shows them" in caption


def test_json_keeps_every_field_whatever_the_width(project: ProjectCopy):
    narrow = project.run("list", "--json", width=60)
    assert narrow.exit_code == 0
    row = next(r for r in narrow.json() if r["op"] == "rmsnorm")
    assert {"op", "category", "dtypes", "test", "bench", "last_bench"} <= set(row)
