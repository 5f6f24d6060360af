"""The HTML report: one self-contained page per run, the index of runs, and comparisons.

`bench.report.render` draws pages; `bench.report.publish` decides where a run's files go. Nothing
here is imported at package import, so that the pytest plugin starts without pandas.
"""
