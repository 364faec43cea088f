"""The hidden cardiac state of each subject: demographics, conditions, CMR phenotypes, tissue.

`sample_subjects(n, seed)` draws a whole cohort at once (vectorised over subjects) and returns
a dict of equal-length numpy arrays, one per column of `COLUMNS`. One row of it (`subject_row`)
is what the ECG and cine renderers take. Sources for every number: docs/synthetic-cohort.md.
"""
from __future__ import annotations

import numpy as np

from . import reference as ref

SEGMENT_COLUMNS = tuple(f"wt_seg{k:02d}_mm" for k in range(1, 17))

COLUMNS = (
    "subject_id", "split", "seed", "age", "sex", "height_cm", "weight_kg", "heart_rate_bpm",
    "rhythm", "cad", "prior_mi", "mi_territory", "heart_failure", "cardiomyopathy", "cm_subtype",
    "pulmonary_hypertension", "ph_group", "ph_severity", "infarct_size", "pericarditis",
    "pericarditis_acute", "effusion", "atrial_fibrillation", "bbb", "wall_motion_abnormality", "lge", "native_t1_ms", "t2_ms", "ecv_pct", "t1_abnormal",
    "t2_abnormal", "ecv_abnormal", "lv_edv_ml", "lv_esv_ml", "lv_sv_ml", "lv_ef_pct",
    "lv_co_l_min", "lv_mass_g", "rv_edv_ml", "rv_esv_ml", "rv_sv_ml", "rv_ef_pct", "la_vol_ml",
    "ra_vol_ml", *SEGMENT_COLUMNS, "wt_mean_mm",
)

BINARY_COLUMNS = (
    "cad", "prior_mi", "heart_failure", "cardiomyopathy", "pulmonary_hypertension",
    "pericarditis", "pericarditis_acute", "effusion", "atrial_fibrillation", "wall_motion_abnormality", "lge",
    "t1_abnormal", "t2_abnormal", "ecv_abnormal",
)
CATEGORICAL_COLUMNS = {
    "split": ("train", "val", "test"),
    "sex": ("M", "F"),
    "rhythm": ("sinus", "af"),
    "mi_territory": ("none", "lad", "lcx", "rca"),
    "cm_subtype": ("none", "dcm", "hcm", "rcm"),
    "ph_group": ("none", "precap", "postcap"),
    "bbb": ("none", "lbbb", "rbbb"),
}
STRING_COLUMNS = ("subject_id", *CATEGORICAL_COLUMNS)

# LV long axis (base to apex, end-diastole) as a multiple of the endocardial radius; used to turn
# volume + mass into a mean wall thickness with a half-ellipsoid (bullet) geometry.
LV_LONG_AXIS_OVER_RADIUS = 3.0


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def bsa_mosteller(height_cm, weight_kg):
    return np.sqrt(height_cm * weight_kg / 3600.0)


def _healthy(name, sex, age, z):
    mean = np.empty(sex.shape)
    sd = np.empty(sex.shape)
    for s in ("M", "F"):
        m, d, slope = ref.HEALTHY_INDEXED[(name, s)]
        sel = sex == s
        mean[sel] = m + slope * (age[sel] - 50.0)
        sd[sel] = d
    return mean + sd * z


def endocardial_radius_cm(volume_ml):
    """Endocardial radius of a half-ellipsoid LV of length LV_LONG_AXIS_OVER_RADIUS × radius."""
    # V = (2/3)·π·r²·L with L = k·r  →  r = (3V / (2πk))^(1/3)
    return np.cbrt(3.0 * volume_ml / (2.0 * np.pi * LV_LONG_AXIS_OVER_RADIUS))


