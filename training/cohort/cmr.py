"""Cine CMR (bSSFP-like) from the subject state: a mid-ventricular short-axis slice (80×80) and a
4-chamber long-axis view (96×96), frames at cardiac phases φ = k / n_frames (φ = 0 end-diastole).

Geometry is analytic and evaluated on the pixel grid for all frames at once: LV as a
half-ellipsoid whose cavity follows the volume curve (EDV → ESV → filling → atrial kick),
myocardium that thickens as the cavity shrinks (area conservation per angle), regional
hypokinesis in the infarct / ischaemic territory, RV crescent, atria, pericardial effusion rim,
papillary muscles, lungs, liver, chest wall and fat. Then random pose, coil shading and Rician
noise. No late gadolinium enhancement: cine SSFP does not show it.
"""
from __future__ import annotations

import numpy as np

from . import reference as ref
from .state import endocardial_radius_cm, hidden_rng, ischemic_territory, LV_LONG_AXIS_OVER_RADIUS

VIEW_SIZE = {"sax": 80, "lax": 96}

# bSSFP signal levels (relative): blood and fat bright, myocardium and liver dark-grey.
BLOOD, MYO, FAT, FLUID, LUNG, LIVER, MUSCLE = 0.88, 0.26, 0.80, 0.78, 0.05, 0.32, 0.30

# Mid-ventricular segments 7..12, centre angles (degrees) in the heart frame
# (u → patient's left / lateral, v → anterior): anterior 90°, anteroseptal 150°, ...
MID_SEGMENT_ANGLES = np.deg2rad([90.0, 150.0, 210.0, 270.0, 330.0, 30.0]).astype(np.float32)


def volume_curve(phi: np.ndarray, hr_bpm: float, af: bool) -> np.ndarray:
    """Fractional LV volume (1 = EDV, 0 = ESV) over the cycle: ejection, rapid filling,
    diastasis, atrial kick (absent in AF)."""
    phi = np.mod(phi, 1.0)
    rr = 60.0 / hr_bpm
    ts = float(np.clip((0.40 - 0.0011 * hr_bpm) / rr, 0.25, 0.55))   # end-systole (fraction)
    sys = 0.5 * (1.0 + np.cos(np.pi * np.clip(phi / ts, 0.0, 1.0)))
    d = np.clip((phi - ts) / (1.0 - ts), 0.0, 1.0)
    if af:
        dia = (1.0 - np.exp(-d / 0.18)) / (1.0 - np.exp(-1.0 / 0.18))
    else:
        early = 0.8 * (1.0 - np.exp(-d / 0.12)) / (1.0 - np.exp(-0.8 / 0.12))
        kick = 0.2 * np.clip((d - 0.8) / 0.2, 0.0, 1.0) ** 2 * (3 - 2 * np.clip((d - 0.8) / 0.2, 0, 1))
        dia = np.where(d < 0.8, np.minimum(early, 0.8), 0.8 + kick)
    return np.where(phi < ts, sys, dia).astype(np.float32)


def atrial_curve(phi: np.ndarray, hr_bpm: float, af: bool) -> np.ndarray:
    """Fractional atrial volume (1 = maximal, at end-systole; 0 = minimal, after atrial kick)."""
    v = volume_curve(phi, hr_bpm, af)
    return (1.0 - v * (0.6 if af else 1.0)).astype(np.float32)


def _soft_inside(d_mm, px_mm):
    """Anti-aliased inside mask from a signed distance (negative inside) in mm."""
    m = d_mm * np.float32(-1.0 / px_mm)
    m += np.float32(0.5)
    return np.clip(m, 0.0, 1.0, out=m)


def _paint(img, value, mask):
    """img ← img + (value − img)·mask, in place."""
    img += (np.float32(value) - img) * mask
    return img


