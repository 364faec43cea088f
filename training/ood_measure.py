"""Real vs held-out synthetic out-of-distribution scores from two `ecg2cmr screen` JSONL files (docs/MODEL_CARD.md):
flag rates, AUROC of the score, and the margin of the least-flagged real record.

    python3 training/ood_measure.py real.jsonl heldout.jsonl
"""
import json, sys
import numpy as np
def load(p, real):
    rows = [json.loads(l) for l in open(p) if l.strip()]
    rows = [r for r in rows if r["status"] == "ok" and r.get("outOfDistributionScore") is not None]
    if real:
        rows = [r for r in rows if len(r.get("leads") or []) >= 12]
    return rows
real = load(sys.argv[1], True); syn = load(sys.argv[2], False)
rs = np.array([r["outOfDistributionScore"] for r in real]); ss = np.array([r["outOfDistributionScore"] for r in syn])
# AUROC = P(real score > synthetic score) + 0.5 P(tie)
auc = ((rs[:, None] > ss[None, :]).mean() + 0.5 * (rs[:, None] == ss[None, :]).mean())
print(f"real 12-lead: {int((rs > 1).sum())}/{len(rs)} flagged = {(rs > 1).mean():.1%}; min score {rs.min():.3f}, median {np.median(rs):.2f}")
print(f"held-out synthetic: {int((ss > 1).sum())}/{len(ss)} flagged = {(ss > 1).mean():.2%}; score p50 {np.percentile(ss,50):.2f} p95 {np.percentile(ss,95):.2f} p97.5 {np.percentile(ss,97.5):.2f} max {ss.max():.2f}")
print(f"AUROC real vs synthetic: {auc:.4f}")
print(f"margin: least real score − 1 = {rs.min() - 1:+.3f}; least real score / synthetic p95 = {rs.min() / np.percentile(ss, 95):.2f}")
for r in sorted(real, key=lambda r: r["outOfDistributionScore"]):
    print(f"  {r['file'].split('records/')[-1]}: {r['outOfDistributionScore']}")
