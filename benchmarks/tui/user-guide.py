# Builds docs/user-guide.md from benchmarks/tui/user-guide.template.md, the docs/img/tui-*.txt
# screenshots and the key map printed by `ecg2cmr view --key-table` (run from the repository root).
import re, subprocess, sys
guide = open('benchmarks/tui/user-guide.template.md').read()
def shot(m):
    name = m.group(1)
    text = open(f'docs/img/tui-{name}.txt').read().rstrip('\n')
    return f"`docs/img/tui-{name}.txt`:\n\n```text\n{text}\n```"
guide = re.sub(r'@@SHOT ([\w-]+)@@', shot, guide)
keys, cmds = open('docs/img/tui-keymap.md').read().split("\n\n", 1)
guide = guide.replace('@@KEYS@@', keys.rstrip("\n")).replace('@@COMMANDS@@', cmds.rstrip("\n"))
open('docs/user-guide.md', 'w').write(guide)
print("ok")