def _segment_weights(theta):
    """Smooth interpolation weights of the 6 mid segments at angles theta ([..., 6])."""
    w = np.exp(np.float32(4.0) * np.cos(theta[..., None] - MID_SEGMENT_ANGLES))
    return w / w.sum(axis=-1, keepdims=True)


def _motion_factors(s: dict) -> np.ndarray:
    """Systolic inward-motion factor of each of the 16 segments (1 = normal; <1 hypokinetic)."""
    h = hidden_rng(s, 3)
    m = np.ones(16)
    terr = ischemic_territory(s)
    if terr != "none":
        idx = np.array(ref.TERRITORY_SEGMENTS[terr]) - 1
        if s["prior_mi"]:
            # scar: akinetic for a whole-territory transmural infarct, hypokinetic when small
            size = float(np.clip(s.get("infarct_size", 1.0), 0.0, 1.0))
            lo, hi = 0.35 * (1.0 - size), 0.35 + 0.4 * (1.0 - size)
        else:
            lo, hi = 0.3, 0.6
        m[idx] = h.uniform(lo, hi, idx.size)
    if s["bbb"] == "lbbb" and s["wall_motion_abnormality"]:
        idx = np.array(ref.SEPTAL_SEGMENTS) - 1
        m[idx] *= h.uniform(0.3, 0.6, idx.size)   # septal dyssynchrony
    return m / m.mean()


def _fat_thickness(h, theta):
    """Epicardial fat (mm) around the heart: thin in most places, pads in the grooves."""
    t = np.full(theta.shape, h.uniform(0.0, 1.5), dtype=np.float32)
    for _ in range(3):
        c = h.uniform(-np.pi, np.pi)
        t += np.float32(h.uniform(2.0, 8.0)) * np.exp(np.float32(h.uniform(2.0, 6.0))
                                                      * (np.cos(theta - np.float32(c)) - 1.0))
    return t


POSE_RANGES = {"sax": (1.55, 1.95, 30.0, 4.0), "lax": (1.6, 2.0, 30.0, 4.0)}
"""Per view: pixel size range (mm/pixel), rotation ±degrees, shift ±pixels."""

CANONICAL_PIXEL_MM = {"sax": 1.75, "lax": 1.8}
"""Middle of each view's pixel-size range: the pixel size of the canonical pose (no rotation,
no shift) used by `canonical_pose` and `warp_to_canonical`."""


def pose_grid(size: int, pose) -> tuple[np.ndarray, np.ndarray]:
    """Heart-frame coordinates (u lateral, v anterior; mm) of every pixel (i row, j column) of a
    `size`×`size` image taken at `pose` = (pixel_mm, angle_rad, shift_x_px, shift_y_px):

        x = (j − c − shift_x)·pixel_mm,  y = −(i − c − shift_y)·pixel_mm,  c = (size − 1)/2
        u = cos(angle)·x + sin(angle)·y,  v = −sin(angle)·x + cos(angle)·y
    """
    px, ang, sx, sy = (float(p) for p in pose)
    c = (size - 1) / 2.0
    jj, ii = np.meshgrid(np.arange(size), np.arange(size))
    x = (jj - c - sx) * px                     # image right
    y = -(ii - c - sy) * px                    # image up
    u = np.cos(ang) * x + np.sin(ang) * y
    v = -np.sin(ang) * x + np.cos(ang) * y
    return u.astype(np.float32), v.astype(np.float32)


def canonical_pose(view: str) -> np.ndarray:
    """(pixel_mm, angle_rad, shift_x_px, shift_y_px) of the canonical pose of a view."""
    return np.array([CANONICAL_PIXEL_MM[view], 0.0, 0.0, 0.0])


