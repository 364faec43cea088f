"""Writes the WFDB completeness fixtures (multi-frequency, skew, multi-segment) with wfdb-python and
their reference signals as read back by wfdb.rdrecord (CSV, 9 significant digits, 'nan' for NaN).

    cd Tests/ECGFormatsTests/Fixtures/wfdb-complete && python3 make_fixtures.py
"""
import os
import numpy as np
import wfdb

rng = np.random.default_rng(18)
here = os.path.dirname(os.path.abspath(__file__))
os.chdir(here)


def wave(n, scale, phase=0.0):
    t = np.arange(n)
    return (scale * np.sin(2 * np.pi * t / 97 + phase) + rng.integers(-40, 40, n)).astype(np.int64)


def reference(name, expanded=False):
    rec = wfdb.rdrecord(name, smooth_frames=not expanded)
    if expanded:
        # Every signal at the highest rate: each sample repeated to the largest samples per frame.
        top = max(rec.samps_per_frame)
        cols = [np.repeat(s, top // spf) for s, spf in zip(rec.e_p_signal, rec.samps_per_frame)]
        sig = np.stack(cols, axis=1)
    else:
        sig = rec.p_signal
    np.savetxt(f"{name}{'.expanded' if expanded else ''}.csv", sig, fmt="%.9g", delimiter=",",
               header=",".join(rec.sig_name), comments="")


# 1. Multi-frequency: samples per frame 1, 2, 4 (format 16) and 1, 3 (format 212), 250 frames/s.
n = 300
for name, fmt, spf in [("multifreq16", "16", [1, 2, 4]), ("multifreq212", "212", [1, 3])]:
    e = [wave(n * s, 800 + 300 * k, k) for k, s in enumerate(spf)]
    rec = wfdb.Record(record_name=name, n_sig=len(spf), fs=250, sig_len=n, file_name=[name + ".dat"] * len(spf),
                      fmt=[fmt] * len(spf), samps_per_frame=spf, adc_gain=[200.0, 400.0, 1000.0][:len(spf)],
                      baseline=[0, 10, -20][:len(spf)], units=["mV"] * len(spf), sig_name=["I", "II", "V1"][:len(spf)],
                      e_d_signal=e, adc_res=[16 if fmt == "16" else 12] * len(spf), adc_zero=[0] * len(spf),
                      block_size=[0] * len(spf))
    rec.set_d_features(expanded=True)
    rec.wrsamp(expanded=True)
    reference(name)
    reference(name, expanded=True)

# 2. Skew: two signals in one format-16 file and one in a format-212 file, skews 0, 3, 5.
sig = np.stack([wave(n, 900), wave(n, 700, 1), wave(n, 500, 2)], axis=1)
wfdb.wrsamp("skew", fs=500, units=["mV"] * 3, sig_name=["I", "II", "V2"], d_signal=sig.astype(np.int16) if False else None,
            p_signal=sig / 1000.0, fmt=["16", "16", "212"], adc_gain=[1000.0] * 3, baseline=[0] * 3)
lines = open("skew.hea").read().splitlines()
out = [lines[0]]
for line, skew in zip(lines[1:4], [0, 3, 5]):
    f = line.split(" ")
    f[1] = f[1] + (f":{skew}" if skew else "")
    out.append(" ".join(f))
open("skew.hea", "w").write("\n".join(out + lines[4:]) + "\n")
reference("skew")

# 3. Multi-segment, variable layout: layout segment (I, II, V1), segment A (I, II), a 40-sample gap,
#    segment B (II, V1) with another gain.
wfdb.wrsamp("varseg_a", fs=500, units=["mV", "mV"], sig_name=["I", "II"], p_signal=np.stack([wave(200, 900), wave(200, 600)], 1) / 1000.0,
            fmt=["16", "16"], adc_gain=[1000.0, 1000.0], baseline=[0, 0])
wfdb.wrsamp("varseg_b", fs=500, units=["mV", "mV"], sig_name=["II", "V1"], p_signal=np.stack([wave(150, 600), wave(150, 400)], 1) / 200.0,
            fmt=["212", "212"], adc_gain=[200.0, 200.0], baseline=[0, 0])
open("varseg_layout.hea", "w").write("varseg_layout 3 500 0\n~ 0 1000/mV 16 0 0 0 0 I\n~ 0 1000/mV 16 0 0 0 0 II\n~ 0 1000/mV 16 0 0 0 0 V1\n")
open("varseg.hea", "w").write("varseg/4 3 500 390\nvarseg_layout 0\nvarseg_a 200\n~ 40\nvarseg_b 150\n# Age: 61\n# Sex: Female\n")
reference("varseg")

# 4. Multi-segment, fixed layout: two segments with the same signals.
for k, m in [(1, 120), (2, 180)]:
    wfdb.wrsamp(f"fixseg_{k}", fs=360, units=["mV", "mV"], sig_name=["MLII", "V5"], p_signal=np.stack([wave(m, 900, k), wave(m, 500, k)], 1) / 200.0,
                fmt=["212", "212"], adc_gain=[200.0, 200.0], baseline=[1024, 1024])
open("fixseg.hea", "w").write("fixseg/2 2 360 300\nfixseg_1 120\nfixseg_2 180\n")
reference("fixseg")
print("wrote", sorted(f for f in os.listdir(".") if not f.endswith(".py")))
