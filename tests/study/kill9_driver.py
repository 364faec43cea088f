"""One reader session under kill -9 (used by kill9.sh).

Starts `ecg2cmr study run --headless`, answers each case as it appears (the answer is a fixed
function of the case's position, so misattributed answers are caught), and SIGKILLs the process
after a random delay. Prints a JSON summary: the first position shown, and every position the
session reported as committed before it died.
"""
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time


def expected_answer(position):
    return ("y" if position % 3 else "n"), str(position % 5 + 1)


def main():
    binary, db, reader, seed, kill_after = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    # "from-start": kill_after counts from launch (kills during start-up and the first case);
    # otherwise from the first case on screen (kills while answering and committing).
    from_start = len(sys.argv) > 6 and sys.argv[6] == "from-start"
    rng = random.Random(seed)
    proc = subprocess.Popen([binary, "study", "run", "--db", db, "--reader", reader, "--headless"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    lines, shown = [], []
    lock = threading.Condition()

    def pump():
        for line in proc.stdout:
            with lock:
                lines.append(line.strip())
                lock.notify_all()

    threading.Thread(target=pump, daemon=True).start()
    killed = threading.Event()

    def kill():
        if kill_after >= 0:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            killed.set()

    timer = threading.Timer(kill_after, kill) if kill_after >= 0 else None
    if timer and from_start:
        timer.start()
    seen = 0
    try:
        while proc.poll() is None:
            with lock:
                while seen >= len(lines) and proc.poll() is None:
                    lock.wait(0.05)
                new, seen = lines[seen:], len(lines)
            for line in new:
                if line.startswith("shown "):
                    p = int(line.split()[1])
                    shown.append(p)
                    if timer and not from_start and len(shown) == 1:
                        timer.start()
                    finding, confidence = expected_answer(p)
                    for key in [finding, confidence, "enter", "enter"]:
                        time.sleep(rng.uniform(0.002, 0.02))
                        proc.stdin.write(key + "\n")
                        proc.stdin.flush()
                elif line in ("finished", "paused"):
                    proc.stdin.close()
    except (BrokenPipeError, OSError):
        pass
    proc.wait()
    if timer:
        timer.cancel()
    time.sleep(0.05)
    with lock:
        committed = [int(l.split()[1]) for l in lines if l.startswith("committed ")]
    print(json.dumps({"first_shown": shown[0] if shown else None, "shown": shown, "committed": committed,
                      "killed": killed.is_set(), "returncode": proc.returncode,
                      "stderr": proc.stderr.read()[-2000:] if not killed.is_set() else ""}))


if __name__ == "__main__":
    main()
