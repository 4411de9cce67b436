"""The project model: where each piece of an op lives (layout), which ops exist and whether their pieces
agree (registry), op schemas, and the marked regions of the shared files."""
