"""Answer-quality evaluation: the run, metrics, reports, QA proposals, calibration. Imports the pipeline; the core never imports it."""
