"""Attack files for issue 23 (hardening round 3) and the checks on the real binary (run.sh)."""
import hashlib, json, os, shutil, stat, struct, subprocess, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from testlib import attack_table  # noqa: E402

BIN, MODEL, WORK = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), Path(sys.argv[3])
TABLE_OUT = sys.argv[4] if len(sys.argv) > 4 else ""
ROOT = Path.cwd()
SAMPLE = ROOT / "sample-data"
FIXTURES = ROOT / "Tests/ECGFormatsTests/Fixtures"
T = WORK / "t"           # everything an attack may not change lives here
T.mkdir()
LIMIT_MB = 600
rows, failures = [], []
env = dict(os.environ, NO_COLOR="1")


def snapshot(exclude=()):
    """path → (type, mode, size, sha256) for every entry under T except the excluded paths."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(T, followlinks=False):
        d = Path(dirpath)
        for name in dirnames + filenames:
            p = d / name
            if any(str(p) == str(e) or str(p).startswith(str(e) + "/") for e in exclude):
                continue
            st = os.lstat(p)
            digest = ""
            if stat.S_ISREG(st.st_mode) and st.st_size < (8 << 20):
                digest = hashlib.sha256(p.read_bytes()).hexdigest()
            out[str(p)] = (stat.S_IFMT(st.st_mode), st.st_size if stat.S_ISREG(st.st_mode) else 0, digest)
    return out


def attack(item, name, args, reason=(), exit_nonzero=True, out=(), check=None, timeout=10, forbid=(), exit_any=False):
    """Runs one attack under /usr/bin/time -v. `reason`: strings the output must contain; `out`:
    paths it may change; `forbid`: strings it must not print; `check(stdout, stderr)` asserts more."""
    before = snapshot(out)
    start = time.monotonic()
    try:
        p = subprocess.run(["/usr/bin/time", "-v", BIN] + args, capture_output=True, timeout=timeout + 50, env=env, cwd=T)
        code, so, se = p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired:
        code, so, se = None, "", "timeout"
    secs = time.monotonic() - start
    rss = next((int(l.split(":")[1]) for l in se.splitlines() if "Maximum resident set size" in l), None)
    # CPU seconds (user + system): the 10 s bound is on the work done, which a shared, loaded CI
    # machine does not inflate (at load 20 on 2 cores, 2 s of CPU took 34 s); wall time over 60 s
    # (or 6× the bound) is reported as a hang.
    cpu = sum(float(l.split(":")[1]) for l in se.splitlines() if l.strip().startswith(("User time", "System time")))
    se = "\n".join(l for l in se.splitlines() if not l.startswith("\t") and "Command exited with non-zero status" not in l
                   and "Command terminated by signal" not in l)
    text = so + se
    problems = []
    if code is None:
        problems.append("timed out")
    elif code < 0 or code >= 128:
        problems.append(f"crashed (exit {code})")
    elif exit_any:
        pass
    elif exit_nonzero and code == 0:
        problems.append("exit 0")
    elif not exit_nonzero and code != 0:
        problems.append(f"exit {code}")
    if cpu > timeout:
        problems.append(f"used {cpu:.1f} s of CPU")
    if secs > max(60, 6 * timeout):
        problems.append(f"took {secs:.1f} s")
    if rss is not None and rss / 1024 > LIMIT_MB:
        problems.append(f"peak RSS {rss / 1024:.0f} MB")
    for s in reason:
        if s not in text:
            problems.append(f"'{s}' missing")
    for s in forbid:
        if s in text:
            problems.append(f"printed '{s}'")
    if "\x1b" in text or "\u202e" in text:
        problems.append("escape or bidi control printed")
    after = snapshot(out)
    if after != before:
        changed = sorted({k for k in set(before) | set(after) if before.get(k) != after.get(k)})
        problems.append("changed outside output: " + ", ".join(changed)[:200])
    if check and not problems:
        try:
            check(so, se)
        except (AssertionError, OSError, ValueError) as e:
            problems.append(str(e) or "check failed")
    lines_ = [l.strip() for l in (se + "\n" + so).splitlines() if l.strip()]
    first = next((l for l in lines_ if l.startswith(("Error", "error:"))), lines_[0] if lines_ else "")
    first = first.replace(str(T) + "/", "").replace("|", "\\|")[:110]
    peak = f"{rss / 1024:.0f} MB" if rss else "?"
    status = "ok" if not problems else "FAIL: " + "; ".join(problems)
    rows.append((item, name, f"exit {code}, {secs:.2f} s ({cpu:.2f} s CPU), {peak}", first, status))
    if problems:
        failures.append(f"[{item}] {name}: {'; '.join(problems)}\n  stdout: {so[-600:]}\n  stderr: {se[-600:]}")
    print(f"{'ok  ' if not problems else 'FAIL'} [{item}] {name} ({secs:.2f} s, {cpu:.2f} s CPU, {peak})", flush=True)


def w(path, data):
    p = T / path
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return p


def need(cond, message):
    if not cond:
        raise AssertionError(message)


def wfdb16(folder, name, samples, leads=("I", "II"), comments=()):
    """A format-16 WFDB record (gain 200/mV) of `samples` rows of digital values."""
    raw = b"".join(struct.pack("<" + "h" * len(row), *row) for row in samples)
    w(f"{folder}/{name}.dat", raw)
    lines = [f"{name} {len(leads)} 500 {len(samples)}"]
    for k, lead in enumerate(leads):
        checksum = struct.unpack("<h", struct.pack("<H", sum(row[k] for row in samples) & 0xFFFF))[0]
        lines.append(f"{name}.dat 16 200 16 0 {samples[0][k]} {checksum} 0 {lead}")
    lines += [f"# {c}" for c in comments]
    return w(f"{folder}/{name}.hea", "\n".join(lines) + "\n")


SNAP = ["--snapshot", "160x48", "--no-model"]
rows_ok = "\n".join(f"{0.1 * (k % 7):.1f},{0.2 * (k % 5):.1f}" for k in range(2500))

# ---- 1 a missing sample never crashes (TraceView SIGILL)
w("nan/empty-cell.csv", "# sampling_rate=500\nI,II\n0.1,0.2\n,0.3\n" + rows_ok + "\n")
wfdb16("nan", "gap", [(100, 200)] * 2000 + [(-32768, 200)] + [(100, -32768)] * 500)
w("nan/huge.csv", "# sampling_rate=500\nI,II\n" + "\n".join("3.4e38,-3.4e38" if k % 100 == 0 else "0.1,0.2" for k in range(2500)) + "\n")
w("nan/all-empty.csv", "# sampling_rate=500\nI,II\n" + "\n".join(",0.1" for _ in range(2500)) + "\n")
for args, label in [(["view", "nan/empty-cell.csv"] + SNAP, "CSV with one empty cell"),
                    (["view", "nan/gap.hea"] + SNAP, "WFDB −32768 samples (missing) in both leads"),
                    (["view", "nan/huge.csv"] + SNAP, "CSV of ±3.4e38 mV samples"),
                    (["view", "nan/all-empty.csv"] + SNAP, "CSV whose lead I is all empty cells"),
                    (["view", str(FIXTURES / "wfdb-complete/skew.hea")] + SNAP, "fixture skew.hea"),
                    (["view", str(FIXTURES / "wfdb-complete/varseg.hea")] + SNAP, "fixture varseg.hea"),
                    (["view", "nan/empty-cell.csv", "--snapshot", "200x60", "--model", MODEL, "--keys", "g"], "CSV with one empty cell, with the model and Grad-CAM")]:
    attack(1, f"view --snapshot: {label}", args, exit_nonzero=False, timeout=30 if "--model" in args else 10)
attack(1, "info: CSV with one empty cell", ["info", "nan/empty-cell.csv"], exit_nonzero=False)
# Two-lead files: the 12-lead model refuses them (recorded per file, exit 1); none may crash.
attack(1, "screen: folder of gap files", ["screen", "nan", "--out", str(T / "out1/r.jsonl"), "--model", MODEL, "--plain"],
       exit_any=True, out=[T / "out1"], timeout=60,
       check=lambda so, se: need(len(open(T / "out1/r.jsonl").readlines()) == 4, "not one result line per file"))

# ---- 2 metadata: ages that are not ages
w("age/nan.csv", "# sampling_rate=500 age=nan\nI,II\n" + rows_ok + "\n")
wfdb16("age", "nanw", [(100, 200)] * 2500, comments=["Age: nan", "Sex: F"])
ukb = (SAMPLE / "P05-hcm/ecg-ukb.xml").read_text()
need('<Age units="years">43</Age>' in ukb, "UKB sample without its age")
w("age/ukb.xml", ukb.replace('<Age units="years">43</Age>', '<Age units="years">1e999</Age>', 1))
muse = (SAMPLE / "P04-dcm-heart-failure/ecg-muse.xml").read_text()
need("<PatientAge>68</PatientAge>" in muse, "MUSE sample without its age")
w("age/muse.xml", muse.replace("<PatientAge>68</PatientAge>", "<PatientAge>1e999</PatientAge>", 1))
w("age/muse-nan.xml", muse.replace("<PatientAge>68</PatientAge>", "<PatientAge>nan</PatientAge>", 1))
def reads_cleanly(so, se):
    need("error:" not in (so + se).lower(), "the file was not read: " + (so + se)[:160])


for f in ["age/nan.csv", "age/nanw.hea", "age/ukb.xml", "age/muse.xml", "age/muse-nan.xml"]:
    attack(2, f"view --snapshot: age in {f}", ["view", f] + SNAP, exit_nonzero=False, check=reads_cleanly)
attack(2, "info --json: CSV age=nan", ["info", "age/nan.csv", "--json"], exit_nonzero=False,
       check=lambda so, se: need("nan" not in json.dumps(json.loads(so)).lower().replace("nan.csv", ""), "NaN in JSON"))
w("age12/nan.csv", "# age=nan\n" + (SAMPLE / "P06-rcm/ecg.csv").read_text())
attack(2, "export --include-phi: 12-lead CSV with age=nan", ["export", "age12/nan.csv", "--model", MODEL, "--out", str(T / "out2"), "--include-phi", "--frames", "ed-es"],
       exit_nonzero=False, out=[T / "out2"], timeout=120)

# A gap is measured around, not refused ("skipped by measurements with the gap stated"): a real
# 12-lead record (CinC 2021 E07500, 500 Hz) as CSV, then 0.4 s of V2 (4.00–4.40 s) left empty.
w("gapm/.keep", "")
subprocess.run([BIN, "convert", str(ROOT / "tests/records/cinc2021/E07500.hea"), "--to", "csv", "--out", str(T / "gapm/clean.csv")],
               check=True, capture_output=True, env=env)
clean_lines = (T / "gapm/clean.csv").read_text().splitlines()
head = next(i for i, l in enumerate(clean_lines) if not l.startswith("#"))
v2 = clean_lines[head].split(",").index("V2")
gap_lines = list(clean_lines)
for i in range(head + 1 + 2000, head + 1 + 2200):
    cells = gap_lines[i].split(",")
    cells[v2] = ""
    gap_lines[i] = ",".join(cells)
w("gapm/gap.csv", "\n".join(gap_lines) + "\n")
clean_m = json.loads(subprocess.run([BIN, "info", str(T / "gapm/clean.csv"), "--json", "--sampling-rate", "500"], check=True, capture_output=True, env=env).stdout)["measurements"]


def measured_around_gap(so, se):
    m = json.loads(so)["measurements"]
    need(m.get("note") == "measured around a 0.40 s gap in V2 at 4.00 s", f"gap not stated: note {m.get('note')!r}")
    for key, tol in [("heartRateBpm", 2), ("prMs", 10), ("qrsMs", 10), ("qtMs", 20), ("qtcBazettMs", 20),
                     ("pAxisDeg", 15), ("qrsAxisDeg", 15), ("tAxisDeg", 15)]:
        need(m[key] is not None and clean_m[key] is not None and abs(m[key] - clean_m[key]) <= tol,
             f"{key} {m[key]} vs {clean_m[key]} without the gap")


attack(1, "info --json: real 12-lead record with 0.4 s of V2 missing (measured around, stated)",
       ["info", "gapm/gap.csv", "--json", "--sampling-rate", "500"], exit_nonzero=False, check=measured_around_gap)

# ---- 3 writers on values beyond the format
(T / "out3").mkdir()
w("big/big.csv", "# sampling_rate=500\nI,II\n" + "\n".join("3.4e38,0.1" for _ in range(500)) + "\n")
attack(3, "convert --to wfdb of 3.4e38 mV samples", ["convert", "big/big.csv", "--to", "wfdb", "--out", str(T / "out3/big")],
       reason=["big/big.csv", "lead I sample 0", "32766"], out=[T / "out3"])
attack(3, "convert --to dicom of 3.4e38 mV samples", ["convert", "big/big.csv", "--to", "dicom", "--out", str(T / "out3/big.dcm")],
       reason=["big/big.csv", "lead I sample 0"], out=[T / "out3"])


def nan_roundtrip(fmt):
    def check(so, se):
        out = T / "out3" / ("gap.hea" if fmt == "wfdb" else "gap.dcm")
        p = subprocess.run([BIN, "convert", str(out), "--to", "csv"], capture_output=True, env=env, timeout=30)
        need(p.returncode == 0, f"read-back failed: {p.stderr.decode()[-200:]}")
        rows_ = p.stdout.decode().splitlines()[1:]
        need(rows_[1].split(",")[0] == "", f"the missing sample came back as {rows_[1]!r}")
        need(all(r.split(",")[0] != "" for r in rows_[2:10]), "present samples came back missing")
    return check


attack(3, "convert --to wfdb of a CSV with an empty cell: written as −32768, read back missing",
       ["convert", "nan/empty-cell.csv", "--to", "wfdb", "--out", str(T / "out3/gap")], exit_nonzero=False, out=[T / "out3"], check=nan_roundtrip("wfdb"))
attack(3, "convert --to dicom of a CSV with an empty cell: written as padding, read back missing",
       ["convert", "nan/empty-cell.csv", "--to", "dicom", "--out", str(T / "out3/gap.dcm")], exit_nonzero=False, out=[T / "out3"], check=nan_roundtrip("dicom"))

# ---- 4 nothing existing is lost
keep = T / "keep"
keep.mkdir()
shutil.copy(SAMPLE / "P06-rcm/ecg.csv", keep / "a.csv")
attack(4, "convert --to csv --out x.csv (first)", ["convert", "keep/a.csv", "--to", "csv", "--out", "keep/x.csv"], exit_nonzero=False, out=[keep / "x.csv"])
attack(4, "convert --to csv --out x.csv (again: replaced, not lost)", ["convert", "keep/a.csv", "--to", "csv", "--out", "keep/x.csv"],
       exit_nonzero=False, out=[keep / "x.csv"], check=lambda so, se: need((keep / "x.csv").stat().st_size > 1000, "x.csv lost"))
attack(4, "convert a file onto itself", ["convert", "keep/a.csv", "--to", "csv", "--out", "keep/a.csv"], reason=["input file"])
attack(4, "convert a file onto itself via ./", ["convert", "keep/a.csv", "--to", "csv", "--out", "./keep/../keep/a.csv"], reason=["input file"])
for n in (1, 2):
    attack(4, f"convert --to wfdb twice ({n}): .hea and .dat both present", ["convert", "keep/a.csv", "--to", "wfdb", "--out", "keep/w"],
           exit_nonzero=False, out=[keep / "w.hea", keep / "w.dat"],
           check=lambda so, se: need((keep / "w.hea").exists() and (keep / "w.dat").exists(), "pair incomplete"))
attack(4, "convert a WFDB record onto its own .dat", ["convert", "keep/w.hea", "--to", "wfdb", "--out", "keep/w"], reason=["input file"])
ro = T / "ro"
ro.mkdir()
shutil.copy(keep / "x.csv", ro / "x.csv")
ro.chmod(0o555)
if os.geteuid() != 0:
    attack(4, "convert --out into a read-only folder: the old file stays", ["convert", "keep/a.csv", "--to", "csv", "--out", "ro/x.csv"],
           reason=["ro/x.csv"], check=lambda so, se: need((ro / "x.csv").stat().st_size > 1000, "x.csv lost"))
ro.chmod(0o755)

# ---- 5 a manifest's caseName cannot leave the output folder
victim = T / "victim"
victim.mkdir()
(victim / "precious.txt").write_text("precious\n")
exp = WORK / "exp"
p = subprocess.run([BIN, "export", str(SAMPLE / "P06-rcm/ecg.csv"), "--model", MODEL, "--out", str(exp), "--frames", "ed-es"],
                   capture_output=True, env=env, timeout=300)
manifests = list(exp.glob("*/manifest.json"))
if manifests:
    m = json.loads(manifests[0].read_text())
    for bad in ["./../victim", "../victim", "/tmp", "..", "a/b"]:
        m["caseName"] = bad
        mp = w(f"man/{bad.replace('/', '_')}.json", json.dumps(m))
        attack(5, f"export --from-manifest with caseName {bad!r}", ["export", "--from-manifest", str(mp), "--out", str(T / "out5"), "--model", MODEL],
               reason=["caseName"], out=[T / "out5"], timeout=60)
else:
    failures.append("[5] could not make an export to take a manifest from: " + p.stderr.decode()[-300:])

# ---- 6 work bounded by the request
seg = T / "seg"
seg.mkdir()
with open(seg / "big.dat", "wb") as f:
    f.truncate(1 << 30)
(seg / "s.hea").write_text("s 1 500 1000\nbig.dat 16 200 16 0 0 0 0 I\n")
(seg / "multi.hea").write_text("multi/1000 1 500 1000000\n" + "s 1000\n" * 1000)
attack(6, "1,000 segments naming one sparse 1 GB file: info", ["info", "seg/multi.hea"], exit_nonzero=False)
attack(6, "1,000 segments naming one sparse 1 GB file: view", ["view", "seg/multi.hea"] + SNAP, exit_nonzero=False)
many = T / "many"
many.mkdir()
for k in range(256):
    with open(many / f"s{k}.dat", "wb") as f:
        f.truncate(200 << 20)
(many / "r.hea").write_text(f"r 256 500 100000000\n" + "".join(f"s{k}.dat 16 200 16 0 0 0 0 L{k}\n" for k in range(256)))
attack(6, "256 signals each in its own 200 MB sparse file: info", ["info", "many/r.hea"], reason=["many/r.hea", "limit"])
w("xml/attrs.xml", "<?xml version=\"1.0\"?>\n<RestingECG " + " ".join(f"a{k}=\"1\"" for k in range(1_000_000)) + "/>\n")
attack(6, "1 M attributes on one XML element", ["info", "xml/attrs.xml"], reason=["xml/attrs.xml", "attributes"])
w("prep/m.csv", "subject,ecg,split," + ",".join(f"label:x{k}" for k in range(300_000)) + "\n")
attack(6, "prepare with 300 k label columns", ["prepare", "prep/m.csv", "--out", str(T / "out6"), "--model", MODEL],
       reason=["prep/m.csv", "columns"], out=[T / "out6"])

# ---- 7 memory bounded for any input and any CLI number
fmt = T / "fmt80"
fmt.mkdir()
with open(fmt / "big.dat", "wb") as f:
    f.truncate(1 << 30)
(fmt / "r.hea").write_text("r 256 1\n" + "".join(f"big.dat 80x1000 200 8 0 0 0 0 L{k}\n" for k in range(256)))
attack(7, "256 signals in format 80x1000 on a 1 GiB sparse file: info", ["info", "fmt80/r.hea"], exit_nonzero=False, timeout=30,
       check=lambda so, se: None)
attack(7, "… the same: screen (the model then refuses the unnamed leads, recorded)", ["screen", "fmt80", "--out", str(T / "out7/r.jsonl"), "--model", MODEL, "--plain"],
       exit_any=True, out=[T / "out7"], timeout=60,
       check=lambda so, se: need(len(open(T / "out7/r.jsonl").readlines()) == 1, "no result line"))
# 8 M annotations of 2 bytes each (code 1, increment 1).
wfdb16("atr", "r", [(100, 200)] * 5000)
w("atr/r.atr", struct.pack("<H", (1 << 10) | 1) * 8_000_000 + b"\0\0")
attack(7, "8 M-annotation .atr beside a record: view", ["view", "atr/r.hea"] + SNAP, exit_nonzero=False, timeout=30)
attack(7, "view --snapshot 40000x40000", ["view", str(SAMPLE / "P06-rcm/ecg.csv"), "--snapshot", "40000x40000", "--no-model"], reason=["--snapshot"])
attack(7, "bench --batch 100000000", ["bench", "--model", MODEL, "--batch", "100000000"], reason=["--batch"])
attack(7, "bench --frames 100000000", ["bench", "--model", MODEL, "--frames", "100000000"], reason=["--frames"])
attack(7, "view --benchmark --frames 100000000", ["view", str(SAMPLE / "P06-rcm/ecg.csv"), "--benchmark", "--frames", "100000000", "--no-model"], reason=["--frames"])
attack(7, "study report --resamples 10^12", ["study", "report", "--db", "none.db", "--out", "r", "--resamples", "1000000000000"], reason=["--resamples"])

# ---- 8 terminal injection through a bundle manifest; 11 duplicate output ids
def bundle(name, change):
    d = T / "bundles" / name
    shutil.copytree(MODEL, d)
    m = json.loads((d / "manifest.json").read_text())
    change(m)
    (d / "manifest.json").write_text(json.dumps(m))
    return str(d)


b_id = bundle("id", lambda m: m.update(id="demo\x1b]0;pwned\x07\x1b[2J"))
b_disc = bundle("disc", lambda m: m.update(disclaimer="demo \x1b]0;pwned\x07\x1b[2J \u202etxt.exe", synthetic=True))
b_dup = bundle("dup", lambda m: m["heads"][0]["outputs"].append(dict(m["heads"][0]["outputs"][0])))
one = T / "one"
one.mkdir()
shutil.copy(SAMPLE / "P06-rcm/ecg.csv", one / "a.csv")
for b, label, reason in [(b_id, "id with ESC]0;…BEL and ESC[2J", "control"), (b_dup, "two outputs with one id", "unique")]:
    attack(8 if b == b_id else 11, f"screen with a bundle whose {label}", ["screen", "one", "--out", str(T / "out8/r.jsonl"), "--model", b, "--plain"],
           reason=[reason], out=[T / "out8"], timeout=60)
attack(8, "export with a bundle whose disclaimer holds ESC and U+202E", ["export", "one/a.csv", "--out", str(T / "out8/e"), "--model", b_disc, "--frames", "ed-es"],
       exit_nonzero=False, out=[T / "out8"], timeout=120)
attack(8, "embed with a bundle whose id holds ESC", ["embed", "one", "--out", str(T / "out8/emb.csv"), "--model", b_id], reason=["control"], out=[T / "out8"], timeout=60)

# ---- 9 a study error shown to the reader names the case number, never the path
st = T / "study"
(st / "P06-rcm").mkdir(parents=True)
shutil.copy(SAMPLE / "P06-rcm/ecg.csv", st / "P06-rcm/ecg.csv")
(st / "study.json").write_text(json.dumps({
    "format": "ecg2cmr-study/1", "id": "h3", "title": "h3", "seed": 1, "questions": {"finding": "Finding?", "note": False}, "roles": [],
    "stages": [{"id": "ecg-only", "title": "ECG only", "shows": ["traces"]}],
    "cases": [{"id": "C1", "ecg": str(st / "P06-rcm/ecg.csv"), "truth": {"finding": True}}]}))
subprocess.run([BIN, "study", "init", str(st / "study.json"), "--db", str(st / "s.db"), "--operator", "op"], capture_output=True, env=env, check=True)
subprocess.run([BIN, "study", "add-reader", "--db", str(st / "s.db"), "--id", "R1", "--name", "R", "--role", "reader", "--operator", "op"],
               capture_output=True, env=env, check=True)
(st / "P06-rcm/ecg.csv").write_text("not an ECG\n")
attack(9, "study run at a case whose ECG cannot be read", ["study", "run", "--db", str(st / "s.db"), "--reader", "R1", "--headless"],
       reason=["case 1"], forbid=["P06-rcm", "rcm"], out=[st])

# ---- 10 written files corrupted by names; the DICOM padding value
(T / "out10").mkdir()
dcm = T / "dcm"
dcm.mkdir()
subprocess.run([BIN, "convert", str(SAMPLE / "P06-rcm/ecg.csv"), "--to", "dicom", "--out", str(dcm / "a.dcm")], capture_output=True, env=env, check=True)
raw = (dcm / "a.dcm").read_bytes()
need(b"Lead I\x00" in raw or b"Lead I " in raw or b"Lead I" in raw, "no 'Lead I' meaning in our DICOM")
(dcm / "cr.dcm").write_bytes(raw.replace(b"Lead V1", b"V\r# Age", 1))
(dcm / "ls.dcm").write_bytes(raw.replace(b"Lead V1", "V1\u2028xy".encode(), 1))   # same length: 7 bytes
(dcm / "comma.dcm").write_bytes(raw.replace(b"Lead V1", b"V1, che", 1))


def hea_lines(name, nsig):
    def check(so, se):
        lines = (T / "out10" / f"{name}.hea").read_text().split("\n")
        body = [l for l in lines if l and not l.startswith("#")]
        need(len(body) == 1 + nsig, f"header has {len(body)} non-comment lines, expected {1 + nsig}")
        need(all("\u2028" not in l and "\r" not in l for l in lines), "line break in a header line")
        p = subprocess.run([BIN, "info", str(T / "out10" / f"{name}.hea")], capture_output=True, env=env, timeout=30)
        need(p.returncode == 0, "our reader refuses the written record")
    return check


nsig = int(subprocess.run([BIN, "info", str(dcm / "a.dcm"), "--json"], capture_output=True, env=env).stdout and
           len(json.loads(subprocess.run([BIN, "info", str(dcm / "a.dcm"), "--json"], capture_output=True, env=env).stdout)["leads"]) or 12)
attack(10, "DICOM lead meaning with CR → convert --to wfdb", ["convert", "dcm/cr.dcm", "--to", "wfdb", "--out", str(T / "out10/cr")],
       exit_nonzero=False, out=[T / "out10"], check=hea_lines("cr", nsig))
attack(10, "DICOM lead meaning with U+2028 → convert --to wfdb", ["convert", "dcm/ls.dcm", "--to", "wfdb", "--out", str(T / "out10/ls")],
       exit_nonzero=False, out=[T / "out10"], check=hea_lines("ls", nsig))


def csv_reads_back(so, se):
    p = subprocess.run([BIN, "info", str(T / "out10/comma.csv")], capture_output=True, env=env, timeout=30)
    need(p.returncode == 0, "our reader refuses the written CSV: " + p.stderr.decode()[-200:])


attack(10, "DICOM lead meaning with a comma → convert --to csv reads back", ["convert", "dcm/comma.dcm", "--to", "csv", "--rate-comment", "--out", str(T / "out10/comma.csv")],
       exit_nonzero=False, out=[T / "out10"], check=csv_reads_back)

# ---- 12 minor
rtl = T / "rtl"
rtl.mkdir()
shutil.copy(SAMPLE / "P06-rcm/ecg.csv", rtl / "a\u202egpj.csv")
attack(12, "file name with U+202E in the TUI header", ["view", str(rtl / "a\u202egpj.csv")] + SNAP, exit_nonzero=False)
ros = T / "rostudy"
shutil.copytree(st, ros)
(ros / "s.db").chmod(0o444)
ros.chmod(0o555)
if os.geteuid() != 0:
    attack(12, "study status on a read-only database", ["study", "status", "--db", str(ros / "s.db")], exit_nonzero=False)
ros.chmod(0o755)
foreign = w("foreign/notes.txt", "my notes\n")
attack(12, "report --out onto a foreign file", ["report", str(SAMPLE / "P06-rcm/ecg.csv"), "--model", MODEL, "--out", str(foreign)],
       reason=["notes.txt"], timeout=60)
foreign_csv = w("foreign/notes.csv", "my,notes\n1,2\n")
attack(12, "embed --out onto a foreign CSV", ["embed", "one", "--model", MODEL, "--out", str(foreign_csv)], reason=["notes.csv"], timeout=60)

# ---- table
attack_table("hostile-3", "exit, time (CPU), peak RSS", rows, failures, TABLE_OUT)
