"""Where results go: the MLflow store (store), the Tracker every run writes through (tracker), and
keeping a run locally while a tracking server is away (keep).

May import: runner.config, runner.errors, runner.probe (runner.engine.result for types only).
"""
