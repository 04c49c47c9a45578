#!/usr/bin/env python3
"""Two builds of Warden compared fairly on a machine whose speed moves from second to second.

Each build's `decide_chunks` example loads the corpus once and then decides one chunk of 100
messages whenever it is told to. This script tells the two in turn, chunk after chunk (who
goes first alternates), both pinned to the same core, so that both see every phase of the
machine. Timing one build after the other does not: on the VM these figures come from, two
runs of the same binary a minute apart differ by up to 30%.

    cargo build --release -p warden-mail --example decide_chunks
    cp target/release/examples/decide_chunks /tmp/a
    RUSTFLAGS=… cargo build --release -p warden-mail --example decide_chunks   # the other build

(Before 2026-12-07 the example was `warden-engine`'s: `-p warden-engine` at those commits.)
    bench/ab-builds.py /tmp/a target/release/examples/decide_chunks [--rounds 8] [--corpus DIR] [--explained]

Prints each build's best and median µs per message over the rounds, and the second build's
time over the first's, round by round.
"""
import argparse
import os
import statistics
import subprocess

here = os.path.dirname(os.path.abspath(__file__))
p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("first")
p.add_argument("second")
p.add_argument("--rounds", type=int, default=8)
p.add_argument("--corpus", default=os.path.join(here, "../../shared/corpora/spamassassin"))
p.add_argument("--core", default="0", help="the core both are pinned to (taskset -c)")
p.add_argument("--explained", action="store_true",
               help="explain every decision, as the server does (reasons rebuilt from the message)")
args = p.parse_args()

builds = [args.first, args.second]
procs = [
    subprocess.Popen(["taskset", "-c", args.core, b, args.corpus] + (["--explained"] if args.explained else []),
                     stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, text=True)
    for b in builds
]
sizes = [tuple(map(int, proc.stdout.readline().split())) for proc in procs]
assert sizes[0] == sizes[1], "both builds must read the same corpus"
chunks, messages = sizes[0]


def decide(i, k):
    procs[i].stdin.write(f"{k}\n")
    procs[i].stdin.flush()
    return float(procs[i].stdout.readline())


per_round = [[], []]
for r in range(args.rounds):
    total = [0.0, 0.0]
    for k in range(chunks):
        for i in ((0, 1) if (k + r) % 2 == 0 else (1, 0)):
            total[i] += decide(i, k)
    for i in (0, 1):
        per_round[i].append(total[i] / messages * 1e6)
for proc in procs:
    proc.stdin.close()
    proc.wait()
for b, t in zip(builds, per_round):
    print(f"{b}: best {min(t):.1f} µs, median {statistics.median(t):.1f} µs a message")
ratios = [b / a for a, b in zip(*per_round)]
print("second/first by round:", " ".join(f"{x:.3f}" for x in ratios), f"(median {statistics.median(ratios):.3f})")
