"""Where results go and how they come back: the Tracker protocol every tracker implements (base),
one MLflow store (tracker), keeping a run locally while a tracking server is away (keep), every
read of runs and artifacts (readback), URIs and reachability (store) and sending kept runs to
their server (sync). The only room that imports mlflow, and the floor above the bottom: it
imports runner.config, runner.errors and runner.reach only — what a run's result holds is the
engine's to map to writes (runner.engine.recording), a sweep's conclusion the caller's.
"""
