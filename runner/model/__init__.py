"""The model: its load (models), the heads and their answers (heads.HEADS, the registry), the
forward pass (inference), the outputs spool (outputs) and the tiny offline models (tiny).

May import: runner.config, runner.tokenization, runner.errors, runner.hub, runner.registry.
"""
