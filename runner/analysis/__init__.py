"""Runs read back and set side by side: the comparison tables (compare), the HTML report
(report), boundary agreement (agreement) and output invariance (invariance).

May import: runner.tracking, runner.model, runner.config, runner.errors, runner.console.
"""
