"""Worst relative deviation of `ecg2cmr study mrmc --json` from MRMCaov's own results
(Tests/ReaderStudyTests/Fixtures/mrmc/mrmcaov-reference.json), per analysis and per dataset, through
the CLI an operator runs (the Swift tests check the same numbers to 1e-6 through the library).

    python3 tools/mrmc-reference/deviation.py --bin .build/debug/ecg2cmr
"""
import argparse
import csv
import json
import subprocess
import tempfile
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--bin", default=".build/debug/ecg2cmr")
options = parser.parse_args()
fx = Path(__file__).resolve().parents[2] / "Tests" / "ReaderStudyTests" / "Fixtures" / "mrmc"
exe = options.bin
scratch = tempfile.mkdtemp(prefix="mrmc-deviation-")
ref = json.load(open(f'{fx}/mrmcaov-reference.json'))
def data_file(a):
    if not a.get('treatments'): return f"{fx}/{a['data']}"
    out = f"{scratch}/{a['data'][:-4]}-{'-'.join(a['treatments'])}.csv"
    rows = list(csv.reader(open(f"{fx}/{a['data']}")))
    ti = rows[0].index('treatment')
    with open(out, 'w', newline='') as f:
        csv.writer(f).writerows([rows[0]] + [r for r in rows[1:] if r[ti] in a['treatments']])
    return out
worst_by_dataset = {}
for a in ref['analyses']:
    args = [exe, 'study', 'mrmc', '--ratings', data_file(a), '--json']
    if a.get('treatments'): args += ['--design', 'nested']
    if a['metric'] != 'auc': args += ['--metric', a['metric'], '--threshold', a['threshold']]
    if a.get('covariance'): args += ['--cov', a['covariance'].lower()]
    if a['factors'] == 'frrc': args += ['--fixed-readers']
    if a['factors'] == 'rrfc': args += ['--fixed-cases']
    r = json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)
    pairs = []
    c = r.get('components') or {}
    for k, v in (a.get('components') or {}).items():
        ours = c.get(k) if not k.startswith('corr') else (c[f'cov{k[-1]}'] / c['error'])
        pairs.append((k, ours, v))
    for k, v in a['meanSquares'].items(): pairs.append(('MS ' + k, r['meanSquares'][k], v))
    for k, v in a['global'].items(): pairs.append(('global ' + k, r['globalTest'].get(k), v))
    for tag, ours_list, refs in [('diff', r['differences'], a['differences']), ('mean', r['treatmentMeans'], a['means']),
                                 ('readerDiff', r.get('readerDifferences', []), a.get('readerDifferences', []))]:
        assert len(ours_list) == len(refs), (a['name'], tag)
        for o, p in zip(ours_list, refs):
            for k, v in p.items():
                if k == 'reader': assert o['reader'] == v; continue
                pairs.append((f'{tag} {k}', o.get(k), v))
    for p in a.get('readerMeans', []):
        o = next(x for x in r['readerMeans'] if x['treatment'] == p['treatment'] and x['reader'] == p['reader'])
        for k, v in p.items():
            if k in ('treatment', 'reader'): continue
            pairs.append((f'readerMean {k}', o.get(k), v))
    worst = (0.0, '')
    for k, ours, v in pairs:
        v = float(v)
        if ours is None:
            print('MISSING', a['name'], k)
            worst = (float('inf'), k)
            continue
        d = abs(ours - v) / abs(v) if v != 0 else abs(ours)
        if d > worst[0]: worst = (d, k)
    ds = a['name'].split(':')[0]
    print(f"{worst[0]:.2e}  {len(pairs):3d} values  {a['name']}  (worst: {worst[1]})")
    if worst[0] >= worst_by_dataset.get(ds, (0,))[0]: worst_by_dataset[ds] = worst
print()
for ds, w in worst_by_dataset.items(): print(f'{ds}: worst relative deviation {w[0]:.2e} ({w[1]})')
