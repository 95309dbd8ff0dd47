"""Validation: calibration against measured traces, the error report, microbenchmarks of this machine."""
