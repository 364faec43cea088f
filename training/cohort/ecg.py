"""12-lead ECG from the subject state: a heart-vector (VCG) model projected to the leads.

Each beat is a sum of Gaussian waves in time (P, septal q, R, S, T, plus condition-specific
ones), each carrying a 3-D heart vector in Frank coordinates (x = left, y = inferior,
z = posterior). The vectorcardiogram is projected to leads I, II, V1–V6 with the Dower matrix
(Dower et al. 1980, the transform the "inverse Dower" inverts); III, aVR, aVL, aVF follow from
Einthoven / Goldberger. Noise is added per electrode (RA, LA, LL, V1–V6) so the limb-lead
identities hold for artefacts too, as on a real cart. Couplings and sources:
docs/synthetic-cohort.md.
"""
from __future__ import annotations

import numpy as np

from .state import hidden_rng, ischemic_territory

# Dower matrix: rows I, II, V1..V6; columns Frank X, Y, Z.
DOWER = np.array([
    [0.632, -0.235, 0.059],
    [0.235, 1.066, -0.132],
    [-0.515, 0.157, -0.917],
    [0.044, 0.164, -1.387],
    [0.882, 0.098, -1.277],
    [1.213, 0.127, -0.601],
    [1.125, 0.127, -0.086],
    [0.831, 0.076, 0.230],
])

# Outward normal of each coronary territory in Frank coordinates.
TERRITORY_NORMAL = {
    "lad": np.array([0.25, 0.15, -0.95]),
    "rca": np.array([0.05, 1.0, 0.15]),
    "lcx": np.array([0.85, -0.05, 0.55]),
}
for _k, _v in TERRITORY_NORMAL.items():
    TERRITORY_NORMAL[_k] = _v / np.linalg.norm(_v)


def _unit(v):
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def _direction(frontal_deg, posterior):
    """Unit vector with the given frontal-plane axis (0° = left, +90° = inferior) and z part."""
    a = np.deg2rad(frontal_deg)
    c = np.sqrt(max(1.0 - posterior ** 2, 0.0))
    return np.array([c * np.cos(a), c * np.sin(a), posterior])


class BeatModel:
    """The subject's beat morphology: a list of waves (kind, time, widths, vector)."""

    def __init__(self):
        self.waves = []  # (name, t_s, sigma_left_s, sigma_right_s, vec[3], kind)
        self.has_p = True

    def add(self, name, t, sl, sr, vec, kind="gauss"):
        self.waves.append((name, float(t), float(sl), float(sr), np.asarray(vec, float), kind))


