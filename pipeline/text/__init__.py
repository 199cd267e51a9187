"""Pure text work: reading prompt files, SimHash fingerprints, Hamming search, spreadsheet-safe cells.

May import: the standard library and numeric libraries only; nothing of ours (no store, no engines)."""
