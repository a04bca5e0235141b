"""The run-tag keys one room writes and others read, in one place (as MLflow keeps its own in
`mlflow.utils.mlflow_tags`): a key renamed here is renamed everywhere."""

from __future__ import annotations

ROLE = "runner.role"  # "sweep" on a sweep's parent run
SWEEP_ROLE = "sweep"
JOB_NUM = "sweep.job_num"  # a sweep child's job number ("3", "3.1" for an inner combination)
# MLflow's own key for a child's parent (mlflow.utils.mlflow_tags.MLFLOW_PARENT_RUN_ID), named
# here for the rooms that may not import MLflow
PARENT = "mlflow.parentRunId"