def beat_model(s: dict) -> tuple[BeatModel, dict]:
    """Build the subject's beat from its state. Anatomy-level randomness (axis, chest-wall
    attenuation, whether an infarct left Q waves) comes from the subject's hidden stream, so
    every rendering of the same subject shows the same heart."""
    h = hidden_rng(s, 2)
    male = s["sex"] == "M"
    age = float(s["age"])
    bmi = float(s["weight_kg"]) / (float(s["height_cm"]) / 100.0) ** 2
    cm = s["cm_subtype"]
    bbb = s["bbb"]
    ph = bool(s["pulmonary_hypertension"])
    # right-ventricular pressure overload on the ECG: graded by severity, strong only in
    # pre-capillary PH; post-capillary PH (left heart disease) keeps a mostly left-sided ECG
    group = s.get("ph_group", "precap" if ph else "none")
    sev = float(s.get("ph_severity", 1.0 if ph else 0.0))
    rvo = 0.0
    if group == "precap":
        rvo = float(np.clip(sev * h.uniform(0.5, 1.3), 0.0, 1.0))
    elif group == "postcap":
        rvo = float(np.clip(sev * h.uniform(0.2, 0.6), 0.0, 1.0))
    info = {"rv_overload": rvo}

    # --- QRS voltage: LV mass drives it, body habitus and chest geometry blur it ---
    mass = float(s["lv_mass_g"])
    volt = 1.55 * (mass / 110.0) ** 0.85
    volt *= np.exp(-0.022 * (bmi - 27.0)) * (1.0 - 0.004 * (age - 60.0))
    volt *= np.exp(h.normal(0.0, 0.2))           # chest-wall / lung / orientation, unobserved
    if cm == "rcm":
        # infiltration adds mass that is electrically silent: low voltage despite a heavy LV
        volt = volt / (mass / 110.0) ** 0.85 * h.uniform(0.3, 0.55)
    if cm == "dcm":
        volt *= h.uniform(0.8, 1.15)
    if s["effusion"]:
        volt *= h.uniform(0.6, 0.85)              # fluid short-circuits the heart's field
    info["qrs_volt_mV"] = volt

    # --- QRS duration (ms): sex, dilation, hypertrophy, conduction block ---
    edvi = float(s["lv_edv_ml"]) / np.sqrt(float(s["height_cm"]) * float(s["weight_kg"]) / 3600)
    qrs_ms = h.normal(90.0 if male else 85.0, 7.0) + 0.22 * max(edvi - 80.0, 0.0)
    if cm == "hcm":
        qrs_ms += h.uniform(0.0, 15.0)
    w = float(np.clip(qrs_ms, 70.0, 130.0)) / 90.0  # width scale of the normally conducted QRS
    if bbb == "lbbb":
        qrs_ms = max(qrs_ms + 45.0, h.normal(150.0, 12.0))
    elif bbb == "rbbb":
        qrs_ms = max(qrs_ms + 30.0, h.normal(135.0, 10.0))
    qrs_ms = float(np.clip(qrs_ms, 70.0, 200.0))
    info["qrs_ms"] = qrs_ms
    wb = qrs_ms / 150.0  # width scale of a left-bundle-branch-block QRS

    # --- axes ---
    axis = h.normal(38.0, 20.0) - 0.3 * (age - 60.0) - 0.7 * (bmi - 27.0)  # VCG frontal axis
    # right-axis deviation grows with RV overload (severe pre-capillary PH: ~ +90°)
    axis = axis + rvo * h.normal(55.0, 18.0)
    if bbb == "lbbb":
        axis = h.normal(-5.0, 22.0)
    posterior = float(np.clip(h.normal(0.33, 0.12) - 0.2 * rvo, -0.3, 0.7))  # anterior QRS in RVH
    r_dir = _direction(axis, posterior)
    info["qrs_axis_deg"] = axis

    b = BeatModel()
    # --- atrial activity ---
    la = float(s["la_vol_ml"])
    ra = float(s["ra_vol_ml"])
    pr_s = float(np.clip(h.normal(0.160, 0.018) + 0.0006 * (age - 60.0), 0.11, 0.26))
    if s["rhythm"] == "af":
        b.has_p = False
    else:
        p_sigma = 0.021 * (la / 75.0) ** 0.25
        p_amp = 0.11 * (ra / 80.0) ** 0.5 * h.uniform(0.8, 1.2)
        p_dir = _unit([0.55, 0.75 + 0.2 * rvo, -0.2])
        p_amp *= 1.0 + rvo * h.uniform(0.4, 1.0)  # P pulmonale
        if cm == "rcm":
            p_amp *= h.uniform(1.3, 1.8)
            p_sigma *= 1.25
        t_p = -0.04 * w - pr_s + 0.055
        b.add("P", t_p, p_sigma, p_sigma, p_amp * p_dir)
        # left-atrial component (late, posterior): P-terminal force in V1 grows with LA size
        lafac = max(la / 75.0 - 0.8, 0.0)
        b.add("P_la", t_p + 0.03, p_sigma * 0.8, p_sigma * 0.8,
              0.05 * lafac * h.uniform(0.7, 1.3) * _unit([0.4, 0.1, 0.9]))
        if s.get("pericarditis_acute", s["pericarditis"]) and h.random() < 0.85:
            # acute pericarditis, atrial injury current: PR depression in most leads, PR
            # elevation in aVR
            amp = h.uniform(0.04, 0.10)
            b.add("Ta", -0.04 * w - 0.035, 0.03, 0.03, -amp * p_dir, kind="plateau")

    # --- ventricular depolarisation ---
    septal = 0.14 * volt * _unit([-0.55, 0.2, -0.8])
    if cm == "hcm":
        septal *= h.uniform(1.8, 3.5)             # deep narrow septal q in I, aVL, V5–V6
    r_vec = volt * r_dir
    s_vec = 0.35 * volt * _unit([-0.35, -0.45, 0.82])
    extra = []
    terr = s["mi_territory"]
    if terr != "none":
        n = TERRITORY_NORMAL[terr]
        # driven by the infarct's size (scar), not by the resulting EF
        size = float(np.clip(s.get("infarct_size", 0.6), 0.1, 1.0))
        q_wave = h.random() < 0.45 + 0.45 * size  # small infarcts often leave no Q waves
        loss = (0.8 if q_wave else 0.3) * size
        r_vec = r_vec - loss * max(r_vec @ n, 0.0) * n
        s_vec = s_vec - loss * max(s_vec @ n, 0.0) * n
        if q_wave:
            qw = 0.010 + 0.008 * size               # wider (≥ 30–40 ms) and deeper with size
            extra.append(("Q_mi", -0.012 * w, qw * w, qw * w, -h.uniform(0.3, 0.6) * size * n))
        info["q_wave_mi"] = q_wave
    if rvo > 0:
        # right-ventricular forces: tall R in V1, deep S in V5–V6
        extra.append(("R_rv", 0.012 * w, 0.012 * w, 0.012 * w,
                      rvo * h.uniform(0.5, 1.1) * _unit([-0.45, 0.3, -0.84])))
    if bbb == "lbbb":
        # septum activated right-to-left: no septal q, broad notched R laterally, QS in V1
        d = _unit([0.75, 0.1, 0.65])
        b.add("R1", -0.008 * wb, 0.016 * wb, 0.016 * wb, 0.8 * volt * d)
        b.add("R2", 0.022 * wb, 0.017 * wb, 0.017 * wb, 0.8 * volt * _unit([0.65, 0.05, 0.76]))
        qrs_dir = d
    else:
        b.add("q", -0.024 * w, 0.0075 * w, 0.0075 * w, septal)
        b.add("R", 0.0, 0.0105 * w, 0.0105 * w, r_vec)
        b.add("S", 0.025 * w, 0.0095 * w, 0.0095 * w, s_vec)
        qrs_dir = _unit(r_vec) if np.linalg.norm(r_vec) > 1e-6 else r_dir
        if bbb == "rbbb":
            # late right-ventricular activation: R' in V1, broad S in I and V6
            b.add("R_prime", 0.056 + 0.3 * (qrs_ms - 135.0) / 1000.0, 0.018, 0.018,
                  h.uniform(0.6, 1.2) * _unit([-0.6, 0.05, -0.8]))
    for e in extra:
        b.add(*e)

    # --- repolarisation ---
    t_amp = float(np.clip(0.23 * volt ** 0.5 * h.uniform(0.75, 1.25), 0.05, 0.8))
    t_dir = _unit(0.75 * _direction(axis - 10.0, posterior) + 0.25 * np.array([0.3, 0.5, -0.8]))
    t_vec = t_amp * t_dir
    st_vec = np.zeros(3)
    if bbb == "lbbb":
        t_vec = -0.55 * volt ** 0.5 * qrs_dir * h.uniform(0.6, 1.0)   # discordant T
        st_vec = -0.10 * qrs_dir
    elif bbb == "rbbb":
        t_vec = t_vec + np.array([0.0, 0.0, 0.12])                     # T inverted V1–V2
    strain_draw = h.random()                  # drawn for everyone: mass does not shift the stream
    if cm == "hcm":
        # "strain" with deep lateral T inversion (giant negative T in apical variants)
        t_vec = h.uniform(0.3, 0.9) * _unit([-0.55, 0.15, 0.45])
        st_vec = -0.06 * _unit([0.8, 0.2, 0.0])
    elif float(s["lv_mass_g"]) > (190.0 if male else 150.0) and strain_draw < 0.5:
        t_vec = 0.3 * t_vec + 0.25 * _unit([-0.6, 0.1, 0.4])             # LVH strain
        st_vec = -0.04 * _unit([0.8, 0.2, 0.0])
    if rvo > 0.3:
        t_vec = t_vec + (rvo - 0.3) * h.uniform(0.2, 0.45) * np.array([0.0, 0.0, 1.0])  # RV strain
    if terr != "none" and h.random() < 0.6:
        t_vec = t_vec - h.uniform(0.2, 0.45) * TERRITORY_NORMAL[terr] - 0.7 * max(
            t_vec @ TERRITORY_NORMAL[terr], 0.0) * TERRITORY_NORMAL[terr]
    isch = ischemic_territory(s)
    if isch != "none" and terr == "none":
        nn = TERRITORY_NORMAL[isch]
        t_vec = t_vec - 0.6 * max(t_vec @ nn, 0.0) * nn               # flattened T
        st_vec = st_vec - 0.05 * nn                                    # ST depression
    if s.get("pericarditis_acute", s["pericarditis"]):
        st_vec = st_vec + h.uniform(0.05, 0.25) * _unit([0.55, 0.8, -0.15])  # diffuse STE
    elif s["pericarditis"] and h.random() < 0.4:
        t_vec = t_vec * h.uniform(0.6, 0.85)    # previous pericarditis: non-specific T flattening
    if h.random() < (0.10 if male and age < 60 else 0.04):
        # benign early repolarisation: inferolateral J-point / ST elevation in healthy people
        st_vec = st_vec + h.uniform(0.04, 0.15) * _unit([0.6, 0.6, 0.3])
    if cm == "dcm" and bbb == "none":
        t_vec = t_vec * h.uniform(0.4, 0.9)
    b.add("T", 0.0, 0.0, 0.0, t_vec, kind="T")           # timing set per beat from RR
    if np.linalg.norm(st_vec) > 0:
        b.add("ST", 0.0, 0.0, 0.0, st_vec, kind="ST")
    info["pr_s"] = pr_s
    # QTc: longer with hypertrophy (HCM mean 440 ± 28 ms, Johnson 2011; LVH +~10–20 ms)
    qtc = h.normal(0.405 if male else 0.415, 0.018) + 0.0008 * (qrs_ms - 90.0)
    if cm == "hcm":
        qtc += h.normal(0.028, 0.018)
    else:
        lvh_g = max(mass - (190.0 if male else 150.0), 0.0)
        qtc += min(0.00015 * lvh_g, 0.020)
    info["qtc_s"] = float(np.clip(qtc, 0.36, 0.55))
    info["w"] = w
    return b, info


