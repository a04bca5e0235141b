"""Where the texts come from: one loader per `dataset.source` (sources.SOURCES, the registry) and
the column rules of local files (data_files).

May import: runner.config, runner.errors, runner.console, runner.hub, runner.registry.
"""