def mean_wall_thickness_mm(edv_ml, mass_g):
    """Mean ED wall thickness that gives `mass_g` of myocardium around a bullet-shaped cavity."""
    r = endocardial_radius_cm(edv_ml)
    length = LV_LONG_AXIS_OVER_RADIUS * r
    myo_ml = mass_g / ref.MYOCARDIAL_DENSITY_G_PER_ML
    lo = np.zeros_like(r)
    hi = np.full_like(r, 3.0)
    for _ in range(40):  # bisection, vectorised; 40 halvings of 3 cm is far below 1 µm
        t = 0.5 * (lo + hi)
        vol = (2.0 / 3.0) * np.pi * ((r + t) ** 2 * (length + t) - r ** 2 * length)
        too_big = vol > myo_ml
        hi = np.where(too_big, t, hi)
        lo = np.where(too_big, lo, t)
    return 10.0 * 0.5 * (lo + hi)


def sample_subjects(n: int, seed: int) -> dict[str, np.ndarray]:
    """Draw `n` subjects. Deterministic: the same (n, seed) gives the same cohort, and the first
    k subjects of a larger cohort are not guaranteed to match a smaller one (draws are vectorised)."""
    if n < 1:
        raise ValueError(f"sample_subjects: n must be ≥ 1, got {n}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xC0407]))
    u = lambda lo, hi: rng.uniform(lo, hi, n)  # noqa: E731
    bern = lambda p: rng.random(n) < p  # noqa: E731

    # --- demographics (a UK-Biobank-like imaging population, 45–82 y) ---
    age = np.clip(rng.normal(63.0, 8.5, n), 40.0, 85.0)
    male = rng.random(n) < 0.48
    sex = np.where(male, "M", "F")
    height = np.where(male, rng.normal(176.0, 6.8, n), rng.normal(163.0, 6.3, n))
    bmi = np.clip(rng.lognormal(np.log(26.8), 0.16, n), 17.0, 50.0)
    weight = bmi * (height / 100.0) ** 2
    bsa = bsa_mosteller(height, weight)
    agec = (age - 60.0) / 10.0

    # --- conditions (enriched cohort; prevalences and overlaps in docs/synthetic-cohort.md) ---
    cad = bern(_sigmoid(-2.05 + 0.55 * agec + 0.75 * male + 0.04 * (bmi - 27.0)))
    prior_mi = cad & bern(0.45)
    terr = rng.choice(np.array(["lad", "rca", "lcx"]), n, p=[0.45, 0.35, 0.20])
    mi_territory = np.where(prior_mi, terr, "none")
    # infarct size, 0–1 (1 ≈ a transmural infarct of the whole territory, ~40 % of the LV):
    # skewed toward small infarcts with a long tail of large ones
    infarct_size = np.where(prior_mi, rng.beta(1.6, 1.9, n), 0.0)
    cm_draw = rng.random(n)
    cm_subtype = np.select(
        [cm_draw < 0.030, cm_draw < 0.050, cm_draw < 0.062], ["dcm", "hcm", "rcm"], "none")
    dcm, hcm, rcm = cm_subtype == "dcm", cm_subtype == "hcm", cm_subtype == "rcm"
    cardiomyopathy = cm_subtype != "none"
    af = bern(np.clip(_sigmoid(-3.1 + 0.65 * agec + 0.35 * male) + 0.30 * rcm + 0.15 * hcm
                      + 0.12 * dcm + 0.08 * prior_mi, 0, 0.95))
    # heart failure after an infarct rises steeply with infarct size
    p_hf = (0.02 + 0.02 * np.clip(agec, 0, None)) + prior_mi * (0.03 + 0.45 * infarct_size) \
        + 0.70 * dcm + 0.65 * rcm + 0.18 * hcm + 0.12 * af
    heart_failure = bern(np.clip(p_hf, 0, 0.95))
    # pulmonary hypertension (ESC/ERS 2022 haemodynamic groups): post-capillary (group 2) needs
    # left heart disease; pre-capillary (groups 1/3/4-like) is drawn only without it
    lhd = heart_failure | cardiomyopathy | prior_mi
    postcap = lhd & bern(np.clip(0.17 * heart_failure + 0.10 * rcm + 0.02 * prior_mi, 0, 1))
    precap = ~lhd & bern(0.016)
    pulm_htn = precap | postcap
    ph_group = np.select([precap, postcap], ["precap", "postcap"], "none")
    # severity 0–1 (pulmonary vascular resistance / RV pressure load): uniform for pre-capillary,
    # mostly mild for isolated or combined post-capillary PH
    ph_severity = np.where(precap, u(0.0, 1.0), np.where(postcap, u(0.0, 1.0) ** 2 * 0.6, 0.0))
    # pericarditis: mostly a history of it; a minority is acute at the visit (ESC 2015)
    pericarditis = bern(0.025)
    peri_acute = pericarditis & bern(0.25)
    effusion = (peri_acute & bern(0.60)) | (pericarditis & ~peri_acute & bern(0.15)) \
        | (heart_failure & bern(0.10)) | bern(0.004)
    p_lbbb = 0.012 + 0.006 * np.clip(agec, 0, None) + 0.30 * dcm + 0.10 * heart_failure
    p_rbbb = 0.020 + 0.010 * np.clip(agec, 0, None) + 0.01 * male \
        + precap * (0.08 + 0.20 * ph_severity) + 0.05 * postcap
    bbb_draw = rng.random(n)
    bbb = np.select([bbb_draw < p_lbbb, bbb_draw < p_lbbb + p_rbbb], ["lbbb", "rbbb"], "none")
    lbbb = bbb == "lbbb"
    # AF with sinus rhythm on the day (paroxysmal, or persistent after cardioversion): 40 %,
    # between RealiseAF's 26.5 % paroxysmal and its 50.3 % paroxysmal + persistent
    paroxysmal = af & bern(0.40)
    rhythm = np.where(af & ~paroxysmal, "af", "sinus")
    hfpef_only = heart_failure & ~(prior_mi | dcm | rcm | hcm)

    # --- healthy phenotypes (correlated z-scores: body-size factor shared by chambers) ---
    z_size = rng.standard_normal(n)
    zz = rng.standard_normal((6, n))
    lv_edvi = _healthy("lv_edvi", sex, age, 0.8 * z_size + 0.6 * zz[0])
    lv_massi = _healthy("lv_massi", sex, age, 0.55 * z_size + 0.835 * zz[1])
    rv_edvi = _healthy("rv_edvi", sex, age, 0.8 * z_size + 0.6 * zz[2])
    lv_ef = _healthy("lv_ef", sex, age, zz[3])
    rv_ef = _healthy("rv_ef", sex, age, 0.5 * zz[3] + 0.866 * zz[4])
    # Atrial z-scores truncated at ±3.5 SD: the reference SD is a quarter of the mean, so below
    # −4 SD a volume would be ≤ 0 (one such subject in 10,000 crashed the ECG renderer).
    la_voli = _healthy("la_voli", sex, age, np.clip(0.4 * z_size + 0.917 * zz[5], -3.5, 3.5))
    ra_voli = _healthy("ra_voli", sex, age, np.clip(0.4 * z_size + 0.917 * rng.standard_normal(n), -3.5, 3.5))
    # obesity-related concentric remodelling (mass indexed to BSA falls a little with BMI)
    lv_massi = lv_massi * (1.0 + 0.004 * (bmi - 27.0))

    # --- disease effects on structure and function ---
    # post-infarct dysfunction: EF falls with infarct size (≈ 0.8–1.2 points per % of LV
    # infarcted), large infarcts dilate the LV (remodelling, Pfeffer & Braunwald 1990)
    lv_ef = lv_ef - infarct_size * u(32.0, 52.0)
    remodel = np.clip(infarct_size - 0.35, 0.0, None) * u(0.4, 1.2)
    lv_edvi = lv_edvi * (1.0 + 0.12 * infarct_size + remodel)
    la_voli = la_voli * (1.0 + 0.3 * infarct_size * heart_failure)
    lv_edvi = np.where(dcm, lv_edvi * u(1.45, 2.1), lv_edvi)
    lv_ef = np.where(dcm, u(15.0, 45.0), lv_ef)
    lv_massi = np.where(dcm, lv_massi * u(1.1, 1.4), lv_massi)
    lv_massi = np.where(hcm, lv_massi * u(1.45, 2.3), lv_massi)
    lv_edvi = np.where(hcm, lv_edvi * u(0.75, 0.95), lv_edvi)
    lv_ef = np.where(hcm, rng.normal(71.0, 5.0, n), lv_ef)
    lv_edvi = np.where(rcm, lv_edvi * u(0.75, 0.95), lv_edvi)
    lv_ef = np.where(rcm, rng.normal(56.0, 6.0, n), lv_ef)
    lv_massi = np.where(rcm, lv_massi * u(1.15, 1.5), lv_massi)
    la_voli = np.where(rcm, la_voli * u(1.7, 2.4), la_voli)
    ra_voli = np.where(rcm, ra_voli * u(1.6, 2.2), ra_voli)
    la_voli = np.where(hcm, la_voli * u(1.2, 1.6), la_voli)
    la_voli = np.where(dcm, la_voli * u(1.3, 1.8), la_voli)
    # HF with preserved EF: concentric remodelling and atrial enlargement
    la_voli = np.where(hfpef_only, la_voli * u(1.25, 1.6), la_voli)
    lv_massi = np.where(hfpef_only, lv_massi * u(1.05, 1.3), lv_massi)
    la_voli = np.where(af, la_voli * u(1.15, 1.6), la_voli)
    ra_voli = np.where(af, ra_voli * u(1.1, 1.4), ra_voli)
    lv_ef = np.where(rhythm == "af", lv_ef - u(0.0, 6.0), lv_ef)
    lv_ef = np.where(lbbb, lv_ef - u(2.0, 10.0), lv_ef)
    lv_edvi = np.where(lbbb, lv_edvi * u(1.0, 1.2), lv_edvi)
    # pre-capillary PH: RV dilation and dysfunction graded by severity; post-capillary PH: milder
    # RV changes on top of the left-sided disease
    sev = ph_severity
    rv_edvi = np.where(precap, rv_edvi * (1.1 + 0.8 * sev * u(0.8, 1.2)), rv_edvi)
    rv_ef = np.where(precap, rv_ef - sev * u(18.0, 32.0) - u(0.0, 5.0), rv_ef)
    ra_voli = np.where(precap, ra_voli * (1.1 + 0.8 * sev * u(0.8, 1.2)), ra_voli)
    rv_edvi = np.where(postcap, rv_edvi * (1.0 + 0.5 * sev * u(0.8, 1.2)), rv_edvi)
    rv_ef = np.where(postcap, rv_ef - sev * u(10.0, 20.0) - u(0.0, 4.0), rv_ef)
    ra_voli = np.where(postcap, ra_voli * (1.05 + 0.4 * sev), ra_voli)
    rv_ef = np.where(dcm, rv_ef - u(0.0, 15.0), rv_ef)
    lv_ef = np.clip(lv_ef, 12.0, 82.0)
    rv_ef = np.clip(rv_ef, 18.0, 78.0)

    lv_edv = lv_edvi * bsa
    lv_esv = lv_edv * (1.0 - lv_ef / 100.0)
    lv_sv = lv_edv - lv_esv
    lv_mass = lv_massi * bsa
    rv_edv = rv_edvi * bsa
    rv_esv = rv_edv * (1.0 - rv_ef / 100.0)
    rv_sv = rv_edv - rv_esv
    la_vol = la_voli * bsa
    ra_vol = ra_voli * bsa

    # --- heart rate ---
    hr = np.clip(rng.normal(66.0, 9.5, n) + 5.0 * heart_failure - 1.5 * male, 45.0, 115.0)
    hr = np.where(rhythm == "af", np.clip(rng.normal(86.0, 15.0, n), 55.0, 140.0), hr)
    lv_co = lv_sv * hr / 1000.0

    # --- regional wall thickness (AHA 16 segments, ED) ---
    t_mean = mean_wall_thickness_mm(lv_edv, lv_mass)
    pattern = np.ones((n, 16))
    pattern[:, 0:6] *= 1.08    # basal segments thicker than apical (Kawel-Boehm 2020 wall tables)
    pattern[:, 12:16] *= 0.86
    pattern *= 1.0 + 0.06 * rng.standard_normal((n, 16))
    septal = np.array(ref.SEPTAL_SEGMENTS) - 1
    hcm_ratio = u(1.5, 2.3)    # asymmetric septal hypertrophy: septum / free wall ≥ 1.3–1.5
    pattern[:, septal] *= np.where(hcm, hcm_ratio, 1.0)[:, None]
    for name, segs in ref.TERRITORY_SEGMENTS.items():
        idx = np.array(segs) - 1
        sel = mi_territory == name
        # transmural scar thins to ~50–75 % of remote wall; apical reach depends on size
        thin = 1.0 - infarct_size[:, None] * rng.uniform(0.35, 0.55, (n, idx.size))
        pattern[:, idx] = np.where(sel[:, None], pattern[:, idx] * thin, pattern[:, idx])
    wt = t_mean[:, None] * pattern / pattern.mean(axis=1, keepdims=True)

    # --- wall motion ---
    ischemic_wma = cad & ~prior_mi & bern(0.12)
    wma = prior_mi | dcm | ischemic_wma | (lbbb & bern(0.35)) | ((lv_ef < 40.0) & bern(0.8))

    # --- tissue markers: mostly driven by factors that leave the ECG untouched ---
    fibrosis = bern(np.clip(0.10 + 0.03 * agec + 0.04 * (bmi > 30), 0.02, 0.4))  # diffuse
    inflammation = bern(0.03) | (peri_acute & bern(0.15))                          # myocarditis
    t1 = rng.normal(*ref.T1_NORMAL_MS, n) + 12.0 * (~male) + fibrosis * u(25, 90) \
        + inflammation * u(20, 70) + dcm * u(15, 60) + hcm * u(15, 60) + rcm * u(70, 170) \
        + prior_mi * u(0, 25) + heart_failure * u(0, 20)
    t2 = rng.normal(*ref.T2_NORMAL_MS, n) + inflammation * u(4, 13) + rcm * u(0, 5) \
        + dcm * u(0, 3) + 0.8 * (~male)
    ecv = rng.normal(*ref.ECV_NORMAL_PCT, n) + 0.8 * (~male) + fibrosis * u(2.5, 10) \
        + rcm * u(10, 25) + hcm * u(1, 7) + dcm * u(1, 7) + prior_mi * u(0, 3) \
        + inflammation * u(1, 5)
    t1, t2, ecv = np.round(t1, 1), np.round(t2, 1), np.round(ecv, 1)
    p_lge = np.clip(0.02 + 0.55 * hcm + 0.30 * dcm + 0.80 * rcm + 0.45 * inflammation
                    + 0.06 * fibrosis, 0, 1)
    lge = prior_mi | bern(p_lge)

    ids = np.array([f"SYN{int(seed):03d}-{i:06d}" for i in range(n)])
    split = np.empty(n, dtype="<U5")
    order = rng.permutation(n)
    n_train, n_val = int(round(0.7 * n)), int(round(0.1 * n))
    split[order[:n_train]] = "train"
    split[order[n_train:n_train + n_val]] = "val"
    split[order[n_train + n_val:]] = "test"
    subject_seeds = rng.integers(0, 2 ** 31 - 1, n, dtype=np.int64)

    out = {
        "subject_id": ids, "split": split, "seed": subject_seeds,
        "age": np.round(age, 1), "sex": sex, "height_cm": np.round(height, 1),
        "weight_kg": np.round(weight, 1), "heart_rate_bpm": np.round(hr, 1),
        "rhythm": rhythm, "cad": cad, "prior_mi": prior_mi, "mi_territory": mi_territory,
        "heart_failure": heart_failure, "cardiomyopathy": cardiomyopathy,
        "cm_subtype": cm_subtype, "pulmonary_hypertension": pulm_htn, "ph_group": ph_group,
        "ph_severity": ph_severity, "infarct_size": infarct_size,
        "pericarditis": pericarditis, "pericarditis_acute": peri_acute, "effusion": effusion, "atrial_fibrillation": af,
        "bbb": bbb, "wall_motion_abnormality": wma, "lge": lge,
        "native_t1_ms": t1, "t2_ms": t2, "ecv_pct": ecv,
        # flags from the values as written (rounded), so table and flag always agree
        "t1_abnormal": t1 >= ref.T1_ABNORMAL_MS, "t2_abnormal": t2 >= ref.T2_ABNORMAL_MS,
        "ecv_abnormal": ecv >= ref.ECV_ABNORMAL_PCT,
        "lv_edv_ml": lv_edv, "lv_esv_ml": lv_esv, "lv_sv_ml": lv_sv, "lv_ef_pct": lv_ef,
        "lv_co_l_min": lv_co, "lv_mass_g": lv_mass, "rv_edv_ml": rv_edv, "rv_esv_ml": rv_esv,
        "rv_sv_ml": rv_sv, "rv_ef_pct": rv_ef, "la_vol_ml": la_vol, "ra_vol_ml": ra_vol,
    }
    for k, col in enumerate(SEGMENT_COLUMNS):
        out[col] = wt[:, k]
    out["wt_mean_mm"] = wt.mean(axis=1)
    for col in BINARY_COLUMNS:
        out[col] = out[col].astype(np.int8)
    for col in COLUMNS:
        if out[col].dtype.kind == "f":
            out[col] = np.round(out[col].astype(np.float64), 2)
    assert tuple(out) == COLUMNS or set(out) == set(COLUMNS)
    return {c: out[c] for c in COLUMNS}


def subject_row(cohort: dict[str, np.ndarray], i: int) -> dict:
    """Row `i` of a cohort as a dict of Python scalars (what the renderers take)."""
    return {c: cohort[c][i].item() if hasattr(cohort[c][i], "item") else cohort[c][i]
            for c in COLUMNS}


def hidden_rng(subject: dict, stream: int) -> np.random.Generator:
    """Per-subject generator for hidden anatomy shared by the ECG and both cine views
    (e.g. which territory an ischaemic wall-motion abnormality sits in)."""
    return np.random.default_rng(np.random.SeedSequence([int(subject["seed"]), 0x5EED, stream]))


def ischemic_territory(subject: dict) -> str:
    """Territory of hypokinesis: the infarct territory, or for CAD without infarct but with a
    wall-motion abnormality, a territory fixed by the subject's seed."""
    if subject["mi_territory"] != "none":
        return subject["mi_territory"]
    if subject["cad"] and subject["wall_motion_abnormality"] and subject["cm_subtype"] == "none":
        return ("lad", "rca", "lcx")[int(hidden_rng(subject, 1).integers(0, 3))]
    return "none"


def write_csv(cohort: dict[str, np.ndarray], path) -> None:
    import csv
    n = len(cohort["subject_id"])
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        cols = [cohort[c] for c in COLUMNS]
        for i in range(n):
            w.writerow([c[i] for c in cols])


def read_csv(path) -> dict[str, np.ndarray]:
    import csv
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    out = {}
    for j, name in enumerate(header):
        vals = [r[j] for r in body]
        if name in STRING_COLUMNS:
            out[name] = np.array(vals)
        elif name == "seed" or name in BINARY_COLUMNS:
            out[name] = np.array(vals, dtype=np.int64)
        else:
            out[name] = np.array(vals, dtype=np.float64)
    return out