def rr_intervals(s: dict, rng: np.random.Generator, seconds: float) -> np.ndarray:
    """RR intervals (s) covering the record; their mean equals 60 / heart_rate_bpm exactly."""
    rr0 = 60.0 / float(s["heart_rate_bpm"])
    m = int(np.ceil(seconds / rr0)) + 4
    if s["rhythm"] == "af":
        rr = rng.gamma(1.0 / 0.2 ** 2, 0.2 ** 2, m)                  # irregularly irregular
    else:
        t = np.cumsum(np.full(m, rr0))
        resp = rng.uniform(0.2, 0.33)
        rr = 1.0 + rng.uniform(0.01, 0.05) * np.sin(2 * np.pi * resp * t + rng.uniform(0, 6.3))
        rr = rr + 0.012 * rng.standard_normal(m)
    rr = np.clip(rr, 0.35, 3.0)
    return rr * rr0 / rr.mean()


def _envelopes(kind, tl, t, sl, sr, rr, info, w):
    """Time course of one wave for all beats: tl [n_beats, W] local times (s)."""
    if kind == "gauss":
        d = tl - t
        sig = np.where(d < 0, sl, sr)
        return np.exp(-0.5 * (d / sig) ** 2)
    if kind == "plateau":
        half = 0.03
        return 0.5 * (np.tanh((tl - (t - half)) / sl * 2) - np.tanh((tl - (t + half)) / sl * 2))
    # QT adapts to the preceding RR (Bazett)
    qt = info["qtc_s"] * np.sqrt(rr)[:, None]
    onset = -0.04 * w
    t_end = onset + qt
    t_peak = t_end - 0.085 - 0.06 * (qt - 0.40)
    if kind == "T":
        d = tl - t_peak
        sig = np.where(d < 0, 0.055 + 0.1 * (qt - 0.4), 0.035)
        return np.exp(-0.5 * (d / sig) ** 2)
    # ST: from J point to T peak
    j = onset + info["qrs_ms"] / 1000.0
    return 0.5 * (np.tanh((tl - j) / 0.012) - np.tanh((tl - t_peak) / 0.05))


