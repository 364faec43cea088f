"""Converter for MMCL's real layouts: timm-built MMCL-style encoders (training/mmcl_reference.py)
convert exactly, and anything that does not map is refused."""
import json
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
pytest.importorskip("timm")
import convert_checkpoint  # noqa: E402
import mmcl_reference  # noqa: E402
from ecg2cmr_train.bundle import load_bundle  # noqa: E402
from ecg2cmr_train.model import gradcam  # noqa: E402


@pytest.mark.parametrize("pooling", ["cls", "mean", "mha"])
def test_mmcl_layouts_convert_exactly(tmp_path, pooling):
    ref = mmcl_reference.write_case_set(pooling, tmp_path, "small", seed=3)
    enc, gen, manifest = load_bundle(tmp_path / "bundle")
    e = manifest["encoder"]
    assert gen is None and e["pooling"] == pooling and e["classToken"] is True and e["heads"] == 6
    assert manifest["input"]["sampleCount"] == 1000            # from pos_embed: 120 patch positions / 12 leads × 100
    assert [op["op"] for op in manifest["input"]["preprocessing"]] == ["resample", "sigmaClip", "baselineRemoval",
                                                                       "normalise", "cropOrPad"]
    reg = manifest["heads"][1]["outputs"][0]
    assert (reg["mean"], reg["std"]) == (60.0, 7.0)
    for k in range(2):
        x = torch.from_numpy(ref[f"case{k}.input"])
        with torch.no_grad():
            out = enc(x[None])
        assert (out["embedding"][0] - torch.from_numpy(ref[f"case{k}.embedding"])).abs().max() < 1e-5
        assert (out["heads"]["phenotype"][0] - torch.from_numpy(ref[f"case{k}.head.phenotype"])).abs().max() < 1e-5
        cam = gradcam(enc, x, manifest["gradcam"]["layer"], "risk", 0)
        assert (cam - torch.from_numpy(ref[f"case{k}.gradcam.risk.cad"])).abs().max() < 1e-4
        assert cam.max() == 1.0


def _state(pooling="mha"):
    model, _ = mmcl_reference.build(pooling, "small", seed=1)
    return dict(model.state_dict())


def _convert(sd, **kw):
    kw.setdefault("heads", 6)
    return convert_checkpoint.convert(sd, 12, **kw)


def test_unmapped_keys_are_refused():
    sd = _state("mean")
    sd["mask_token"] = torch.zeros(1, 1, 96)
    with pytest.raises(convert_checkpoint.ConversionError, match="mask_token"):
        _convert(sd, ignore=["head"])
    _convert(sd, ignore=["head", "mask_token"])                  # dropped knowingly


def test_head_without_mapping_is_refused_and_regression_needs_stats():
    sd = _state("cls")
    with pytest.raises(convert_checkpoint.ConversionError, match="--head"):
        _convert(sd)
    with pytest.raises(convert_checkpoint.ConversionError, match="MEAN/STD"):
        convert_checkpoint.parse_head_spec("phen:regression:lv_ef")
    specs = [convert_checkpoint.parse_head_spec(s) for s in ("r:sigmoid:a,b,c",)]
    enc, _ = _convert(sd, head_specs=specs)
    assert enc.heads["r"].weight.shape == (3, 96)
    with pytest.raises(convert_checkpoint.ConversionError, match="head.weight"):
        _convert(sd, head_specs=[convert_checkpoint.parse_head_spec("r:sigmoid:a,b")])


def test_head_count_is_checked():
    sd = _state("mha")
    with pytest.raises(convert_checkpoint.ConversionError, match="heads"):
        _convert(sd, heads=None, ignore=["head"])
    with pytest.raises(convert_checkpoint.ConversionError, match="do not divide"):
        _convert(sd, heads=7, ignore=["head"])
    with pytest.raises(convert_checkpoint.ConversionError, match="disagrees"):
        convert_checkpoint.resolve_heads(4, {"num_heads": 6}, None)
    assert convert_checkpoint.resolve_heads(None, {"num_heads": 8}, "mmcl") == 8
    assert convert_checkpoint.resolve_heads(None, {}, "mmcl") == 6


def test_pooling_comes_from_the_keys(tmp_path):
    sd = _state("mean")
    with pytest.raises(convert_checkpoint.ConversionError, match="'mean' layout"):
        _convert(sd, pooling="cls", ignore=["head"])



@pytest.mark.parametrize("pooling", ["mean", "mha"])
def test_global_pooling_checkpoints_convert_as_mmcl_saves_them(pooling):
    # MMCL keeps an unused `norm.*` beside `fc_norm.*` (its `del self.norm` is commented out):
    # converted without a flag, with a note that it is unused.
    sd = _state(pooling)
    assert "norm.weight" in sd and "fc_norm.weight" in sd
    notes = []
    enc, _ = _convert(sd, ignore=["head"], notes=notes)
    assert enc.pooling == pooling and len(notes) == 1 and "norm.weight and norm.bias unused" in notes[0]
    assert not hasattr(enc.encoder.norm, "weight")               # nn.Identity: fc_norm is the model's norm


def test_cli_refuses_with_a_message(tmp_path, capsys):
    sd = _state("cls")
    torch.save({"model": sd}, tmp_path / "c.pth")
    with pytest.raises(SystemExit) as e:
        convert_checkpoint.main(["--checkpoint", str(tmp_path / "c.pth"), "--out", str(tmp_path / "b"), "--preset", "mmcl"])
    assert e.value.code == 2 and "head" in capsys.readouterr().err
    convert_checkpoint.main(["--checkpoint", str(tmp_path / "c.pth"), "--out", str(tmp_path / "b"), "--preset", "mmcl",
                             "--ignore", "head", "--sampling-rate", "100"])
    m = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert m["heads"] == [] and m["gradcam"]["layer"] == "encoder.blocks.1" and m["input"]["samplingRate"] == 100
