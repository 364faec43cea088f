"""Evaluation metrics: AUC with bootstrap CI, operating points, Pearson r, SSIM/PSNR, blood-pool EF."""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.stats import rankdata


def auc(y: np.ndarray, s: np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney, ties counted half); NaN with one class only."""
    y = np.asarray(y).astype(bool)
    npos, nneg = int(y.sum()), int((~y).sum())
    if npos == 0 or nneg == 0:
        return float("nan")
    r = rankdata(s)
    return float((r[y].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def auc_ci(y, s, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05):
    """(AUC, lower, upper): percentile bootstrap over subjects."""
    y, s = np.asarray(y), np.asarray(s)
    a = auc(y, s)
    if not np.isfinite(a):
        return a, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    n = len(y)
    vals = []
    for _ in range(n_boot):
        i = rng.integers(0, n, n)
        v = auc(y[i], s[i])
        if np.isfinite(v):
            vals.append(v)
    lo, hi = np.percentile(vals, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return a, float(lo), float(hi)


def youden_threshold(y, p) -> float:
    """Probability threshold maximising sensitivity + specificity − 1."""
    y = np.asarray(y).astype(bool)
    if y.all() or (~y).all():
        return 0.5
    cand = np.unique(p)
    if len(cand) > 400:
        cand = np.quantile(p, np.linspace(0, 1, 401))
    best, thr = -1.0, 0.5
    for t in cand:
        pred = p >= t
        j = pred[y].mean() + (~pred[~y]).mean() - 1
        if j > best:
            best, thr = j, float(t)
    return thr


def specificity_threshold(y, p, specificity: float = 0.9) -> float:
    """Smallest threshold with at least `specificity` on the negatives."""
    y = np.asarray(y).astype(bool)
    neg = np.sort(p[~y])
    if len(neg) == 0:
        return 0.5
    k = min(int(np.ceil(specificity * len(neg))), len(neg) - 1)
    return float(neg[k])


def operating_point(y, p, thr: float) -> dict:
    y = np.asarray(y).astype(bool)
    pred = np.asarray(p) >= thr
    tp, tn = int((pred & y).sum()), int((~pred & ~y).sum())
    fp, fn = int((pred & ~y).sum()), int((~pred & y).sum())
    return {"threshold": thr, "accuracy": (tp + tn) / max(len(y), 1),
            "sensitivity": tp / max(tp + fn, 1), "specificity": tn / max(tn + fp, 1),
            "tp": tp, "tn": tn, "fp": fp, "fn": fn}


def pearson(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.std() < 1e-12 or b.std() < 1e-12:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def pearson_ci(a, b, alpha: float = 0.05):
    """Pearson r with a Fisher-z 95 % interval."""
    r = pearson(a, b)
    n = len(a)
    if not np.isfinite(r) or n < 4:
        return r, float("nan"), float("nan")
    z = np.arctanh(np.clip(r, -0.999999, 0.999999))
    se = 1.0 / np.sqrt(n - 3)
    return r, float(np.tanh(z - 1.96 * se)), float(np.tanh(z + 1.96 * se))


def _gauss(img, sigma=1.5):
    return ndimage.gaussian_filter(img, sigma, mode="reflect", truncate=3.5)


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """Mean SSIM (Wang et al. 2004; Gaussian window σ = 1.5, K1 = 0.01, K2 = 0.03) of two 2-D images."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = _gauss(a), _gauss(b)
    saa = _gauss(a * a) - mu_a ** 2
    sbb = _gauss(b * b) - mu_b ** 2
    sab = _gauss(a * b) - mu_a * mu_b
    m = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (saa + sbb + c2))
    return float(m.mean())


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(data_range ** 2 / mse))


def blood_pool_area(frame: np.ndarray, threshold: float = 0.6) -> float:
    """Pixels of the bright blood-pool region containing / nearest the image centre.

    bSSFP blood is bright: threshold the frame (grey in [0, 1]), label connected regions and take
    the one closest to the centre (the LV cavity in a mid-ventricular SAX slice)."""
    mask = frame >= threshold
    lab, n = ndimage.label(mask)
    if n == 0:
        return 0.0
    h, w = frame.shape
    yy, xx = np.mgrid[0:h, 0:w]
    d = (yy - (h - 1) / 2) ** 2 + (xx - (w - 1) / 2) ** 2
    best, area = None, 0.0
    for k in range(1, n + 1):
        sel = lab == k
        dk = d[sel].min()
        if best is None or dk < best:
            best, area = dk, float(sel.sum())
    return area


def blood_pool_ef(frames: np.ndarray, threshold: float = 0.6) -> float:
    """Area ejection fraction (%) of a SAX cine [F, S, S]: (max − min) / max of the blood-pool area."""
    areas = np.array([blood_pool_area(f, threshold) for f in frames])
    mx = areas.max()
    return float(100.0 * (mx - areas.min()) / mx) if mx > 0 else 0.0


def otsu_threshold(img: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of grey values in [0, 1] (maximal between-class variance)."""
    h, edges = np.histogram(np.clip(img, 0, 1), bins=bins, range=(0.0, 1.0))
    h = h.astype(np.float64)
    centres = 0.5 * (edges[:-1] + edges[1:])
    w0 = np.cumsum(h)
    w1 = w0[-1] - w0
    m0 = np.cumsum(h * centres)
    mt = m0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mt * w0 / w0[-1] - m0) ** 2 / (w0 * w1 / w0[-1])
    between[~np.isfinite(between)] = -1
    return float(edges[int(np.argmax(between)) + 1])


def blood_pool_areas_otsu(frames: np.ndarray) -> np.ndarray:
    """Blood-pool area (pixels) per frame of a SAX cine [F, S, S]: one Otsu threshold over the whole
    cine, then the bright connected component nearest the image centre in each frame."""
    thr = otsu_threshold(frames)
    return np.array([blood_pool_area(f, thr) for f in frames])


def cine_function(frames: np.ndarray) -> dict:
    """Area ejection fraction (%) and end-diastolic area (pixels) of a SAX cine."""
    a = blood_pool_areas_otsu(frames)
    mx = float(a.max())
    return {"ef": float(100.0 * (mx - a.min()) / mx) if mx > 0 else 0.0, "ed_area": mx}