def heart_leads(s: dict, rng: np.random.Generator, fs: float, seconds: float):
    """Noise-free leads I, II, V1–V6 [8, n] (mV) and the R-peak times (s)."""
    b, info = beat_model(s)
    n = int(round(fs * seconds))
    rr = rr_intervals(s, rng, seconds)
    start = -rng.uniform(0.0, rr[0])
    beats = start + np.concatenate([[0.0], np.cumsum(rr[:-1])])
    prev_rr = np.concatenate([[rr[0]], rr[:-1]])
    keep = beats < seconds + 0.5
    beats, prev_rr = beats[keep], prev_rr[keep]
    nb = beats.size
    lo_s = -0.35 - info["pr_s"]
    lo = int(np.floor(lo_s * fs))
    hi = int(0.75 * fs)
    local = np.arange(lo, hi) / fs                     # window around each R peak
    centre = np.round(beats * fs).astype(int)
    frac = beats - centre / fs
    tl = local[None, :] - frac[:, None]                # [nb, W]
    # beat-to-beat variability: respiratory amplitude and small timing jitter
    amp = 1.0 + 0.04 * np.sin(2 * np.pi * 0.27 * beats + rng.uniform(0, 6.3)) \
        + 0.015 * rng.standard_normal(nb)
    vcg = np.zeros((nb, 3, local.size))
    for name, t, sl, sr, vec, kind in b.waves:
        env = _envelopes(kind, tl, t, sl, sr, prev_rr, info, info["w"])
        if name.startswith("P") or name == "Ta":
            env = env * (1.0 + 0.03 * rng.standard_normal(nb))[:, None]
        vcg += (amp[:, None] * env)[:, None, :] * vec[None, :, None]
    leads8 = np.einsum("lk,bkt->blt", DOWER, vcg)
    off = local.size + int(3.5 * fs)   # the first beat may start before t = 0
    out = np.zeros((8, n + 2 * off))
    for i in range(nb):
        a = centre[i] + lo + off
        if a < 0 or a + local.size > out.shape[1]:
            continue
        out[:, a:a + local.size] += leads8[i]
    sig = out[:, off:off + n]
    if s["rhythm"] == "af":
        sig += _fibrillatory(rng, n, fs)
    return sig, beats[(beats >= 0) & (beats < seconds)], info


