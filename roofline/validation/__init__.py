"""Validation: traces (measurements with provenance), importers, calibration, the error report."""
