#!/usr/bin/env python3
"""Plays the terminal for `ecg2cmr view` under a PTY (Python stdlib only).

Each scenario starts the real binary, answers (or ignores) the startup graphics probe the way a
given terminal would, waits for the CMR pane, checks what was sent for the cine frames, then
types q and checks a clean exit:

  kitty   answers the kitty graphics query OK          -> kitty APC sequences carrying a PNG
  sixel   answers DA1 with 4 among its parameters      -> a sixel DCS sequence
  silent  answers nothing (the probe must time out)    -> half blocks, no image sequences
  forced  silent, but --graphics sixel                 -> sixel without asking

usage: pty_terminal.py ECG2CMR_BIN [--model DIR]
"""
import base64
import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time

COLS, ROWS = 200, 60
CELL_W, CELL_H = 10, 20
ESC = b"\x1b"
KITTY_QUERY = ESC + b"_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA" + ESC + b"\\"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Failure(Exception):
    pass


class Terminal:
    """A child process on a PTY and everything it has written."""

    def __init__(self, argv, env):
        pid, fd = pty.fork()
        if pid == 0:  # child: the window size must be set before curses starts
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, COLS * CELL_W, ROWS * CELL_H))
            try:
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.output = bytearray()
        self.status = None

    def pump(self, seconds):
        """Reads for up to `seconds`; returns False once the child has closed the PTY."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.05))
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:  # EIO: the child exited
                    return False
                if not chunk:
                    return False
                self.output += chunk

    def send(self, data):
        os.write(self.fd, data)

    def wait_for(self, predicate, seconds, what):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if predicate(bytes(self.output)):
                return
            if not self.pump(0.1) and not predicate(bytes(self.output)):
                raise Failure(f"the workstation exited while waiting for {what}")
        raise Failure(f"waited {seconds}s for {what}")

    def wait_exit(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.pump(0.1)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
                return status
        raise Failure(f"did not exit within {seconds}s of q")

    def kill(self):
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        os.close(self.fd)


def answer_probe(term, kind):
    """Waits for the probe and replies as a terminal of `kind` would (in the order asked)."""
    term.wait_for(lambda out: out.count(ESC + b"[5n") >= 1, 15, "the graphics probe")
    out = bytes(term.output)
    if KITTY_QUERY not in out:
        raise Failure("the probe did not send the kitty graphics query")
    if out.index(ESC + b"[5n") < out.index(ESC + b"[c"):
        raise Failure("the status request (ESC[5n) must come after DA1")
    if kind == "kitty":
        term.send(ESC + b"_Gi=31;OK" + ESC + b"\\" + ESC + b"[6;20;10t" + ESC + b"[?62;22c" + ESC + b"[0n")
    elif kind == "sixel":
        term.send(ESC + b"[6;20;10t" + ESC + b"[?63;1;2;4;6;9;15;22c" + ESC + b"[0n")
    # silent: nothing at all


def kitty_images(out):
    """Complete kitty transmissions (a=T … m=0) as (keys, payload bytes)."""
    images = []
    current = None
    for keys, payload in re.findall(rb"\x1b_G([^;\x1b]*);([^\x1b]*)\x1b\\", out):
        fields = dict(k.split(b"=", 1) for k in keys.split(b",") if b"=" in k)
        if fields.get(b"a") == b"T":
            current = (fields, bytearray(payload))
        elif current is not None and set(fields) == {b"m"}:
            current[1].extend(payload)
        else:
            continue
        if fields.get(b"m") == b"0" and current is not None:
            images.append((current[0], bytes(current[1])))
            current = None
    return images


def sixel_images(out):
    return re.findall(rb'\x1bP0;1;0q"1;1;(\d+);(\d+)(#0;2;0;0;0[^\x1b]*)\x1b\\', out)


def check_kitty(out):
    images = kitty_images(out)
    if len(images) < 2:
        return False
    for fields, payload in images[:2]:
        png = base64.b64decode(payload, validate=True)
        if not png.startswith(PNG_SIGNATURE):
            raise Failure("kitty payload is not a PNG")
        width, height = struct.unpack(">II", png[16:24])
        if (width, height) not in ((80, 80), (96, 96)) and width != height:
            raise Failure(f"unexpected CMR frame size {width}×{height}")
        if fields.get(b"f") != b"100" or b"c" not in fields or b"r" not in fields or fields.get(b"q") != b"2":
            raise Failure(f"kitty keys missing: {fields}")
    return True


def check_sixel(out):
    images = sixel_images(out)
    if len(images) < 2:
        return False
    for w, h, body in images[:2]:
        w, h = int(w), int(h)
        if w % CELL_W or h % 6 or w == 0:
            raise Failure(f"sixel size {w}×{h} does not fit the cell grid")
        if not re.search(rb"#\d+[?-~!0-9]", body):
            raise Failure("sixel has no pixel data")
    return True


def half_blocks_in_cmr(out):
    # The CMR pane's labels and many ▀ cells after them.
    return b"LAX 4ch" in out and out.count("▀".encode()) > 200


def scenario(name, binary, extra, probe_reply, expect):
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "ECG2CMR_GRAPHICS", "COLORTERM", "TMUX")}
    env["TERM"] = "xterm-256color"
    argv = [binary, "view", "sample-data", *extra]
    term = Terminal(argv, env)
    try:
        started = time.monotonic()
        if probe_reply is not None:
            answer_probe(term, probe_reply)
        term.wait_for(lambda out: b"1/" in out and b"ecg2cmr" in out, 20, "the first screen")
        if probe_reply == "silent":
            # Timed out gracefully: the screen appeared without any answer.
            print(f"inline-images ok [{name}]: first screen {time.monotonic() - started:.2f}s after start without probe replies")
        if expect == "kitty":
            term.wait_for(check_kitty, 180, "two kitty images (SAX and LAX)")
        elif expect == "sixel":
            term.wait_for(check_sixel, 180, "two sixel images (SAX and LAX)")
        else:
            term.wait_for(half_blocks_in_cmr, 180, "half-block CMR frames")
        out = bytes(term.output)
        if expect != "kitty" and re.search(rb"\x1b_Ga=", out):
            raise Failure("kitty graphics sent to a terminal that did not confirm them")
        if expect != "sixel" and re.search(rb"\x1bP[0-9;]*q", out):
            raise Failure("sixel sent to a terminal that did not confirm it")
        print(f"inline-images ok [{name}]: {expect} output")
        mark = len(term.output)
        term.send(b"q")
        status = term.wait_exit(30)
        if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
            raise Failure(f"exit status {status}")
        tail = bytes(term.output[mark:])
        if expect == "kitty" and b"\x1b_Ga=d,d=I" not in tail:
            raise Failure("kitty images were not deleted on quit")
        print(f"inline-images ok [{name}]: q quits with status 0")
    except Failure as e:
        text = bytes(term.output)[-1500:].decode("utf-8", "replace")
        print(f"inline-images FAIL [{name}]: {e}\n---- last output ----\n{text!r}")
        return False
    finally:
        term.kill()
    return True


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    binary, extra = sys.argv[1], sys.argv[2:]
    results = [
        scenario("kitty", binary, extra, "kitty", "kitty"),
        scenario("sixel", binary, extra, "sixel", "sixel"),
        scenario("silent", binary, extra, "silent", "blocks"),
        scenario("forced sixel", binary, [*extra, "--graphics", "sixel"], None, "sixel"),
    ]
    if all(results):
        print("inline-images: all checks passed")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
