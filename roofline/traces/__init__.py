"""Measured traces: the CSV format with provenance (files.py) and importers from other tools'
output (importers.py). Validation, calibration, plots and the llama.cpp probes all read them."""
