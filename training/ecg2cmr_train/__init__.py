"""ecg2cmr training pipeline: reference model (model.py), bundle writer (bundle.py), preprocessing."""
