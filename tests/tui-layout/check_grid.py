#!/usr/bin/env python3
"""Checks `ecg2cmr view --snapshot WxH` text grids: nothing cut ("…" nowhere on screen), nothing
written over a panel border (each box edge runs unbroken from its top corner to its bottom corner),
and the banner (row 2) says "demo model". With --overlay the box check is skipped (the help
overlay covers panels on purpose). Exits 1 on any finding.
  check_grid.py [--overlay] SNAPSHOT.txt...
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from testlib import report_findings  # noqa: E402


def problems(text, overlay):
    rows = text.rstrip("\n").split("\n")
    out = []
    for y, r in enumerate(rows):
        if "…" in r:
            out.append(f"cut at row {y}: {r.strip()[:120]}")
    if len(rows) > 1 and "demo model" not in rows[1].lower():
        out.append(f"banner lacks 'demo model': {rows[1].strip()}")
    if overlay:
        return out
    def at(x, y):
        return rows[y][x] if y < len(rows) and x < len(rows[y]) else " "
    for y, r in enumerate(rows):
        for x, ch in enumerate(r):
            if ch in "┌┐":
                bottom = "└" if ch == "┌" else "┘"
                yy = y + 1
                while yy < len(rows) and at(x, yy) == "│":
                    yy += 1
                if yy >= len(rows) or at(x, yy) != bottom:
                    out.append(f"box edge at column {x} from row {y} broken at row {yy}")
    return out


def main(args):
    overlay = "--overlay" in args
    files = [a for a in args if a != "--overlay"]
    return report_findings("tui-layout", files, lambda f: problems(open(f, encoding="utf-8").read(), overlay), "snapshots")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
