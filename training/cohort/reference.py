"""Reference values the cohort is built from.

docs/synthetic-cohort.md ("Healthy phenotypes by age and sex") has the table with the source of
every number, what it was checked against and what could not be checked. In short:

* LV EDV index and LV EF: the adult bSSFP values of Kawel-Boehm et al., J Cardiovasc Magn Reson
  2015;17:29 (carried over into the 2020 update, JCMR 2020;22:87), as reproduced in Table 3 of
  Cardiovasc Diagn Ther 2020;10(6):1918-1945 (PMC7758747). The original table was not readable.
* LV mass index and RV EDV index: the SSFP values of Alfakih et al., J Magn Reson Imaging
  2003;17:323-329 (abstract, PubMed 12594722).
* RV EF: derived from the mean RV EDV and ESV of Hudsmith et al., JCMR 2005;7:775 (abstract:
  men 190/78 ml → 59 %, women 148/56 ml → 62 %); the SD is not verified.
* LA and RA volumes: approximate, NOT verified against a published table.
* Age slopes: the directions follow the literature (indexed LV and RV volumes fall with age, EF
  rises, indexed LV mass does not change: Chuang 2014, Maceira 2006; LA volume is not associated
  with age: Maceira 2010). The sizes of the slopes are not verified.

A pooled 20-80-year reference is taken as the value at age 50.
"""

# mean at age 50 and SD, per sex; slope per year of age (applied to the mean).
# Keys are (phenotype, sex) with sex "M" or "F".
HEALTHY_INDEXED = {
    ("lv_edvi", "M"): (81.0, 12.0, -0.30),   # ml/m²; Kawel-Boehm 2015 (via PMC7758747 Table 3)
    ("lv_edvi", "F"): (76.0, 10.0, -0.25),
    ("lv_ef", "M"): (67.0, 5.0, 0.05),       # %; Kawel-Boehm 2015 (via PMC7758747 Table 3)
    ("lv_ef", "F"): (67.0, 5.0, 0.05),
    ("lv_massi", "M"): (64.7, 9.3, 0.0),     # g/m²; Alfakih 2003, SSFP
    ("lv_massi", "F"): (52.0, 7.4, 0.0),
    ("rv_edvi", "M"): (86.2, 14.1, -0.30),   # ml/m²; Alfakih 2003, SSFP
    ("rv_edvi", "F"): (75.2, 13.8, -0.25),
    ("rv_ef", "M"): (59.0, 5.5, 0.05),       # %; Hudsmith 2005 mean EDV/ESV (EF of the means); SD not verified
    ("rv_ef", "F"): (62.0, 5.5, 0.05),
    ("la_voli", "M"): (38.0, 9.0, 0.0),      # maximal LA volume, biplane; approximate, not verified
    ("la_voli", "F"): (38.0, 9.0, 0.0),      # no age slope (Maceira 2010)
    ("ra_voli", "M"): (47.0, 11.0, 0.0),     # approximate, not verified
    ("ra_voli", "F"): (41.0, 9.0, 0.0),
}

# Myocardial tissue (1.5 T): native T1 (MOLLI), T2 mapping and ECV of healthy myocardium, as
# (mean, SD) of the men; state.py adds a small offset for women.
# T1: not taken from one study; it lies between the two 1.5 T MOLLI clusters of a pooled analysis
#     of 76 reports (958 ± 16 ms and 1027 ± 19 ms) and next to 995.8 ± 30.9 ms (Granitz 2019).
# T2: pooled 1.5 T mean of 52 ms (Hanson et al., Radiology 2020;297:344-351, 42 studies);
#     SD 2.8 ms from Granitz et al., Wien Klin Wochenschr 2019 (55.8 ± 2.8 ms, GraSE, 1.5 T).
# ECV: 0.25 ± 0.04 at 1.5 T in healthy controls (International T1 Multicenter CMR study, JCMR 2014,
#      doi:10.1186/s12968-014-0069-x; native T1 there was 950 ± 21 ms on Philips MOLLI).
# Thresholds are the ones used by Sahashi et al. to call a marker abnormal.
T1_NORMAL_MS = (1000.0, 28.0)
T2_NORMAL_MS = (52.0, 2.8)
ECV_NORMAL_PCT = (25.0, 4.0)
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
