"""Attack files for issue 15 and the checks on the real binary (driven by run.sh)."""
import hashlib, json, os, shutil, stat, subprocess, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from testlib import attack_table  # noqa: E402

BIN, MODEL, WORK = sys.argv[1], os.path.abspath(sys.argv[2]), Path(sys.argv[3])
TABLE_OUT = sys.argv[4] if len(sys.argv) > 4 else ""
ROOT = Path.cwd()
SAMPLE = ROOT / "sample-data"
T = WORK / "t"           # everything an attack may not change lives here
T.mkdir()
rows, failures = [], []
env = dict(os.environ, NO_COLOR="1")


def snapshot(exclude=()):
    """path → (type, mode, size, sha256) for every entry under T except the excluded folders."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(T, followlinks=False):
        d = Path(dirpath)
        if any(str(d).startswith(str(e)) for e in exclude):
            continue
        for name in dirnames + filenames:
            p = d / name
            if any(str(p).startswith(str(e)) for e in exclude):
                continue
            st = os.lstat(p)
            digest = ""
            if stat.S_ISREG(st.st_mode) and st.st_size < (8 << 20):
                digest = hashlib.sha256(p.read_bytes()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                digest = os.readlink(p)
            out[str(p)] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_size if not stat.S_ISDIR(st.st_mode) else 0, digest)
    return out


def run(args, timeout=10):
    start = time.monotonic()
    try:
        p = subprocess.run([BIN] + args, capture_output=True, timeout=timeout + 20, env=env, cwd=T)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"), time.monotonic() - start
    except subprocess.TimeoutExpired:
        return None, "", "timeout", time.monotonic() - start


def attack(item, name, args, names=(), reason=(), exit_nonzero=True, out=(), check=None, timeout=10):
    """Runs one attack; `names`/`reason`: strings the output must contain; `out`: paths it may change."""
    before = snapshot(out)
    code, so, se, secs = run(args, timeout)
    text = so + se
    problems = []
    if code is None:
        problems.append("timed out")
    elif code < 0 or code >= 128:
        problems.append(f"crashed (exit {code})")
    elif exit_nonzero and code == 0:
        problems.append("exit 0")
    if secs > timeout:
        problems.append(f"took {secs:.1f} s")
    for s in names:
        if s not in text:
            problems.append(f"file '{s}' not named")
    for s in reason:
        if s not in text:
            problems.append(f"reason '{s}' missing")
    if "\x1b" in text:
        problems.append("escape sequence printed")
    after = snapshot(out)
    if after != before:
        changed = sorted(set(before.items()) ^ set(after.items()))
        problems.append("changed outside output: " + ", ".join(sorted({c[0] for c in changed}))[:200])
    if check and not problems:
        try:
            check(so, se)
        except AssertionError as e:
            problems.append(str(e) or "check failed")
    lines_ = [l.strip() for l in (se + "\n" + so).splitlines() if l.strip()]
    first = next((l for l in lines_ if l.startswith(("Error", "error:", "failed:")) or "failed:" in l), lines_[0] if lines_ else "")
    first = first.replace(str(T) + "/", "").replace("|", "\\|")[:110]
    status = "ok" if not problems else "FAIL: " + "; ".join(problems)
    rows.append((item, name, f"exit {code}, {secs:.2f} s", first, status))
    if problems:
        failures.append(f"[{item}] {name}: {'; '.join(problems)}\n  stdout: {so[-400:]}\n  stderr: {se[-400:]}")
    print(f"{'ok  ' if not problems else 'FAIL'} [{item}] {name} ({secs:.2f} s)", flush=True)


def w(path, data):
    p = T / path
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return p


# ---- victims: files an attacker would like us to read or overwrite
victim = w("victim/secret.txt", "root:x:0:0:secret\n")
w("victim/precious.txt", "precious data\n")

# ---- 1 path traversal
w("trav/rel/rec.hea", "rec 1 500 9\n../../victim/secret.txt 80 200 8 0 0 0 0 I\n")
w("trav/abs/rec.hea", "rec 1 500 9\n/etc/passwd 80 200 8 0 0 0 0 I\n")
(T / "trav/link").mkdir(parents=True)
os.symlink(victim, T / "trav/link/rec.dat")
w("trav/link/rec.hea", "rec 1 500 9\nrec.dat 80 200 8 0 0 0 0 I\n")
attack(1, "WFDB header names ../../victim/secret.txt", ["info", "trav/rel/rec.hea"], ["trav/rel/rec.hea"], ["parent folder"])
attack(1, "WFDB header names /etc/passwd (convert)", ["convert", "trav/abs/rec.hea", "--to", "csv", "--out", str(T / "trav/out.csv")],
       ["trav/abs/rec.hea"], ["absolute path"])
attack(1, "WFDB signal file is a symlink leaving the folder", ["info", "trav/link/rec.hea"], ["trav/link/rec.hea"], ["symbolic link"])

# ---- 2 numeric conversions
w("num/rate.csv", "# sampling_rate=3.8e19\nI,II\n0.1,0.2\n0.2,0.1\n")
w("num/lowrate.csv", "# sampling_rate=0.01\nI,II\n0.1,0.2\n0.2,0.1\n")
w("num/inf.csv", "# sampling_rate=500\nI,II\n1e39,0\n0.1,0\n")
w("num/nul.csv", "# sampling_rate=500\nI,V\x001\n0.1,0.2\n0.2,0.1\n")
w("num/zero.dat", b"")
w("num/zero.hea", "zero 1 500\nzero.dat 16 200 16 0 0 0 0 I\n")
w("num/wfdbrate.dat", bytes(40))
w("num/wfdbrate.hea", "wfdbrate 1 5e6 10\nwfdbrate.dat 16 200 16 0 0 0 0 I\n")
muse = (SAMPLE / "P04-dcm-heart-failure/ecg-muse.xml").read_text().replace("<SampleExponent>0", "<SampleExponent>17")
w("num/muse-rate.xml", muse)
wide = "# sampling_rate=500\n" + ",".join(f"L{i}" for i in range(300)) + "\n" + ",".join("0" for _ in range(300)) + "\n"
w("num/leads300.csv", wide)
attack(2, "CSV sampling rate 3.8e19 Hz (was SIGILL)", ["info", "num/rate.csv"], ["num/rate.csv"], ["sampling rate"])
attack(2, "CSV sampling rate 0.01 Hz", ["info", "num/lowrate.csv"], ["num/lowrate.csv"], ["1 Hz – 100 kHz"])
attack(2, "WFDB sampling rate 5 MHz", ["info", "num/wfdbrate.hea"], ["num/wfdbrate.hea"], ["sampling rate"])
attack(2, "MUSE sampling rate 5e19 Hz (SampleExponent 17)", ["info", "num/muse-rate.xml"], ["num/muse-rate.xml"], ["sampling rate"])
attack(2, "CSV sample 1e39 (infinite as float32)", ["convert", "num/inf.csv", "--to", "csv", "--out", str(T / "num/inf-out.csv")],
       ["num/inf.csv"], ["32-bit"])
attack(2, "NUL byte in a lead name", ["info", "num/nul.csv"], ["num/nul.csv"], ["NUL"])
attack(2, "zero-sample WFDB record", ["info", "num/zero.hea"], ["num/zero.hea"], ["no samples"])
attack(2, "300 leads", ["info", "num/leads300.csv"], ["num/leads300.csv"], ["columns"])

batch = T / "batch"
batch.mkdir()
shutil.copy(SAMPLE / "P06-rcm/ecg.csv", batch / "good.csv")
shutil.copy(T / "num/rate.csv", batch / "rate.csv")
shutil.copy(T / "num/muse-rate.xml", batch / "muse-rate.xml")


def batch_check(so, se):
    rows_ = [json.loads(l) for l in open(T / "batch-out/results.jsonl")]
    by = {Path(r["file"]).name: r for r in rows_}
    assert len(rows_) == 3, f"{len(rows_)} result lines, expected 3"
    assert by["good.csv"]["status"] == "ok", "good file not screened"
    assert by["rate.csv"]["status"] == "error" and "sampling rate" in by["rate.csv"]["error"]["message"], "bad file not recorded"


attack(2, "screen: one hostile rate among good files", ["screen", str(batch), "--out", str(T / "batch-out/results.jsonl"), "--model", MODEL, "--plain"],
       ["rate.csv"], ["failed 2"], out=[T / "batch-out"], check=batch_check, timeout=30)
attack(2, "view --snapshot of that folder", ["view", str(batch), "--snapshot", "120x40", "--no-model"], [], [], exit_nonzero=False)

# ---- 3 screen --out clobbering
w("out3/notes.jsonl", "my notes\nsecond line without newline")
w("out3/sheet.csv", "name,phone\nann,123\n")
os.symlink(T / "victim/precious.txt", T / "out3/link.jsonl")
attack(3, "screen --out an existing notes file", ["screen", str(batch / "good.csv"), "--out", "out3/notes.jsonl", "--model", MODEL, "--plain"],
       ["out3/notes.jsonl"], ["not a result object"])
attack(3, "screen --out a foreign CSV", ["screen", str(batch / "good.csv"), "--out", "out3/sheet.csv", "--model", MODEL, "--plain"],
       ["out3/sheet.csv"], ["header row is not this tool's"])
attack(3, "screen --out a symlink to a precious file", ["screen", str(batch / "good.csv"), "--out", "out3/link.jsonl", "--model", MODEL, "--plain"],
       ["out3/link.jsonl"], ["symbolic link"])

# ---- 4 two concurrent screens on one output
many = T / "many"
many.mkdir()
singles = ["P06-rcm/ecg.csv", "P12-ischaemic-wma/ecg.csv", "P05-hcm/ecg-ukb.xml", "P04-dcm-heart-failure/ecg-muse.xml", "P02-anterior-mi/ecg-aecg.xml"]
for i in range(120):
    src = SAMPLE / singles[i % len(singles)]
    shutil.copy(src, many / f"e{i:03d}{src.suffix}")
outp = T / "out4/results.jsonl"
outp.parent.mkdir()
before4 = snapshot([T / "out4"])
start = time.monotonic()
a = subprocess.Popen([BIN, "screen", str(many), "--out", str(outp), "--model", MODEL, "--plain"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=T, env=env)
lock = Path(str(outp) + ".lock")
while time.monotonic() - start < 20 and not (lock.exists() and lock.read_text().strip()) and a.poll() is None:
    time.sleep(0.02)
b = subprocess.run([BIN, "screen", str(many), "--out", str(outp), "--model", MODEL, "--plain"], capture_output=True, cwd=T, env=env)
a_out, a_err = a.communicate(timeout=600)   # 120 files: slow on a loaded 2-core machine
c = subprocess.run([BIN, "screen", str(many), "--out", str(outp), "--model", MODEL, "--plain"], capture_output=True, cwd=T, env=env)
secs = time.monotonic() - start
files = [json.loads(l)["file"] for l in open(outp)]
berr = b.stderr.decode()
problems = []
if a.returncode != 0:
    problems.append(f"first run exit {a.returncode}")
if b.returncode == 0 and "skipped (already in" not in b.stdout.decode():
    problems.append("second run neither refused nor skipped")
if b.returncode != 0 and not ("in use by process" in berr and str(a.pid) in berr):
    problems.append("refusal does not name the holder PID: " + berr[-200:])
if len(files) != 120 or len(set(files)) != 120:
    problems.append(f"{len(files)} lines for {len(set(files))} files (want 120 × 1)")
if snapshot([T / "out4"]) != before4:
    problems.append("changed outside output")
rows.append((4, "two concurrent `screen` on one output, then a resume", f"second: exit {b.returncode}; {secs:.1f} s total",
             (berr.strip().splitlines() or ["(coordinated)"])[-1].replace(str(T) + "/", "")[:110],
             "ok (120 files, each once)" if not problems else "FAIL: " + "; ".join(problems)))
print(f"{'ok  ' if not problems else 'FAIL'} [4] concurrent screens ({secs:.1f} s)")
if problems:
    failures.append("[4] " + "; ".join(problems))

# ---- 5 size caps, bounded reads
big = T / "size/sparse-2g.bin"
big.parent.mkdir()
with open(big, "wb") as f:
    f.truncate((1 << 30) + 1)
os.symlink(big, T / "size/small.csv")
with open(T / "size/huge.dat", "wb") as f:   # signal files are read by window: the cap is the reader's 1 GiB
    f.truncate((1 << 30) + 1)
w("size/huge.hea", "huge 1 500\nhuge.dat 16 200 16 0 0 0 0 I\n")
CAP = 16 << 20   # ReaderLimits.maxSingleFileBytes: files read whole
with open(T / "size/zero.dcm", "wb") as f:
    f.truncate(CAP - 4096)
    f.seek(128)
    f.write(b"DICM")
with open(T / "size/oneline.csv", "wb") as f:
    chunk = b"I," * (1 << 20)
    for _ in range(7):
        f.write(chunk)
attack(5, "symlink to a 1 GiB+1 sparse file", ["info", "size/small.csv"], ["size/small.csv"], ["limit"])
attack(5, "header naming a 1 GiB+1 sparse .dat (screen)", ["screen", str(T / "size/huge.hea"), "--out", str(T / "out5/r.jsonl"), "--model", MODEL, "--plain"],
       ["huge.hea"], ["failed 1"], out=[T / "out5"],
       check=lambda so, se: None if "huge.dat" in open(T / "out5/r.jsonl").read() and "limit" in open(T / "out5/r.jsonl").read() else (_ for _ in ()).throw(AssertionError("cap reason not recorded")))
attack(5, "zero-filled 16 MB DICOM (just under the cap)", ["info", "size/zero.dcm"], ["size/zero.dcm"], ["appears twice"])
attack(5, "14 MB one-line CSV", ["info", "size/oneline.csv"], ["size/oneline.csv"], ["header line"])

# ---- 6 study --db on foreign files
w("db6/empty.db", b"")
w("db6/notes.db", "these are my notes " * 20)
os.chmod(T / "db6/empty.db", 0o644)
os.chmod(T / "db6/notes.db", 0o644)
os.symlink(T / "victim/precious.txt", T / "db6/link.db")
attack(6, "study status --db an empty file", ["study", "status", "--db", "db6/empty.db"], ["db6/empty.db"], ["empty file"])
attack(6, "study add-reader --db a text file", ["study", "add-reader", "--db", "db6/notes.db", "--id", "R1"], ["db6/notes.db"], ["not a SQLite database"])
attack(6, "study status --db a symlink to a foreign file", ["study", "status", "--db", "db6/link.db"], ["db6/link.db"], ["symbolic link"])

# ---- 7 export A/ecg.hea then B/ecg.hea into one folder
for folder, src in [("A", "P01-healthy"), ("B", "P09-atrial-fibrillation")]:
    for ext in ["hea", "dat"]:
        s = SAMPLE / src / f"ecg.{ext}"
        if s.exists():
            (T / "exp7" / folder).mkdir(parents=True, exist_ok=True)
            shutil.copy(s, T / "exp7" / folder / f"ecg.{ext}")
if not (T / "exp7/B/ecg.hea").exists():
    shutil.copytree(T / "exp7/A", T / "exp7/B", dirs_exist_ok=True)
    hea = (T / "exp7/B/ecg.hea").read_text().replace("\n", "\n# Note: another patient\n", 1)
    (T / "exp7/B/ecg.hea").write_text(hea)
ex = T / "exp7/E"
start = time.monotonic()
quick = ["--model", MODEL, "--frames", "ed-es", "--frame-count", "4", "--size", "64"]
r1 = subprocess.run([BIN, "export", str(T / "exp7/A/ecg.hea"), "--out", str(ex)] + quick, capture_output=True, cwd=T, env=env)
r2 = subprocess.run([BIN, "export", str(T / "exp7/B/ecg.hea"), "--out", str(ex)] + quick, capture_output=True, cwd=T, env=env)
cases = sorted(p.name for p in ex.iterdir() if p.is_dir() and not p.name.startswith(".")) if ex.exists() else []
manifests = [json.loads((ex / c / "manifest.json").read_text())["input"]["sha256"] for c in cases if (ex / c / "manifest.json").exists()]
ok7 = r1.returncode == 0 and r2.returncode == 0 and len(cases) == 2 and len(set(manifests)) == 2
rows.append((7, "export A/ecg.hea then B/ecg.hea into one folder", f"exit {r1.returncode}/{r2.returncode}, {time.monotonic() - start:.1f} s",
             "cases: " + ", ".join(cases), "ok (two cases, neither replaced)" if ok7 else "FAIL"))
print(f"{'ok  ' if ok7 else 'FAIL'} [7] export A then B")
if not ok7:
    failures.append(f"[7] cases {cases}; {r1.stderr.decode()[-300:]} {r2.stderr.decode()[-300:]}")

# ---- 8 terminal and spreadsheet injection
w("inj/esc.csv", "# sampling_rate=500\nI,\x1b]0;pwned\x07\x1b[2JV1\n0.1,0.2\n0.2,0.1\n0.1,0.2\n")
attack(8, "escape sequences in a lead name (info)", ["info", "inj/esc.csv"], [], [], exit_nonzero=False)
study = {"format": "ecg2cmr-study/1", "id": "inj", "title": "injection", "seed": 1, "questions": {"finding": "Finding?", "note": True},
         "roles": [], "stages": [{"id": "ecg-only", "title": "ECG only", "shows": ["traces"]}],
         "cases": [{"id": "C1", "ecg": str(SAMPLE / "P06-rcm/ecg.csv"), "truth": {"finding": True}}]}
w("inj/study.json", json.dumps(study))
subprocess.run([BIN, "study", "init", str(T / "inj/study.json"), "--db", str(T / "inj/study.db")], capture_output=True, cwd=T, env=env, check=True)
subprocess.run([BIN, "study", "add-reader", "--db", str(T / "inj/study.db"), "--id", "R1", "--name", "Dr \x1b]0;pwned\x07\x1b[2J\x1b[31mEvil"],
               capture_output=True, cwd=T, env=env, check=True)
attack(8, "escape sequences in a reader name (study status)", ["study", "status", "--db", "inj/study.db"], [], ["Evil"], exit_nonzero=False,
       out=[T / "inj"])
w("=HYPERLINK(x).csv", (SAMPLE / "P06-rcm/ecg.csv").read_text())


def csv_check(so, se):
    lines = open(T / "out8/r.csv").read().splitlines()
    assert any("'=HYPERLINK" in l for l in lines), "formula cell not neutralised"
    assert not any(cell.startswith(("=", "+", "@")) for l in lines for cell in l.split(",")), "formula cell in CSV"
    assert "'=HYPERLINK" not in open(T / "out8/r.csv").read().split("\n")[0], "header changed"


attack(8, "file named =HYPERLINK(x).csv in a screening CSV", ["screen", "=HYPERLINK(x).csv", "--out", str(T / "out8/r.csv"), "--model", MODEL, "--plain"],
       [], [], exit_nonzero=False, out=[T / "out8"], check=csv_check, timeout=20)

# ---- 9 misleading messages
os.mkfifo(T / "msg/pipe.csv") if (T / "msg").mkdir() is None else None
attack(9, "info on a FIFO", ["info", "msg/pipe.csv"], ["msg/pipe.csv"], ["not a regular file", "FIFO"])
attack(9, "info on /dev/zero", ["info", "/dev/zero"], ["/dev/zero"], ["character device"])
attack(9, "screen --out /dev/full", ["screen", str(batch / "good.csv"), "--out", "/dev/full", "--model", MODEL, "--plain"], ["/dev/full"], ["not a regular file"])
w("msg/badmodel/manifest.json", '{"format": "ecg2cmr-model/1", "id": "broken", "architecture": {"kind": "nonsense-architecture-with-a-long-name"}}')
attack(9, "view with a model that fails to load", ["view", str(batch / "good.csv"), "--snapshot", "80x24", "--model", str(T / "msg/badmodel")],
       [], ["note: no model loaded", "badmodel"], exit_nonzero=False)
attack(9, "unknown subcommand `ecg2cmr frobnicate`", ["frobnicate"], ["frobnicate"], ["unknown subcommand"])
# A full disk: a 64 KiB tmpfs (needs root; skipped otherwise).
full = T / "full"
full.mkdir()
mounted = os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(full)], capture_output=True).returncode == 0
if mounted:
    try:
        w("full/filler", bytes(60 * 1024 - 200)) if False else None
        with open(full / "filler", "wb") as f:
            try:
                f.write(bytes(64 * 1024))
            except OSError:
                pass
        attack(9, "screen --out on a full disk", ["screen", str(many), "--out", str(full / "r.jsonl"), "--model", MODEL, "--plain"],
               ["r.jsonl"], ["no space left"], out=[full], timeout=30)
    finally:
        subprocess.run(["umount", str(full)], capture_output=True)
else:
    rows.append((9, "screen --out on a full disk", "skipped", "needs root to mount a small tmpfs", "skipped"))

# ---- 10 (issue item 6) memory bounded for a 24-hour 12-lead record (format 16, 500 Hz: 1.04 GB of samples)
def holter_record(folder):
    """Tiles sample-data P01 (10 s, 12 leads, format 16) 8640 times; written in 12 MB blocks."""
    folder.mkdir(parents=True, exist_ok=True)
    src = SAMPLE / "P01-healthy"
    ten = (src / "ecg.dat").read_bytes()
    lines = (src / "ecg.hea").read_text().splitlines()
    signals = [l.split() for l in lines[1:13]]
    header = [f"holter 12 500 {5000 * 8640}"]
    # file format gain adcres adczero initval checksum blocksize name; the 16-bit checksum of 8640 copies.
    def checksum(c):
        v = (8640 * int(c)) % 65536
        return str(v - 65536 if v >= 32768 else v)
    header += [" ".join(["holter.dat"] + f[1:6] + [checksum(f[6]), "0", f[8]]) for f in signals]
    header += ["# synthetic 24-hour record for the memory check (hostile-2)"]
    (folder / "holter.hea").write_text("\n".join(header) + "\n")
    block = ten * 96
    with open(folder / "holter.dat", "wb") as f:
        for _ in range(8640 // 96):
            f.write(block)
    return folder / "holter.hea"


LIMIT_MB = 600
holter_dir = WORK / "holter"
holter = holter_record(holter_dir)
size_mb = (holter_dir / "holter.dat").stat().st_size / 1e6


def memory(name, args, check=None, timeout=180, what=None, exits=(0,)):
    start = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-v", BIN] + args, capture_output=True, timeout=timeout, env=env, cwd=T)
    secs = time.monotonic() - start
    so, se = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    rss = next((int(l.split(":")[1]) for l in se.splitlines() if "Maximum resident set size" in l), None)
    problems = []
    if p.returncode not in exits:
        problems.append(f"exit {p.returncode}: " + se[-300:])
    if rss is None:
        problems.append("no RSS reported by /usr/bin/time -v")
    elif rss / 1024 > LIMIT_MB:
        problems.append(f"peak RSS {rss / 1024:.0f} MB > {LIMIT_MB} MB")
    if check and not problems:
        try:
            check(so, se)
        except AssertionError as e:
            problems.append(str(e) or "check failed")
    peak = f"{rss / 1024:.0f} MB" if rss else "?"
    rows.append((10, f"{name} of " + (what or f"a 24-hour 12-lead record ({size_mb:.0f} MB format 16)"), f"exit {p.returncode}, {secs:.1f} s",
                 f"peak RSS {peak} (limit {LIMIT_MB} MB)", "ok" if not problems else "FAIL: " + "; ".join(problems)))
    print(f"{'ok  ' if not problems else 'FAIL'} [10] {name}: peak RSS {peak}, {secs:.1f} s", flush=True)
    if problems:
        failures.append(f"[10] {name}: {'; '.join(problems)}\n  stdout: {so[-400:]}")


def info_check(so, se):
    assert "86400.00 s" in so, "whole duration not reported"
    assert "Analysed" in so and "of 24:00:00" in so, "analysed window not named"
    assert "Heart rate" in so and "bpm" in so, "no heart rate from the window"


def holter_screen_check(so, se):
    r = json.loads(open(T / "out10/results.jsonl").readline())
    assert r["status"] == "ok", f"status {r['status']}: {r.get('error')}"
    assert abs(r["durationSeconds"] - 86400) < 1, "duration is not the whole record's"
    assert r["analysedWindow"]["durationSeconds"] == 10, "no 10 s analysed window"
    assert r.get("risks"), "no model output"


(T / "out10").mkdir()
try:
    memory("info", ["info", str(holter)], check=info_check)
    memory("view --snapshot", ["view", str(holter), "--snapshot", "160x48", "--model", MODEL],
           check=lambda so, se: None if "24:00:00" in so else (_ for _ in ()).throw(AssertionError("window not shown")))
    memory("screen", ["screen", str(holter_dir), "--out", str(T / "out10/results.jsonl"), "--model", MODEL, "--plain"],
           check=holter_screen_check)
finally:
    shutil.rmtree(holter_dir, ignore_errors=True)

# The formats read whole: the worst case the cap admits (two-lead CSV of zeros: 2 bytes a sample,
# four derived leads), alone in `info` and two at once in `screen --jobs 2`.
worst = WORK / "worst"
worst.mkdir()
rows_per_file = (CAP - 64) // 4
for name in ("a.csv", "b.csv"):
    with open(worst / name, "w") as f:
        f.write("# sampling_rate=500\nI,II\n")
        f.write("0,0\n" * rows_per_file)
try:
    memory("info", ["info", str(worst / "a.csv")], what="a 16 MB two-lead CSV (the cap; 8.4 M samples a lead)")
    memory("screen --jobs 2", ["screen", str(worst), "--jobs", "2", "--out", str(T / "out10/worst.jsonl"), "--model", MODEL, "--plain"],
           what="two 16 MB two-lead CSVs", exits=(0, 1),   # two leads: the model refuses them (no V1–V6), recorded
           check=lambda so, se: None if len(open(T / "out10/worst.jsonl").readlines()) == 2 else (_ for _ in ()).throw(AssertionError("not one line per file")))
finally:
    shutil.rmtree(worst, ignore_errors=True)

# ---- table
attack_table("hostile-2", "exit, time", rows, failures, TABLE_OUT)
