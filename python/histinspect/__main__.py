"""``python -m histinspect ARGS``: runs the native command with ARGS (the same as
``histinspect ARGS``), for environments whose scripts directory is not on PATH."""

import os
import subprocess
import sys

from . import binary


def main() -> int:
    exe = binary()
    args = [exe, *sys.argv[1:]]
    if os.name == "posix":
        os.execv(exe, args)  # replaces this process: exit codes and signals pass straight through
    return subprocess.call(args)


if __name__ == "__main__":
    sys.exit(main())
