"""Black-box mutation fuzz of the ecg2cmr binary (issue 23), for CI: for SECONDS, mutate one of the
sample ECGs and the WFDB fixtures (bit flips, byte runs, truncation, and number swaps in text formats
to NaN, 1e999, 3.4e38, -32768, empty cells), then run `info`, `convert --to csv|wfdb|dicom` and
`view --snapshot` on it. A finding is a signal or exit ≥ 128 (a trap), a run using over 10 s of CPU
(wall time on a shared CI machine says little; 120 s of wall time is a hang), an escape
sequence on the terminal, or a file written outside the output folder. The random stream is seeded
(FUZZ_SEED), so a failure is reproducible; failing inputs are kept in FUZZ_KEEP when set.

  python3 tests/hostile-3/blackbox_fuzz.py BIN WORKDIR SECONDS
"""
import os, random, re, resource, shutil, subprocess, sys, time
from pathlib import Path

BIN, WORK, SECONDS = os.path.abspath(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
ROOT = Path.cwd()
rng = random.Random(int(os.environ.get("FUZZ_SEED", "23")))
keep = os.environ.get("FUZZ_KEEP")
env = dict(os.environ, NO_COLOR="1")
WORK.mkdir(parents=True, exist_ok=True)

seeds = []
for p in sorted((ROOT / "sample-data").glob("P*/ecg*")):
    if p.suffix in (".csv", ".xml", ".dcm", ".scp"):
        seeds.append((p.name, p.read_bytes(), None))
    elif p.suffix == ".hea":
        seeds.append((p.name, p.read_bytes(), (p.with_suffix(".dat").name, p.with_suffix(".dat").read_bytes())))
fixtures = ROOT / "Tests/ECGFormatsTests/Fixtures"
for hea in sorted(fixtures.glob("wfdb-complete/*.hea"))[:12]:
    dat = hea.with_suffix(".dat")
    if dat.exists() and dat.stat().st_size < (1 << 20):
        seeds.append((hea.name, hea.read_bytes(), (dat.name, dat.read_bytes())))
assert seeds, "no seed files"

NUMBER = re.compile(rb"-?\d+(\.\d+)?(e-?\d+)?")
SWAPS = [b"nan", b"NaN", b"1e999", b"3.4e38", b"-3.4e38", b"-32768", b"", b"0", b"1e-320", b"99999999999999999999", b"-1", b"inf"]


def mutate(data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.random()
        if kind < 0.35 and data.strip()[:1] not in (b"\x00",) and b"\n" in data[:200]:
            matches = list(NUMBER.finditer(bytes(data)))
            if matches:
                m = rng.choice(matches)
                data[m.start():m.end()] = rng.choice(SWAPS)
                continue
        if kind < 0.6 and data:
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(len(data))
                data[i] ^= 1 << rng.randrange(8)
        elif kind < 0.75 and data:
            i = rng.randrange(len(data))
            data[i:i] = bytes([rng.choice([0, 0xFF, 0x80, 0x7F, ord(","), ord("\n"), 0x1B])]) * rng.randint(1, 64)
        elif kind < 0.9 and len(data) > 8:
            del data[rng.randrange(len(data) // 2, len(data)):]
        elif data:
            i, j = sorted(rng.randrange(len(data)) for _ in range(2))
            data[i:j] = bytes(rng.randrange(256) for _ in range(min(j - i, 256)))
    return bytes(data)


def cpu_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(args):
    """(exit code or None on a 120 s wall-clock timeout, output, CPU seconds of the run)."""
    before = cpu_children()
    try:
        p = subprocess.run([BIN] + args, capture_output=True, timeout=120, env=env, cwd=WORK)
        return p.returncode, p.stdout + p.stderr, cpu_children() - before
    except subprocess.TimeoutExpired:
        return None, b"", cpu_children() - before


end = time.monotonic() + SECONDS
runs, inputs, findings = 0, 0, []
while time.monotonic() < end:
    name, data, companion = rng.choice(seeds)
    case = WORK / "case"
    shutil.rmtree(case, ignore_errors=True)
    case.mkdir()
    target = case / name
    target.write_bytes(mutate(data) if companion is None or rng.random() < 0.5 else data)
    if companion:
        cname, cdata = companion
        (case / cname).write_bytes(mutate(cdata) if rng.random() < 0.7 else cdata)
    out = WORK / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    inputs += 1
    before = sorted(p.name for p in case.iterdir())
    commands = [["info", str(target)], ["view", str(target), "--snapshot", "120x40", "--no-model"],
                ["convert", str(target), "--to", rng.choice(["csv", "wfdb", "dicom"]), "--out", str(out / "o")]]
    for args in commands:
        code, text, secs = run(args)
        runs += 1
        problem = None
        if code is None:
            problem = "timed out (120 s wall clock)"
        elif code < 0 or code >= 128:
            problem = f"crashed (exit {code})"
        elif secs > 10:
            problem = f"used {secs:.1f} s of CPU"
        elif b"\x1b" in text:
            problem = "escape sequence printed"
        if problem:
            findings.append(f"{' '.join(args[:1])} on mutated {name}: {problem}")
            if keep:
                dest = Path(keep) / f"finding-{len(findings)}"
                shutil.copytree(case, dest, dirs_exist_ok=True)
    if sorted(p.name for p in case.iterdir()) != before:
        findings.append(f"convert wrote beside the input {name}")

print(f"black-box fuzz: {inputs} mutated inputs, {runs} runs in {SECONDS:.0f} s, {len(findings)} findings")
for f in findings[:20]:
    print("  " + f)
sys.exit(1 if findings else 0)
