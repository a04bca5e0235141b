"""Texts into tokens and what the tokens say: the tokenizer's load (tokenizer), encoding in
windows and batches (encoding, window, batch), the rows of tokens.json (token_rows), the
statistics (token_stats, fidelity, unicode_scripts) and per-example fingerprints (fingerprints).

May import: runner.config, runner.data, runner.errors, runner.hub, runner.registry, and
runner.tracking.readback (a `runs:/` tokenizer).
"""
