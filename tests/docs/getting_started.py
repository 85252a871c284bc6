#!/usr/bin/env python3
"""docs.getting_started: runs every command of docs/getting-started.md, in order.

    getting_started.py --source-dir=DIR --work-dir=DIR

The page marks what it runs: a fenced block after "<!-- run -->" is shell, run as
written; a fenced block after "<!-- file: NAME -->" is written to NAME in the folder
the commands are in at that point. Everything runs as one bash script (set -e), with
HOME set to a scratch folder (so ~/.local and ~/hello are the test's own), from the
source tree, inside a network namespace of its own (unshare -n; its loopback only), so
the page's fixed port 1234 is private. Then the outputs the page promises are
checked. Exit 0 pass, 1 fail, 77 skipped (not root, or no unshare: a namespace
cannot be made).
"""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys

SKIP = 77


def script_of(page):
    lines = open(page, encoding="utf-8").read().split("\n")
    out, i, mark = [], 0, None
    runs = files = 0
    while i < len(lines):
        line = lines[i]
        m = re.fullmatch(r"<!-- (run|file: (\S+)) -->", line.strip())
        if m:
            mark = m.group(2) or "run"
        elif line.startswith("```") and mark is not None:
            body = []
            i += 1
            while not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            if mark == "run":
                out.append("\n".join(body))
                runs += 1
            else:
                out.append("cat > %s <<'SK_PAGE_EOF'\n%s\nSK_PAGE_EOF" % (mark, "\n".join(body)))
                files += 1
            mark = None
        i += 1
    return "\n".join(out) + "\n", runs, files


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--work-dir", required=True)
    a = ap.parse_args()
    src = os.path.realpath(a.source_dir)
    page = os.path.join(src, "docs", "getting-started.md")
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        print("SKIPPED: needs root, unshare and ip for a network namespace of its own")
        return SKIP
    work = os.path.realpath(a.work_dir)
    shutil.rmtree(work, ignore_errors=True)
    home = os.path.join(work, "home")
    os.makedirs(home)
    body, runs, files = script_of(page)
    if runs < 5 or files < 3:
        print("FAIL: the page has %d run blocks and %d files: the markers are missing" % (runs, files))
        return 1
    script = os.path.join(work, "page.sh")
    with open(script, "w") as f:
        f.write("set -euo pipefail\nip link set lo up\ncd %s\n%s" % (shlex.quote(src), body))
    env = dict(os.environ, HOME=home)
    env.pop("PKG_CONFIG_PATH", None)
    r = subprocess.run(["unshare", "-n", "bash", script], cwd=src, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=600)
    out = r.stdout.decode(errors="replace")
    print(out[-4000:])
    hello = os.path.join(home, "hello")
    checks = [
        (r.returncode == 0, "the page's commands exited %d" % r.returncode),
        ("the server said: Un saludo, crack" in out, "the client did not print the server's answer"),
        ("the client said: hola, servidor" in out, "the server did not print the client's line"),
        (os.path.isfile(os.path.join(home, ".local", "include", "sockkit.h")), "nothing installed in ~/.local"),
        (os.access(os.path.join(hello, "build", "hello-server"), os.X_OK), "the CMake build made no hello-server"),
    ]
    static = os.path.join(hello, "hello-client-static")
    if os.path.exists(static):
        dyn = subprocess.run(["readelf", "-d", static], stdout=subprocess.PIPE).stdout
        checks.append((b"libsockkit.so" not in dyn, "hello-client-static needs libsockkit.so"))
    else:
        checks.append((False, "no hello-client-static"))
    failed = [what for ok, what in checks if not ok]
    for what in failed:
        print("FAIL:", what)
    if failed:
        return 1
    print("docs.getting_started: %d command blocks and %d files of the page ran, as it says" % (runs, files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
