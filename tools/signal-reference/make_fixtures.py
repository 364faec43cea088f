#!/usr/bin/env python3
"""Writes SignalKit test fixtures: reference outputs of scipy / PyWavelets on fixed inputs, and
R-peak references from PhysioNet annotations (MIT-BIH 100.atr) or wfdb's XQRS detector.

    python3 tools/signal-reference/make_fixtures.py   # from the repository root

Outputs (Tests/SignalKitTests/Fixtures/):
  filters.json        inputs, filter coefficients and outputs (numbers as float64)
  rpeaks.json         per record: lead, sampling rate, gain/baseline of the int16 dump, reference
                      beat sample indices and heart rate (bpm) per 10 s window
  <record>.i16        one lead of each record as little-endian int16 ADC units
"""
import json
import math
import sys
from pathlib import Path

import numpy as np
import pywt
import wfdb
import wfdb.processing
from scipy import ndimage, signal

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))
from ecg2cmr_train.preprocess import preprocess  # noqa: E402

OUT = ROOT / "Tests" / "SignalKitTests" / "Fixtures"
RECORDS = ROOT / "tests" / "records"


def synthetic_ecg(fs, seconds, seed, leads=2):
    """ECG-like test signal: Gaussian QRS/T waves, 0.3 Hz wander, 50 Hz mains and white noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(fs * seconds))) / fs
    out = []
    for lead in range(leads):
        x = np.zeros_like(t)
        beat = 0.25
        while beat < seconds:
            x += (1.1 + 0.2 * lead) * np.exp(-((t - beat) / 0.010) ** 2)
            x -= 0.25 * np.exp(-((t - beat - 0.03) / 0.012) ** 2)
            x += 0.3 * np.exp(-((t - beat - 0.28) / 0.045) ** 2)
            beat += 0.78 + 0.06 * rng.standard_normal()
        x += 0.5 * np.sin(2 * math.pi * 0.3 * t + lead) + 0.08 * np.sin(2 * math.pi * 50 * t)
        x += 0.03 * rng.standard_normal(t.size)
        out.append(x)
    return np.array(out)


def arr(a):
    # 10 significant digits: far below the 1e-5 tolerance, and keeps the fixture small.
    return [float(f"{v:.10g}") for v in np.asarray(a, dtype=np.float64).ravel()]


def filters_fixture():
    fx = {}
    x250 = synthetic_ecg(250, 4.0, 1)
    x360 = synthetic_ecg(360, 4.0, 2)
    x500 = synthetic_ecg(500, 4.0, 3)
    x = x250[0]
    fx["x250"] = arr(x)
    fx["x360"] = arr(x360[0])
    fx["x500"] = arr(x500[0])
    # Resampling: resample_poly with the Kaiser(5) window, as in preprocess.resample.
    fx["resample_360_250"] = arr(signal.resample_poly(x360[0], 25, 36, window=("kaiser", 5.0)))
    fx["resample_500_250"] = arr(signal.resample_poly(x500[0], 1, 2, window=("kaiser", 5.0)))
    fx["resample_250_500"] = arr(signal.resample_poly(x, 2, 1, window=("kaiser", 5.0)))
    fx["resample_250_360"] = arr(signal.resample_poly(x, 36, 25, window=("kaiser", 5.0)))
    fx["firwin_73_1_3"] = arr(signal.firwin(61, 1.0 / 3, window=("kaiser", 5.0)))
    # Median baseline removal (cascaded 51 / 151 samples at 250 Hz).
    b = ndimage.median_filter(ndimage.median_filter(x, size=51, mode="nearest"), size=151, mode="nearest")
    fx["median_51_151"] = arr(x - b)
    fx["median_7"] = arr(ndimage.median_filter(x, size=7, mode="nearest"))
    # Notch 50 Hz, Q 30 at 250 Hz: coefficients and zero-phase output.
    bn, an = signal.iirnotch(50.0, 30.0, fs=250.0)
    fx["notch_b"], fx["notch_a"] = arr(bn), arr(an)
    fx["notch_50_q30"] = arr(signal.filtfilt(bn, an, x))
    bn6, an6 = signal.iirnotch(60.0, 25.0, fs=360.0)
    fx["notch60_b"], fx["notch60_a"] = arr(bn6), arr(an6)
    # Butterworth designs (transfer-function coefficients for well-conditioned cases).
    for name, (order, wn, btype, fs) in {
        "butter_lp4_40_250": (4, 40.0, "lowpass", 250.0),
        "butter_hp2_05_250": (2, 0.5, "highpass", 250.0),
        "butter_bp2_5_15_360": (2, [5.0, 15.0], "bandpass", 360.0),
        "butter_lp3_30_500": (3, 30.0, "lowpass", 500.0),
        "butter_bp3_1_30_250": (3, [1.0, 30.0], "bandpass", 250.0),
        "butter_hp3_05_500": (3, 0.5, "highpass", 500.0),
    }.items():
        bb, aa = signal.butter(order, wn, btype=btype, fs=fs)
        fx[name + "_b"], fx[name + "_a"] = arr(bb), arr(aa)
    # Zero-phase band-pass and high-pass (second-order sections, as preprocess does).
    sos = signal.butter(4, [0.5, 40.0], btype="bandpass", output="sos", fs=250.0)
    fx["bandpass4_05_40"] = arr(signal.sosfiltfilt(sos, x))
    z, p, k = signal.butter(4, [0.5, 40.0], btype="bandpass", output="zpk", fs=250.0)
    fx["bandpass4_05_40_poles_re"] = arr(np.sort_complex(p).real)
    fx["bandpass4_05_40_poles_im"] = arr(np.sort_complex(p).imag)
    fx["bandpass4_05_40_gain"] = float(k)
    sos = signal.butter(2, 0.5, btype="highpass", output="sos", fs=250.0)
    fx["highpass2_05"] = arr(signal.sosfiltfilt(sos, x))
    sos = signal.butter(3, 30.0, btype="lowpass", output="sos", fs=250.0)
    fx["lowpass3_30"] = arr(signal.sosfiltfilt(sos, x))
    sos = signal.butter(3, [1.0, 30.0], btype="bandpass", output="sos", fs=250.0)
    fx["bandpass3_1_30"] = arr(signal.sosfiltfilt(sos, x))
    # Savitzky–Golay, mode 'interp'.
    fx["savgol_15_3"] = arr(signal.savgol_filter(x, 15, 3, mode="interp"))
    fx["savgol_11_2"] = arr(signal.savgol_filter(x, 11, 2, mode="interp"))
    fx["savgol_coeffs_15_3"] = arr(signal.savgol_coeffs(15, 3))
    # db6 wavelet: decomposition, and soft-threshold denoising with the universal threshold.
    w = pywt.Wavelet("db6")
    fx["db6_dec_lo"] = arr(w.dec_lo)
    coeffs = pywt.wavedec(x, w, mode="symmetric", level=4)
    fx["wavedec4"] = [arr(c) for c in coeffs]
    fx["waverec4_roundtrip"] = arr(pywt.waverec(coeffs, w, mode="symmetric")[: x.size])
    fx["wavelet_default_level"] = int(pywt.dwt_max_level(x.size, w.dec_len))
    fx["wavelet_denoise_default"] = arr(preprocess_f64(x, [{"op": "waveletDenoise"}]))
    fx["wavelet_denoise_l4"] = arr(preprocess_f64(x, [{"op": "waveletDenoise", "level": 4}]))
    odd = x[:999]
    fx["x_odd"] = arr(odd)
    fx["wavelet_denoise_odd"] = arr(preprocess_f64(odd, [{"op": "waveletDenoise", "level": 5}]))
    # Normalisation modes on two leads.
    two = x250
    fx["x250_two"] = [arr(two[0]), arr(two[1])]
    for mode in ["minmax", "zscore", "zscore-group"]:
        yy, _ = preprocess(two, 250.0, [{"op": "normalise", "mode": mode}])
        fx["normalise_" + mode] = [arr(yy[0]), arr(yy[1])]
    # The demo model's whole pipeline on a two-lead 360 Hz input.
    ops = [
        {"op": "resample", "rate": 250},
        {"op": "baselineRemoval", "method": "median", "windowsSeconds": [0.2, 0.6]},
        {"op": "cropOrPad", "sampleCount": 900},
        {"op": "normalise", "mode": "scale", "millivolts": 1.0, "clip": 8.0},
    ]
    yy, off = preprocess(x360, 360.0, ops)
    fx["pipeline_ops"] = ops
    fx["pipeline_in"] = [arr(x360[0]), arr(x360[1])]
    fx["pipeline_out"] = [arr(yy[0]), arr(yy[1])]
    fx["pipeline_offset"] = int(off)
    ops2 = [
        {"op": "resample", "rate": 500},
        {"op": "baselineRemoval", "method": "highpass", "cutoffHz": 0.5, "order": 2},
        {"op": "notch", "frequencyHz": 50, "quality": 30},
        {"op": "waveletDenoise", "wavelet": "db6"},
        {"op": "savgol", "windowLength": 15, "polyorder": 3},
        {"op": "cropOrPad", "sampleCount": 2200, "align": "center"},
        {"op": "normalise", "mode": "minmax"},
    ]
    yy, off = preprocess(x360, 360.0, ops2)
    fx["pipeline2_ops"] = ops2
    fx["pipeline2_out"] = [arr(yy[0]), arr(yy[1])]
    fx["pipeline2_offset"] = int(off)
    return fx


def preprocess_f64(x, ops):
    from ecg2cmr_train import preprocess as pp
    assert ops[0]["op"] == "waveletDenoise"
    return pp.wavelet_denoise(np.asarray(x, dtype=np.float64)[None, :], "db6", ops[0].get("level"))[0]


BEAT_SYMBOLS = set("NLRBAaJSVrFejnE/fQ?")


def window_rates(beats, fs, n, window_s=10.0):
    """Mean heart rate (bpm) per full window from the RR intervals whose both beats lie in it."""
    rates = []
    w = int(window_s * fs)
    for start in range(0, n - w + 1, w):
        inside = beats[(beats >= start) & (beats < start + w)]
        if len(inside) >= 3:
            rr = np.diff(inside) / fs
            rates.append(60.0 / float(np.mean(rr)))
        else:
            rates.append(None)
    return rates


def rpeaks_fixture():
    recs = []
    # MIT-BIH 100: annotated beats, first 5 minutes of MLII.
    rec = wfdb.rdrecord(str(RECORDS / "100"), physical=False, sampto=108000, channels=[0])
    ann = wfdb.rdann(str(RECORDS / "100"), "atr", sampto=108000)
    beats = np.array([s for s, sym in zip(ann.sample, ann.symbol) if sym in BEAT_SYMBOLS])
    recs.append(dump(rec, "100", "MLII", beats, "annotations (100.atr)"))
    # All beats of the 30-minute record, for the test that reads 100 through ECGFormats.
    ann = wfdb.rdann(str(RECORDS / "100"), "atr")
    full = [int(s) for s, sym in zip(ann.sample, ann.symbol) if sym in BEAT_SYMBOLS]
    (OUT / "100-atr-beats.json").write_text(json.dumps({"record": "100", "samplingRate": 360.0, "beats": full}))
    # PTB s0010_re lead ii (1000 Hz) and the CinC 2021 records lead II (500 Hz): XQRS reference.
    paths = [(RECORDS / "s0010_re", "ii")] + [
        (p.with_suffix(""), "II") for p in sorted((RECORDS / "cinc2021").glob("*.hea"))]
    for path, lead in paths:
        header = wfdb.rdheader(str(path))
        ch = header.sig_name.index(lead)
        rec = wfdb.rdrecord(str(path), physical=False, channels=[ch])
        beats, source = xqrs_reference(path, header, lead)
        entry = dump(rec, path.name, lead, beats, source)
        dx = [c.split(":", 1)[1].strip() for c in header.comments if c.startswith("Dx:")]
        if dx:
            entry["dxSnomed"] = dx[0].split(",")
        recs.append(entry)
    return recs


def xqrs_reference(path, header, lead):
    """XQRS beats on `lead`; XQRS misses every beat on some records at their native rate, so
    fall back to the lead resampled to 360 Hz (the rate XQRS was tuned on), then to other leads."""
    names = header.sig_name
    order = [lead] + [n for n in names if n.upper() in ("I", "V2", "V5") and n != lead]
    for name in order:
        ch = names.index(name)
        x = wfdb.rdrecord(str(path), channels=[ch]).p_signal[:, 0]
        beats = wfdb.processing.xqrs_detect(sig=x, fs=header.fs, verbose=False)
        if len(beats) >= 4:
            return np.asarray(beats), f"wfdb.processing.xqrs_detect on lead {name}"
        xr, _ = wfdb.processing.resample_sig(x, header.fs, 360)
        beats = wfdb.processing.xqrs_detect(sig=xr, fs=360, verbose=False)
        if len(beats) >= 4:
            native = np.round(np.asarray(beats) * header.fs / 360.0).astype(int)
            return native, f"wfdb.processing.xqrs_detect on lead {name} resampled to 360 Hz"
    raise RuntimeError(f"{path.name}: XQRS found no beats on any lead")


def dump(rec, name, lead, beats, source):
    d = rec.d_signal[:, 0].astype(np.int16)
    (OUT / f"{name}.i16").write_bytes(d.astype("<i2").tobytes())
    fs = float(rec.fs)
    rr = np.diff(beats) / fs
    return {
        "record": name, "lead": lead, "samplingRate": fs, "sampleCount": int(d.size),
        "gain": float(rec.adc_gain[0]), "baseline": int(rec.baseline[0]),
        "referenceSource": source, "beats": [int(b) for b in beats],
        "meanHeartRateBpm": 60.0 / float(np.mean(rr)) if rr.size else None,
        "windowHeartRateBpm": window_rates(beats, fs, d.size),
    }


DEMO_OPS = [
    {"op": "resample", "rate": 250},
    {"op": "baselineRemoval", "method": "median", "windowsSeconds": [0.2, 0.6]},
    {"op": "cropOrPad", "sampleCount": 2500},
    {"op": "normalise", "mode": "scale", "millivolts": 1.0, "clip": 8.0},
]


def real_record_pipeline():
    """The demo model's preprocessing of a real 12-lead record (CinC 2021 E07500, 500 Hz), as the
    training code computes it: float32 [12, 2500], little-endian."""
    rec = wfdb.rdrecord(str(RECORDS / "cinc2021" / "E07500"))
    y, offset = preprocess(rec.p_signal.T, float(rec.fs), DEMO_OPS)
    assert offset == 0 and y.shape == (12, 2500)
    (OUT / "E07500-demo-input.f32").write_bytes(y.astype("<f4").tobytes())
    return {"record": "cinc2021/E07500", "leads": rec.sig_name, "ops": DEMO_OPS, "shape": list(y.shape)}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "E07500-demo-input.json").write_text(json.dumps(real_record_pipeline()))
    (OUT / "filters.json").write_text(json.dumps(filters_fixture()))
    (OUT / "rpeaks.json").write_text(json.dumps(rpeaks_fixture(), indent=1))
    for p in sorted(OUT.iterdir()):
        print(f"{p.stat().st_size:>9}  {p.name}")


if __name__ == "__main__":
    main()
