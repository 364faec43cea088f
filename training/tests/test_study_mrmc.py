"""End to end: the demo reader study with two readers over two stages, answered through the real
`ecg2cmr study run --headless`, then `study report` (MRMC section and mrmc.csv), `study export`
in both formats, and `study mrmc` on the exported file (same F as the report) and on bad input.

The MRMC numbers themselves are checked against MRMCaov in Tests/ReaderStudyTests/MRMCTests.swift;
here the point is the wiring: what an operator runs, what lands in the files.
"""
import csv
import json
import subprocess
from pathlib import Path

import pytest

from ecg2cmr_binary import find_ecg2cmr

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "sample-data" / "studies" / "demo-cardiomyopathy.json"


def run(binary, *args, stdin=None, check=True):
    result = subprocess.run([str(binary), *args], input=stdin, capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, f"{args}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    return result


def answers(reader_index, cases):
    """Keys for a whole stage: a call and a confidence per case (varied so ratings discriminate)."""
    keys = []
    for p in range(1, cases + 1):
        keys += ["y" if (p + reader_index) % 3 else "n", str((p * (reader_index + 2)) % 5 + 1), "enter", "enter"]
    return "\n".join(keys) + "\n"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    binary = find_ecg2cmr()
    if binary is None:
        pytest.skip("ecg2cmr is not built (swift build) — scripts/test builds it first")
    work = tmp_path_factory.mktemp("mrmc")
    definition = json.loads(DEMO.read_text())
    base = DEMO.parent
    # Two stages that need no model: ECG only, then ECG + real CMR (paths made absolute).
    definition["stages"] = [s for s in definition["stages"] if s["id"] in ("ecg-only", "ecg+real-cmr")]
    definition.pop("model", None)
    for c in definition["cases"]:
        for key in ("ecg", "realCMR"):  # paths are relative to the definition, which moves here
            if isinstance(c.get(key), str) and not Path(c[key]).is_absolute():
                c[key] = str((base / c[key]).resolve())
    path = work / "study.json"
    path.write_text(json.dumps(definition))
    db = work / "study.db"
    run(binary, "study", "init", str(path), "--db", str(db), "--operator", "pytest")
    n = len(definition["cases"])
    for i, reader in enumerate(["R1", "R2"]):
        run(binary, "study", "add-reader", "--db", str(db), "--id", reader, "--name", reader, "--role", definition["roles"][0] if definition.get("roles") else "reader", "--operator", "pytest")
        out = run(binary, "study", "run", "--db", str(db), "--reader", reader, "--stage", "ecg-only", "--headless", stdin=answers(i, n)).stdout
        assert "finished" in out, out
        out = run(binary, "study", "run", "--db", str(db), "--reader", reader, "--stage", "ecg+real-cmr", "--headless",
                  "--override-washout", "pytest: end-to-end test", "--operator", "pytest", stdin=answers(i + 2, n)).stdout
        assert "finished" in out, out
    return binary, work, db, n


def test_report_writes_the_mrmc_section(study):
    binary, work, db, n = study
    out = work / "report"
    run(binary, "study", "report", "--db", str(db), "--out", str(out), "--no-model", "--resamples", "200")
    md = (out / "report.md").read_text()
    assert "## Multi-reader multi-case analysis" in md
    assert "random readers, random cases, jackknife covariance, Hillis denominator df" in md
    assert "ecg-only − ecg+real-cmr" in md
    assert "## Agreement between readers and time per case" in md
    rows = list(csv.DictReader((out / "mrmc.csv").open()))
    assert {r["metric"] for r in rows} == {"empirical_auc", "binary_sens", "binary_spec"}
    rows = [r for r in rows if r["metric"] == "empirical_auc"]
    readers = [r for r in rows if r["section"] == "reader"]
    assert len(readers) == 4 and {r["reader"] for r in readers} == {"R1", "R2"}
    metrics = {(r["reader"], r["stage"]): r for r in csv.DictReader((out / "metrics.csv").open())}
    for r in readers:  # the MRMC reader AUC is the report's per-reader AUC
        assert abs(float(r["estimate"]) - float(metrics[(r["reader"], r["treatment"])]["auc"])) < 5e-5
    assert any(r["section"] == "difference" for r in rows)
    assert "nan" not in (out / "mrmc.csv").read_text().lower()


def test_export_then_mrmc_gives_the_report_analysis(study):
    binary, work, db, n = study
    exported = work / "ratings.csv"
    run(binary, "study", "export", "--db", str(db), "--format", "mrmcaov", "--out", str(exported))
    rows = list(csv.DictReader(exported.open()))
    assert len(rows) == 2 * 2 * n and set(rows[0]) == {"reader", "treatment", "case", "truth", "rating"}
    result = json.loads(run(binary, "study", "mrmc", "--ratings", str(exported), "--json").stdout)
    assert result["treatments"] == ["ecg-only", "ecg+real-cmr"] and result["readers"] == ["R1", "R2"]
    if not (work / "report" / "mrmc.csv").exists():
        run(binary, "study", "report", "--db", str(db), "--out", str(work / "report"), "--no-model", "--resamples", "200")
    report = {r["section"]: r for r in csv.DictReader((work / "report" / "mrmc.csv").open()) if r["metric"] == "empirical_auc"}
    assert abs(float(report["global_test_F"]["estimate"]) - result["globalTest"]["value"]) < 1e-9
    imrmc = work / "ratings.imrmc"
    run(binary, "study", "export", "--db", str(db), "--format", "imrmc", "--out", str(imrmc))
    text = imrmc.read_text()
    assert "NR: 2" in text and "NM: 2" in text and "BEGIN DATA:" in text
    data = text.split("BEGIN DATA:\n", 1)[1].strip().splitlines()
    assert sum(1 for line in data if line.startswith("-1,")) == n and len(data) == n + 2 * 2 * n


def test_mrmc_bad_input_is_a_clear_error(study, tmp_path):
    binary = study[0]
    cases = [("R1", "A", "1", 1, 5), ("R1", "A", "2", 0, 1), ("R1", "B", "1", 1, 4), ("R1", "B", "2", 0, 2),
             ("R2", "A", "1", 1, 3), ("R2", "A", "2", 0, 2), ("R2", "B", "1", 1, 5)]  # R2 never read case 2 in B
    bad = tmp_path / "gap.csv"
    bad.write_text("reader,modality,case,truth,rating\n" + "".join(f"{r},{t},{c},{y},{s}\n" for r, t, c, y, s in cases))
    res = run(binary, "study", "mrmc", "--ratings", str(bad), check=False)
    assert res.returncode != 0
    assert "reader 'R2' has no rating of case '2' in treatment 'B'" in res.stderr and str(bad) in res.stderr
    one_class = tmp_path / "positives.csv"
    one_class.write_text("reader,treatment,case,truth,rating\nR1,A,1,1,3\nR1,B,1,1,4\nR2,A,1,1,2\nR2,B,1,1,5\n")
    res = run(binary, "study", "mrmc", "--ratings", str(one_class), check=False)
    assert res.returncode != 0 and "every case is positive" in res.stderr
    garbage = tmp_path / "garbage.csv"
    garbage.write_text("reader,treatment,case,truth,rating\nR1,A,1,maybe,3\n")
    res = run(binary, "study", "mrmc", "--ratings", str(garbage), check=False)
    assert res.returncode != 0 and "line 2: truth 'maybe' is not 0 or 1" in res.stderr


def test_mrmc_on_nested_and_partially_paired_files(tmp_path):
    """`study mrmc` on MRMCaov's Kundel data: the screen-film vs soft-copy pair (separate patients:
    cases nested within treatments) detected and declared, the file as shipped (partially paired),
    and the refusals (a declared design the cases contradict, DeLong without a factorial design)."""
    binary = find_ecg2cmr()
    if binary is None:
        pytest.skip("ecg2cmr is not built (swift build) — scripts/test builds it first")
    fixtures = ROOT / "Tests" / "ReaderStudyTests" / "Fixtures" / "mrmc"
    kundel = fixtures / "Kundel.csv"
    reference = json.loads((fixtures / "mrmcaov-reference.json").read_text())["analyses"]
    with kundel.open(newline="") as f:
        rows = list(csv.reader(f))
    pair = tmp_path / "screen-film-vs-soft-copy.csv"
    with pair.open("w", newline="") as f:
        csv.writer(f).writerows([rows[0]] + [r for r in rows[1:] if r[1] in ("1", "2")])

    for design_args in ([], ["--design", "nested"]):
        result = json.loads(run(binary, "study", "mrmc", "--ratings", str(pair), "--json", *design_args).stdout)
        assert result["design"] == "cases nested within treatments"
        assert result["components"]["cov1"] == 0 and result["components"]["cov3"] == 0
        expected = next(a for a in reference if a["name"] == "Kundel 1 vs 2: empirical AUC, jackknife covariance, random readers and cases")
        for key in ("value", "df2", "p"):
            assert result["globalTest"][key] == pytest.approx(float(expected["global"][key]), rel=1e-9)
    text = run(binary, "study", "mrmc", "--ratings", str(pair), "--cov", "unbiased").stdout
    assert "cases nested within treatments" in text

    shipped = json.loads(run(binary, "study", "mrmc", "--ratings", str(kundel), "--json").stdout)
    assert shipped["design"] == "partially paired" and shipped["treatments"] == ["1", "2", "3"]

    nested = run(binary, "study", "mrmc", "--ratings", str(kundel), "--design", "nested", check=False)
    assert nested.returncode != 0 and "case '96' is read in treatments '2' and '3'" in nested.stdout + nested.stderr
    delong = run(binary, "study", "mrmc", "--ratings", str(pair), "--cov", "delong", check=False)
    assert delong.returncode != 0 and "DeLong covariance needs every case read in every treatment" in delong.stdout + delong.stderr
    assert "nan" not in json.dumps(shipped).lower()
