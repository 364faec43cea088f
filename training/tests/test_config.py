"""The training config is typed by the demo config: misspelt or mistyped settings are refused."""
import json
import re
import sys
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TRAINING))

from ecg2cmr_train import realdata  # noqa: E402
from ecg2cmr_train.config import ConfigError, check_config, load_config  # noqa: E402


def write(tmp_path, cfg):
    p = tmp_path / "c.json"
    p.write_text(json.dumps(cfg))
    return p


def test_shipped_configs_load():
    for name in ("demo.json", "tiny.json"):
        cfg = load_config(TRAINING / "configs" / name)
        assert cfg["encoder"]["width"] > 0


@pytest.mark.parametrize("cfg, message", [
    ({"heads": {"stpes": 10}}, "heads.stpes is not a setting (did you mean steps?)"),
    ({"seed": "7"}, "seed must be a number"),
    ({"encoder": 96}, "encoder must be an object"),
    ({"align": {"weighted": 1}}, "align.weighted must be a bool"),
    ({"learning_rate": 0.1}, "learning_rate is not a setting"),
    ({"synthetic": "yes"}, "synthetic must be a bool"),
])
def test_wrong_settings_are_refused_with_their_path(tmp_path, cfg, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(write(tmp_path, cfg))


def test_unset_defaults_and_optional_settings_are_accepted(tmp_path):
    cfg = load_config(write(tmp_path, {"max_subjects": {"train": 100}, "disclaimer": "real data", "synthetic": False,
                                       "mdm": {"minutes": 2}}))
    assert cfg["max_subjects"]["train"] == 100 and cfg["mdm"]["minutes"] == 2 and cfg["synthetic"] is False


def test_overrides_are_checked_too():
    with pytest.raises(ConfigError, match="overrides: cohrt is not a setting"):
        load_config(None, {"cohrt": "x"})


def test_real_data_config_is_checked_against_its_defaults():
    with pytest.raises(ConfigError, match=r"train.stepz is not a setting \(did you mean steps\?\)"):
        check_config({"train": {"stepz": 1}}, base=realdata.DEFAULTS, source="real-data config",
                     optional=realdata.OPTIONAL_SETTINGS)
    check_config({"train": {"steps": 5}, "bundle_id": "mine"}, base=realdata.DEFAULTS, optional=realdata.OPTIONAL_SETTINGS)
