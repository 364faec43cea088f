"""What the Python checkers under tests/ share (imported after `sys.path.insert(0, <tests/>)`).

report_findings: the loop of a checker that reads many files (PDF layout, TUI snapshots) and fails
on any finding. attack_table: the closing Markdown table of the hardening rounds (hostile-2, -3),
which docs/reliability.md quotes.
"""
import sys
from pathlib import Path


def report_findings(label, items, problems_of, noun, shown=10, detail=lambda: ""):
    """Checks each item (`problems_of(item)` → list of findings), prints `FAIL item` and its first
    `shown` findings, then `label: N noun<detail>, B with findings`; returns the exit status."""
    bad = 0
    for item in items:
        problems = problems_of(item)
        if problems:
            bad += 1
            print(f"FAIL {item}")
            for q in problems[:shown]:
                print("   ", q)
    print(f"{label}: {len(items)} {noun}{detail()}, {bad} with findings")
    return 1 if bad else 0


def attack_table(label, outcome_column, rows, failures, table_out):
    """Prints the table of (item, attack, outcome, first line, result) rows, writes it to
    `table_out` when given, and exits 1 naming the failures, if any."""
    table = [f"| item | attack | {outcome_column} | first line of output | result |", "| --- | --- | --- | --- | --- |"]
    for item, name, outcome, first, status in rows:
        table.append(f"| {item} | {name} | {outcome} | `{first}` | {status} |")
    text = "\n".join(table) + "\n"
    print()
    print(text)
    if table_out:
        Path(table_out).write_text(text)
    if failures:
        print("\n".join(failures), file=sys.stderr)
        print(f"{label}: {len(failures)} attack(s) failed", file=sys.stderr)
        sys.exit(1)
    print(f"{label} ok: {len(rows)} attacks")