def _fibrillatory(rng, n, fs):
    """f waves: 4–9 Hz atrial activity with wandering frequency and amplitude, strongest in V1."""
    t = np.arange(n) / fs
    f0 = rng.uniform(4.5, 8.0)
    drift = np.cumsum(rng.standard_normal(n)) / np.sqrt(n) * 0.8
    phase = 2 * np.pi * np.cumsum(f0 + drift) / fs
    a = rng.uniform(0.02, 0.10) * (1.0 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t))
    x = a * np.sin(phase) + 0.4 * a * np.sin(2.1 * phase + rng.uniform(0, 6.3))
    vec = _unit([0.2, 0.45, -0.85]) + 0.2 * rng.standard_normal(3)
    return (DOWER @ vec)[:, None] * x[None, :]


def electrodes_to_leads(e: np.ndarray) -> np.ndarray:
    """Electrode potentials [RA, LA, LL, V1..V6] → the 12 standard leads."""
    ra, la, ll = e[0], e[1], e[2]
    wct = (ra + la + ll) / 3.0
    return np.stack([la - ra, ll - ra, ll - la, ra - (la + ll) / 2, la - (ra + ll) / 2,
                     ll - (ra + la) / 2, *(e[3:9] - wct)])


def add_noise(leads8: np.ndarray, rng: np.random.Generator, fs: float) -> np.ndarray:
    """Put the heart's potentials on 9 electrodes, add per-electrode artefacts, read 12 leads."""
    n = leads8.shape[1]
    t = np.arange(n) / fs
    lead_i, lead_ii = leads8[0], leads8[1]
    ra = -(lead_i + lead_ii) / 3.0          # makes Wilson's terminal zero
    e = np.stack([ra, ra + lead_i, ra + lead_ii, *leads8[2:]])
    # baseline wander: respiration (shared) + slow electrode drift (own)
    resp = np.sin(2 * np.pi * rng.uniform(0.15, 0.35) * t + rng.uniform(0, 6.3))
    level = rng.uniform(0.02, 0.25)
    drift = np.sin(2 * np.pi * rng.uniform(0.03, 0.4, (9, 1)) * t[None, :]
                   + rng.uniform(0, 6.3, (9, 1)))
    e += level * (rng.uniform(0.2, 1.0, (9, 1)) * resp[None, :] + rng.uniform(0, 1.2, (9, 1)) * drift)
    # mains interference (50 or 60 Hz), unequal electrode coupling
    f_mains = 50.0 if rng.random() < 0.5 else 60.0
    mains = np.sin(2 * np.pi * f_mains * t + rng.uniform(0, 6.3))
    e += rng.uniform(0.0, 0.02) * rng.uniform(0, 1, (9, 1)) * mains[None, :]
    # EMG: broadband muscle noise, stronger and bursty on limb electrodes
    emg_level = rng.uniform(0.002, 0.02)
    emg = rng.standard_normal((9, n))
    burst = 1.0 + 1.0 * (np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t) > 0.7)
    gain = np.array([1.5, 1.5, 1.2, 1, 1, 1, 1, 1, 1.1])[:, None]
    e += emg_level * gain * emg * burst[None, :]
    # electrode motion: occasional step-and-decay transients
    if rng.random() < 0.15:
        k = rng.integers(0, 9)
        t0 = rng.uniform(0.5, n / fs - 0.5)
        tau = rng.uniform(0.2, 0.8)
        d = t - t0
        e[k] += np.where(d > 0, rng.uniform(-1.5, 1.5) * np.exp(-d / tau), 0.0)
    leads = electrodes_to_leads(e)
    # lead-off: the cart shows a flat line for every lead that uses the detached electrode
    if rng.random() < 0.01:
        k = int(rng.integers(0, 9))
        uses = {0: [0, 1, 3, 4, 5], 1: [0, 2, 3, 4, 5], 2: [1, 2, 3, 4, 5]}
        flat = uses.get(k, [k + 3])
        leads[flat] = 0.0
    return leads


def render_ecg(subject: dict, rng: np.random.Generator, fs: float = 500,
               seconds: float = 10, noise: bool = True) -> np.ndarray:
    """12-lead ECG (I, II, III, aVR, aVL, aVF, V1–V6) in mV, float32 [12, fs·seconds]."""
    leads8, _, _ = heart_leads(subject, rng, float(fs), float(seconds))
    if noise:
        out = add_noise(leads8, rng, float(fs))
    else:
        i, ii = leads8[0], leads8[1]
        out = np.stack([i, ii, ii - i, -(i + ii) / 2, i - ii / 2, ii - i / 2, *leads8[2:]])
    return out.astype(np.float32)
