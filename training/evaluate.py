"""Evaluate the exported bundle on the held-out test split and write docs/MODEL_CARD.md.

    python evaluate.py --config configs/demo.json
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ecg2cmr_train.evaluate import main  # noqa: E402

if __name__ == "__main__":
    main()
