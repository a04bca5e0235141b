"""What the user asked for: the typed config (schema), run and sweep names (naming), the inner
grid of a packed sweep (packing), secrets kept out of what is logged (redact).

May import: runner.errors. Nothing else of the runner.
"""
