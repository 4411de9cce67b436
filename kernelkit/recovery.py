"""What a kernelkit command that was cut off (killed, or Ctrl-C'd outside its held steps) left behind,
found and repaired by the next command.

`transaction.recover` undoes or finishes a file change from its journal (and clears staged files no
journal names); `release.recover` undoes or finishes a release from its own. Commands that change the
project run `repair` under the project lock before they plan anything; `check`, `doctor` and `build` run
`repair_if_needed`, which takes the lock only when something was left (a read-only checkout stays untouched).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from kernelkit import release
from kernelkit.codegen import transaction
from kernelkit.errors import KernelkitError


@dataclass
class Repairs:
    messages: list[str] = field(default_factory=list)  # one per thing found: what was done, or what to do
    released: str | None = None  # the tag of a cut-off release this repair finished


def pending(root: Path) -> bool:
    """Whether anything is left to repair in `root` (cheap: no lock, no git)."""
    return transaction.has_leftovers(root) or (root / release.RELEASE_JOURNAL).exists()


def repair(root: Path, *, finish_release: bool = False) -> Repairs:
    """Repair what cut-off runs left; the caller holds the project lock. `finish_release`: tag a release cut
    off between its commit and its tag (`kernelkit release` does; other commands only say so)."""
    messages = transaction.recover(root)
    more, released = release.recover(root, finish=finish_release)
    return Repairs(messages + more, released)


def repair_if_needed(root: Path) -> Repairs:
    """`repair` for commands that do not hold the lock: takes it only when something is left; when another
    command holds it, what is left is that command's work in progress and stays as it is."""
    if not pending(root):
        return Repairs()
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(transaction.project_lock(root))
        except KernelkitError:
            busy = "another kernelkit command is changing this project right now; its files in progress are left to it"
            return Repairs([busy])
        return repair(root)


def repair_init_target(root: Path) -> Repairs:
    """What a cut-off `kernelkit init` left in the folder it was creating (its journal says what it wrote)."""
    journal = root / transaction.JOURNAL_NAME
    if not (journal.exists() or journal.with_name(journal.name + ".tmp").exists()):
        return Repairs()
    return Repairs(transaction.recover(root))
