"""Writing code into a project: `new` / `remove` (scaffold), `init` (initproject), wrapped the way the project's
formatters wrap it, and applied all or nothing (transaction)."""