def stored_pixel_of(size: int, pose, u, v) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `pose_grid`: (row i, column j) of the stored image at `pose` that shows the
    heart-frame point (u, v) mm."""
    px, ang, sx, sy = (float(p) for p in pose)
    c = (size - 1) / 2.0
    x = np.cos(ang) * u - np.sin(ang) * v
    y = np.sin(ang) * u + np.cos(ang) * v
    return -y / px + c + sy, x / px + c + sx


def warp_to_canonical(frames: np.ndarray, pose, view: str, canonical=None) -> np.ndarray:
    """Resample stored frames [F, S, S] taken at `pose` onto the canonical pose of `view`
    (bilinear, edges clamped): canonical pixel (i', j') shows u = (j' − c)·p0, v = −(i' − c)·p0,
    read from the stored image at `stored_pixel_of(S, pose, u, v)`. Returns float32."""
    from scipy.ndimage import map_coordinates
    size = frames.shape[-1]
    u, v = pose_grid(size, canonical_pose(view) if canonical is None else canonical)
    i, j = stored_pixel_of(size, pose, u.astype(np.float64), v.astype(np.float64))
    out = np.empty(frames.shape, dtype=np.float32)
    for k in range(frames.shape[0]):
        out[k] = map_coordinates(frames[k].astype(np.float32), [i, j], order=1, mode="nearest")
    return out


def _pose(rng, size, px_lo, px_hi, rot_deg, shift_px, fixed=None):
    """Draw the acquisition pose (always consuming the same random numbers, so a fixed pose
    leaves the rest of the stream unchanged) and return (u, v, pixel_mm, pose[4])."""
    px = rng.uniform(px_lo, px_hi)
    ang = np.deg2rad(rng.uniform(-rot_deg, rot_deg))
    sh = rng.uniform(-shift_px, shift_px, 2)
    pose = np.array([px, ang, sh[0], sh[1]], dtype=np.float64)
    if fixed is not None:
        pose = np.asarray(fixed, dtype=np.float64).reshape(4)
    u, v = pose_grid(size, pose)
    return u, v, float(pose[0]), pose


def _background(h, u, v, blobs=9):
    """Static surroundings: a smooth patchwork of tissue with fat, muscle and liver intensities."""
    img = np.full(u.shape, 0.22, dtype=np.float32)
    for _ in range(blobs):
        cu, cv = h.uniform(-90, 90, 2)
        r = h.uniform(12, 40)
        val = h.choice([FAT, MUSCLE, LIVER, 0.15, 0.45])
        m = np.exp(-((u - cu) ** 2 + (v - cv) ** 2) * np.float32(1.0 / (2 * r * r)))
        img += (np.float32(val) - img) * m
    return img


def _shade_and_noise(frames, rng, u, v, as_float, noise=True):
    """Receiver-coil shading, Rician noise, display windowing. With noise=False the noise is
    drawn (the random stream stays the same) but not added."""
    g = rng.normal(0, 1, 2)
    span = np.abs(u).max() + 1e-6
    coil = 1.0 + 0.25 * (g[0] * u + g[1] * v) / span / np.sqrt(2)
    cu, cv = rng.uniform(-60, 60, 2)
    coil = coil + 0.35 * np.exp(-((u - cu) ** 2 + (v - cv) ** 2) / (2 * 50.0 ** 2))
    sig = frames * np.clip(coil, 0.4, 2.0).astype(np.float32)[None]
    sigma = np.float32(rng.uniform(0.02, 0.055))
    re = sig + sigma * rng.standard_normal(sig.shape, dtype=np.float32)
    im = sigma * rng.standard_normal(sig.shape, dtype=np.float32)
    mag = np.sqrt(re * re + im * im) if noise else sig
    # display window from the brightest 0.5 % of the first frame (as scanners auto-window)
    first = mag[0].ravel()
    k = max(1, first.size // 200)
    scale = float(np.partition(first, first.size - k)[first.size - k])
    mag *= np.float32(1.0 / max(scale, 1e-6))
    out = np.clip(mag, 0.0, 1.0, out=mag)
    if as_float:
        return out
    return np.round(out * 255.0).astype(np.uint8)


def _common(s):
    hr = float(s["heart_rate_bpm"])
    af = s["rhythm"] == "af"
    edv, esv = float(s["lv_edv_ml"]), float(s["lv_esv_ml"])
    rv_edv, rv_esv = float(s["rv_edv_ml"]), float(s["rv_esv_ml"])
    return hr, af, edv, esv, rv_edv, rv_esv


def _ph_rv(s, h):
    """(septal flattening, RV free-wall thickness mm) from the PH group and severity."""
    if not s["pulmonary_hypertension"]:
        return 0.0, 3.0
    group = s.get("ph_group", "precap")
    sev = float(s.get("ph_severity", 1.0))
    if group == "postcap":
        return 0.08 * sev * h.uniform(0.5, 1.5), 3.0 + 1.5 * sev * h.uniform(0.5, 1.5)
    return (0.06 + 0.25 * sev) * h.uniform(0.8, 1.2), 3.5 + 4.5 * sev * h.uniform(0.8, 1.2)


def _sax(s, phases, rng, as_float, pose=None, noise=True):
    size = VIEW_SIZE["sax"]
    h = hidden_rng(s, 4)
    u, v, px, used_pose = _pose(rng, size, *POSE_RANGES["sax"], fixed=pose)
    hr, af, edv, esv, rv_edv, rv_esv = _common(s)
    vol = esv + (edv - esv) * volume_curve(phases, hr, af)          # [F]
    r_ed = float(10.0 * endocardial_radius_cm(edv) * 0.92)                # mid-cavity radius, mm
    r_mean = r_ed * (vol / edv) ** 0.35                             # area ∝ V^0.7
    deficit = (r_ed - r_mean)[:, None, None]

    rho = np.hypot(u, v)
    theta = np.arctan2(v, u)
    wts = _segment_weights(theta)
    wt_mid = np.array([float(s[f"wt_seg{k:02d}_mm"]) for k in range(7, 13)], np.float32)
    t_ed = wts @ wt_mid
    m_mid = _motion_factors(s)[6:12].astype(np.float32)
    m = wts @ m_mid
    ell = h.uniform(0.0, 0.06)
    ell_ang = h.uniform(0, np.pi)
    r_ed_t = r_ed * (1.0 + ell * np.cos(2 * (theta - ell_ang)))
    flat, t_rv = _ph_rv(s, h)                                       # D-shaped LV, thick RV wall
    sept = np.clip(np.cos(theta - np.pi), 0.0, None) ** 3
    r = r_ed_t[None] - deficit * m[None]
    r = r * (1.0 - flat * sept * (1.0 + 0.5 * deficit / r_ed))
    r = np.maximum(r, 1.5)
    r_ed_flat = r_ed_t * (1.0 - flat * sept)
    R_ed = r_ed_flat + t_ed
    R = np.sqrt(r * r + (R_ed ** 2 - r_ed_flat ** 2)[None])
    d_endo = rho[None] - r
    d_epi = rho[None] - R

    # RV crescent wrapping the septum
    rv_vol = rv_esv + (rv_edv - rv_esv) * volume_curve(phases - 0.02, hr, af)
    R_bar = r_ed + float(np.mean(wt_mid))
    B0 = 1.0 * R_bar
    L_rv = 0.8 * LV_LONG_AXIS_OVER_RADIUS * r_ed
    w_ed = 0.55 * rv_edv * 1000.0 / (1.5708 * B0 * L_rv)         # crescent width, mm
    w = w_ed * (rv_vol / rv_edv) ** 0.7                             # [F]
    A = 0.45 * R_bar + w
    B = B0 + 0.25 * w_ed
    xc = -0.55 * R_bar
    Bf = B * (rv_vol / rv_edv) ** 0.1
    A3, B3 = A[:, None, None], Bf[:, None, None]
    e_in = np.sqrt(((u[None] - xc) / A3) ** 2 + (v[None] / B3) ** 2)
    d_rv_in = (e_in - 1.0) * np.minimum(A3, B3)
    e_out = np.sqrt(((u[None] - xc) / (A3 + t_rv)) ** 2 + (v[None] / (B3 + t_rv)) ** 2)
    d_rv_out = (e_out - 1.0) * np.minimum(A3 + t_rv, B3 + t_rv)
    d_heart = np.minimum(d_epi, d_rv_out)

    img = np.broadcast_to(_background(h, u, v), d_endo.shape).copy()
    # lungs either side of the heart, liver below
    lung_gap = h.uniform(8.0, 25.0)
    lung = _soft_inside(-(np.abs(u + 0.2 * R_bar) - (R_bar + w_ed + lung_gap + 8)), px) \
        * _soft_inside(v - 0.9 * R_bar - 30, px)
    img = _paint(img, LUNG, np.broadcast_to(lung, img.shape) * 0.9)
    # epicardial fat and pericardium; effusion (bright fluid) between them when present
    fat_t = _fat_thickness(h, theta)
    eff = h.uniform(4.0, 12.0) if s["effusion"] else 0.0
    img = _paint(img, FAT, _soft_inside(d_heart - (eff + fat_t + 1.0), px))
    img = _paint(img, 0.12, _soft_inside(d_heart - (eff + 1.0), px))   # pericardium (dark line)
    if eff > 0:
        img = _paint(img, FLUID, _soft_inside(d_heart - eff, px))
    img = _paint(img, MYO, _soft_inside(d_heart, px))
    rv_blood = _soft_inside(d_rv_in, px) * (1.0 - _soft_inside(d_epi - 0.0, px))
    img = _paint(img, BLOOD, rv_blood)
    img = _paint(img, BLOOD * h.uniform(0.95, 1.05), _soft_inside(d_endo, px))
    # papillary muscles (anterolateral and posteromedial), hugging the wall
    for ang in (np.deg2rad(20.0 + h.uniform(-10, 10)), np.deg2rad(250.0 + h.uniform(-10, 10))):
        rr = r_mean[:, None, None] * 0.78
        pu, pv = rr * np.cos(ang), rr * np.sin(ang)
        pr = 0.13 * r_mean[:, None, None] + 1.2
        d = np.sqrt((u[None] - pu) ** 2 + (v[None] - pv) ** 2) - pr
        img = _paint(img, MYO * 1.1, _soft_inside(d, px))
    return _shade_and_noise(img, rng, u, v, as_float, noise), used_pose


def _lax(s, phases, rng, as_float, pose=None, noise=True):
    size = VIEW_SIZE["lax"]
    h = hidden_rng(s, 5)
    u, v, px, used_pose = _pose(rng, size, *POSE_RANGES["lax"], fixed=pose)
    hr, af, edv, esv, rv_edv, rv_esv = _common(s)
    vc = volume_curve(phases, hr, af)
    vol = esv + (edv - esv) * vc
    r_ed = float(10.0 * endocardial_radius_cm(edv))
    L_ed = LV_LONG_AXIS_OVER_RADIUS * r_ed
    frac = vol / edv
    L = L_ed * frac ** 0.3                                            # [F]
    mot = _motion_factors(s)
    m_sep = float(mot[[2, 8, 13]].mean())
    m_lat = float(mot[[5, 11, 15]].mean())
    a_mean = r_ed * frac ** 0.35
    a_sep = r_ed - (r_ed - a_mean) * m_sep
    a_lat = r_ed - (r_ed - a_mean) * m_lat
    t_sep_ed = float(np.mean([float(s[f"wt_seg{k:02d}_mm"]) for k in (3, 9, 14)]))
    t_lat_ed = float(np.mean([float(s[f"wt_seg{k:02d}_mm"]) for k in (6, 12, 16)]))
    t_apex_ed = float(np.mean([float(s[f"wt_seg{k:02d}_mm"]) for k in (13, 14, 15, 16)])) * 0.9
    t_sep = t_sep_ed * r_ed / a_sep
    t_lat = t_lat_ed * r_ed / a_lat
    t_apex = t_apex_ed * (L_ed / L) ** 0.5

    # heart frame: v up toward the apex; apex fixed, valve plane descends toward it in systole
    apex_v = 0.55 * L_ed + 6.0
    base_v = apex_v - L                                              # [F]
    x_lv = t_sep_ed / 2.0 + r_ed
    U = u[None]
    V = v[None]
    F3 = lambda a: np.asarray(a, np.float32)[:, None, None] if np.ndim(a) else float(a)  # noqa: E731
    left = U < x_lv
    a_side = np.where(left, F3(a_sep), F3(a_lat))
    t_side = np.where(left, F3(t_sep), F3(t_lat))
    dv = V - F3(base_v)
    above = dv >= 0
    e_endo = np.sqrt(((U - x_lv) / a_side) ** 2 + (np.maximum(dv, 0) / F3(L)) ** 2)
    d_endo = np.where(above, (e_endo - 1.0) * np.minimum(a_side, F3(L)), -dv)
    d_endo = np.maximum(d_endo, np.where(above, -1e3, -dv))
    a_epi = a_side + t_side
    L_epi = F3(L) + F3(t_apex)
    e_epi = np.sqrt(((U - x_lv) / a_epi) ** 2 + (np.maximum(dv, 0) / L_epi) ** 2)
    d_epi = np.where(above, (e_epi - 1.0) * np.minimum(a_epi, L_epi), 1e3)

    # RV: shorter, wraps the septum from the left
    rv_frac = (rv_esv + (rv_edv - rv_esv) * volume_curve(phases - 0.02, hr, af)) / rv_edv
    L_rv = 0.78 * L_ed * rv_frac ** 0.25
    a_rv_ed = float(0.7 * np.sqrt(3.0 * rv_edv * 1000.0 / (2 * np.pi * 0.78 * L_ed)))
    a_rv = a_rv_ed * rv_frac ** 0.6
    x_rv = x_lv - r_ed - t_sep_ed - 0.85 * a_rv_ed
    t_rv = _ph_rv(s, h)[1]
    dv_rv = V - F3(base_v)
    e_rv = np.sqrt(((U - x_rv) / F3(a_rv)) ** 2 + (np.maximum(dv_rv, 0) / F3(L_rv)) ** 2)
    d_rv_in = np.where(dv_rv >= 0, (e_rv - 1.0) * np.minimum(F3(a_rv), F3(L_rv)), 1e3)
    e_rvo = np.sqrt(((U - x_rv) / F3(a_rv + t_rv)) ** 2
                    + (np.maximum(dv_rv, 0) / F3(L_rv + t_rv)) ** 2)
    d_rv_out = np.where(dv_rv >= 0, (e_rvo - 1.0) * np.minimum(F3(a_rv + t_rv), F3(L_rv + t_rv)),
                        1e3)

    # atria below the valve plane, largest at end-systole
    ac = atrial_curve(phases, hr, af)
    la_max, ra_max = float(s["la_vol_ml"]), float(s["ra_vol_ml"])
    la = la_max * (0.45 + 0.55 * ac) * 1000.0                          # mm³
    ra = ra_max * (0.5 + 0.5 * ac) * 1000.0
    b_la = np.cbrt(3 * la / (4 * np.pi * 0.8 * 0.8))
    b_ra = np.cbrt(3 * ra / (4 * np.pi * 0.8 * 0.8))
    a_la, a_ra = 0.8 * b_la, 0.8 * b_ra
    cla_u = x_lv + 0.1 * r_ed
    cra_u = x_rv - 0.05 * a_rv_ed
    d_la = (np.sqrt(((U - cla_u) / F3(a_la)) ** 2 + ((V - F3(base_v - 0.9 * b_la)) / F3(b_la)) ** 2)
            - 1.0) * F3(a_la)
    d_ra = (np.sqrt(((U - cra_u) / F3(a_ra)) ** 2 + ((V - F3(base_v - 0.9 * b_ra)) / F3(b_ra)) ** 2)
            - 1.0) * F3(a_ra)

    img = np.broadcast_to(_background(h, u, v), d_endo.shape).copy()
    lung_gap = h.uniform(6.0, 20.0)
    width = x_lv + r_ed + t_lat_ed - x_rv + a_rv_ed + 10
    mid_u = (x_lv + r_ed + x_rv - a_rv_ed) / 2.0
    lung = _soft_inside(-(np.abs(u - mid_u) - (width / 2 + lung_gap)), px) \
        * _soft_inside(-(v - (base_v[0] - 20)), px)
    img = _paint(img, LUNG, np.broadcast_to(lung, img.shape) * 0.9)
    # descending aorta behind the left atrium
    d_ao = np.hypot(u - (cla_u + 0.6 * a_la[0]), v - (base_v[0] - 2.0 * b_la[0] - 8)) - 11.0
    img = _paint(img, BLOOD * 0.9, np.broadcast_to(_soft_inside(d_ao, px), img.shape))
    d_vent = np.minimum(d_epi, d_rv_out)
    fat_t = _fat_thickness(h, np.arctan2(v - float(base_v[0]) - 0.5 * L_ed, u - x_lv + r_ed))
    eff = h.uniform(4.0, 12.0) if s["effusion"] else 0.0
    img = _paint(img, FAT, _soft_inside(d_vent - (eff + fat_t + 1.0), px))
    img = _paint(img, 0.12, _soft_inside(d_vent - (eff + 1.0), px))
    if eff > 0:
        img = _paint(img, FLUID, _soft_inside(d_vent - eff, px))
    # atrial walls then blood, ventricles over them
    img = _paint(img, MYO, _soft_inside(np.minimum(d_la, d_ra) - 2.0, px))
    img = _paint(img, BLOOD, _soft_inside(d_la, px))
    img = _paint(img, BLOOD, _soft_inside(d_ra, px) * (1 - _soft_inside(d_la - 2.0, px)))
    img = _paint(img, MYO, _soft_inside(d_vent, px))
    img = _paint(img, BLOOD, _soft_inside(d_rv_in, px) * (1 - _soft_inside(d_epi, px)))
    img = _paint(img, BLOOD * h.uniform(0.95, 1.05), _soft_inside(d_endo, px))
    return _shade_and_noise(img, rng, u, v, as_float, noise), used_pose


def render_cine(subject: dict, view: str, n_frames: int, rng: np.random.Generator,
                as_float: bool = False, pose=None, return_pose: bool = False,
                noise: bool = True):
    """Cine frames at phases k / n_frames (k = 0 is end-diastole).

    Returns uint8 [n_frames, H, W] (H = W = 80 for "sax", 96 for "lax"), or float32 in [0, 1]
    with `as_float=True`.

    The acquisition pose (pixel_mm, angle_rad, shift_x_px, shift_y_px) is drawn from `rng`; with
    `pose=` given, that pose is used instead, but the same random numbers are still consumed, so
    everything else (noise, coil shading, the next view) is unchanged. `return_pose=True` returns
    (frames, pose float64 [4]); `pose_grid` defines the geometry. `noise=False` leaves out the
    Rician noise (still drawn, so the stream is unchanged)."""
    if view not in VIEW_SIZE:
        raise ValueError(f"render_cine: view must be 'sax' or 'lax', got {view!r}")
    if n_frames < 1:
        raise ValueError(f"render_cine: n_frames must be ≥ 1, got {n_frames}")
    phases = (np.arange(n_frames) / float(n_frames)).astype(np.float32)
    fn = _sax if view == "sax" else _lax
    frames, used = fn(subject, phases, rng, as_float, pose, noise)
    return (frames, used) if return_pose else frames
