"""A synthetic paired ECG–CMR cohort.

Every subject has a hidden cardiac state (`cohort.state`) that drives both a 12-lead ECG
(`cohort.ecg`) and SAX / 4-chamber LAX cine CMR (`cohort.cmr`). `python -m cohort.build` writes a
cohort to disk; `python -m cohort.sample_data` writes the demo patients in real ECG file formats.
Everything is deterministic by seed. See docs/synthetic-cohort.md for parameters and sources.
"""

GENERATOR_VERSION = "cohort-2.0"  # 2.0: PH groups, infarct size, acute/previous pericarditis, QTc, pose.npy; 1.1: cited reference values (2026-12-01)

LEAD_NAMES = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
