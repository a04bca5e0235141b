"""Where results go and how they come back: the Tracker protocol every tracker implements (base),
one MLflow store (tracker), keeping a run locally while a tracking server is away (keep), every
read of runs and artifacts (readback), URIs and probes (store) and runner-sync (sync). The only
room that imports mlflow.

May import: runner.config, runner.errors, runner.console, runner.probe, runner.model (the outputs
format), runner.engine.result (for types only) and runner.analysis.ending (sync rebuilds a kept
sweep's end).
"""
