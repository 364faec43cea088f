"""Train the demo bundle end to end: `python train.py --config configs/demo.json` (see README.md)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ecg2cmr_train.pipeline import main  # noqa: E402

if __name__ == "__main__":
    main()
