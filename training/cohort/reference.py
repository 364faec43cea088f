"""Reference values the cohort is built from (sources in docs/synthetic-cohort.md).

Healthy-adult CMR values are indexed to body-surface area (BSA, Mosteller) and follow the
bSSFP adult reference ranges collected by Kawel-Boehm et al., "Reference ranges ('normal values')
for cardiovascular magnetic resonance (CMR) in adults and children: 2020 update",
J Cardiovasc Magn Reson 22:87 (2020), papillary muscles counted as myocardium. Volumes fall
slowly with age in both sexes (ibid.; Maceira 2006), EF rises slightly.
"""

# mean at age 50 and SD, per sex; slope per year of age (applied to the mean).
# Keys are (phenotype, sex) with sex "M" or "F".
HEALTHY_INDEXED = {
    ("lv_edvi", "M"): (80.0, 12.0, -0.30),   # ml/m²
    ("lv_edvi", "F"): (72.0, 10.0, -0.25),
    ("lv_ef", "M"): (64.0, 5.5, 0.05),       # %
    ("lv_ef", "F"): (66.0, 5.5, 0.05),
    ("lv_massi", "M"): (62.0, 9.0, 0.0),     # g/m²
    ("lv_massi", "F"): (50.0, 7.5, 0.0),
    ("rv_edvi", "M"): (86.0, 13.0, -0.30),
    ("rv_edvi", "F"): (76.0, 11.0, -0.25),
    ("rv_ef", "M"): (57.0, 5.5, 0.05),
    ("rv_ef", "F"): (60.0, 5.5, 0.05),
    ("la_voli", "M"): (38.0, 9.0, 0.10),     # maximal LA volume, biplane
    ("la_voli", "F"): (38.0, 9.0, 0.10),
    ("ra_voli", "M"): (47.0, 11.0, 0.0),
    ("ra_voli", "F"): (41.0, 9.0, 0.0),
}

# Myocardial tissue (1.5 T): native T1 (MOLLI), T2 mapping and ECV of healthy myocardium.
# Thresholds are the ones used by Sahashi et al. to call a marker abnormal.
T1_NORMAL_MS = (1000.0, 28.0)
T2_NORMAL_MS = (50.0, 2.8)
ECV_NORMAL_PCT = (26.0, 2.6)
T1_ABNORMAL_MS = 1060.0
T2_ABNORMAL_MS = 58.0
ECV_ABNORMAL_PCT = 33.0

MYOCARDIAL_DENSITY_G_PER_ML = 1.05

# AHA 16-segment model (no apical cap). Segment k (1-based) → (ring, angle of segment centre in
# degrees, measured counter-clockwise in the SAX image from the patient's anterior direction).
SEGMENT_NAMES = (
    "basal anterior", "basal anteroseptal", "basal inferoseptal", "basal inferior",
    "basal inferolateral", "basal anterolateral",
    "mid anterior", "mid anteroseptal", "mid inferoseptal", "mid inferior",
    "mid inferolateral", "mid anterolateral",
    "apical anterior", "apical septal", "apical inferior", "apical lateral",
)

# Coronary territories (AHA 2002 segment assignment, typical dominance).
TERRITORY_SEGMENTS = {
    "lad": (1, 2, 7, 8, 13, 14),
    "rca": (3, 4, 9, 10, 15),
    "lcx": (5, 6, 11, 12, 16),
}
SEPTAL_SEGMENTS = (2, 3, 8, 9, 14)
