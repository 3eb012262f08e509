"""Self time per function from ``py-spy record --format raw`` output, waits left out.

    py-spy record --pid PID -d 8 -r 200 --format raw -o prof.txt
    python benchmarks/pyspy_top.py prof.txt

The leaf frame of each sample is charged; samples whose leaf is a known wait (a condition or
event wait, the main thread's signal queue, the pacing sleep) are counted apart, since py-spy
sees a blocked thread as busy when the host is loaded.
"""

from __future__ import annotations

import collections
import sys

WAITS = ("Pipeline._pace_pulled_source", "Daemon._next_signal", "Condition.wait",
         "Event.wait", "Thread.join", "wait_for", "Handoff.get", "Handoff.wait_taken")


def main(paths: list[str], top: int = 10) -> None:
    for path in paths:
        leaf: collections.Counter[str] = collections.Counter()
        busy = waiting = 0
        with open(path) as f:
            for line in f:
                stack, _, count = line.rstrip().rpartition(" ")
                n = int(count)
                frame = stack.split(";")[-1]
                name = f"{frame.split(' (')[0]} ({frame.split('(')[-1].split(':')[0]})"
                name = name.replace(name[name.find("(") + 1:name.rfind("/") + 1], "") \
                    if "/" in name else name
                if name.startswith(WAITS):
                    waiting += n
                    continue
                busy += n
                leaf[name] += n
        print(f"{path}: {busy} busy samples ({waiting} waiting left out)\n")
        print("| share of busy samples | function (file) |\n|---|---|")
        for name, n in leaf.most_common(top):
            print(f"| {100 * n / busy:.1f}% | `{name}` |")
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
