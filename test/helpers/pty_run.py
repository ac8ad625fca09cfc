#!/usr/bin/env python3
"""Runs a command in a real pseudo-terminal and answers its prompts, like a person at a keyboard.

usage: pty_run.py STEPS_JSON -- command [args...]
STEPS_JSON is a list of {"expect": text, "send": text}: wait until `expect` has appeared on the
terminal, then type `send`. Prints everything the terminal showed, exits with the command's code.
"""
import json, os, pty, select, sys, time

def main():
    sep = sys.argv.index('--')
    steps = json.loads(sys.argv[1])
    argv = sys.argv[sep + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    seen = b''
    deadline = time.time() + 30
    def read_some(timeout):
        nonlocal seen
        r, _, _ = select.select([fd], [], [], timeout)
        if not r:
            return True
        try:
            data = os.read(fd, 4096)
        except OSError:
            return False
        if not data:
            return False
        seen += data
        return True
    for step in steps:
        want = step['expect'].encode()
        while want not in seen:
            if time.time() > deadline or not read_some(0.2):
                sys.stdout.write(seen.decode('utf8', 'replace'))
                sys.stderr.write('pty_run.py: never saw %r\n' % step['expect'])
                os.kill(pid, 9)
                sys.exit(99)
        time.sleep(0.1)
        for ch in step['send']:
            os.write(fd, ch.encode())
            time.sleep(0.01)
    while time.time() < deadline and read_some(0.5):
        pass
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(seen.decode('utf8', 'replace'))
    sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))

main()
