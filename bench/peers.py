#!/usr/bin/env python3
"""Warden against Rspamd and SpamAssassin on one split of one corpus.

Run by bench/peers.sh, which installs and starts the peers offline. Every system learns the
same first 80% of `warden eval --mode split --shuffle SEED` and scores the same last 20%.
Prints (1-AUC)% of each system's Bayes probability and of its total score, the false-positive
rate at 95% recall, and CPU milliseconds per scored message: every system runs as a server on
loopback (Warden and Rspamd with two workers, spamd with two children) and is sent the test
messages one at a time; CPU is the server processes' own (utime + stime, children included).
"""
import http.client
import json
import math
import os
import subprocess
import sys

CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            # utime + stime, and cutime + cstime: spamd recycles its children, whose time
            # passes to the parent when they are reaped.
            total += sum(int(f) for f in fields[11:15])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / CLK


def started(pidfiles):
    """The processes the bench started (their PID files) and their children, now: never a
    process of the same name that it did not start (a user's own Rspamd, say)."""
    found = set()
    for f in pidfiles:
        try:
            found.add(int(open(f).read().split()[0]))
        except (OSError, ValueError, IndexError):
            pass
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                parent[int(d)] = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                pass
    grew = True
    while grew:
        grew = False
        for pid, ppid in parent.items():
            if ppid in found and pid not in found:
                found.add(pid)
                grew = True
    return sorted(found)


def auc(scored):
    pos = sum(1 for _, y in scored if y)
    neg = len(scored) - pos
    s = sorted(scored, key=lambda t: t[0])
    ranks, i = 0.0, 0
    while i < len(s):
        j = i
        while j < len(s) and s[j][0] == s[i][0]:
            j += 1
        ranks += (i + 1 + j) / 2 * sum(1 for k in range(i, j) if s[k][1])
        i = j
    return (ranks - pos * (pos + 1) / 2) / (pos * neg)


def fpr_at_recall(scored, recall=0.95):
    pos = sum(1 for _, y in scored if y)
    neg = len(scored) - pos
    tp = fp = 0
    s = sorted(scored, key=lambda t: -t[0])
    i = 0
    while i < len(s):
        j = i
        while j < len(s) and s[j][0] == s[i][0]:
            tp += s[j][1]
            fp += not s[j][1]
            j += 1
        if tp / pos >= recall - 1e-12:
            return fp / neg
        i = j
    return 1.0


def report(name, bayes, total, cpu_ms):
    print(f"{name:<13} bayes (1-AUC)% {100 * (1 - auc(bayes)):8.4f}   total (1-AUC)% {100 * (1 - auc(total)):8.4f}"
          f"   FPR@95% recall {100 * fpr_at_recall(total):6.3f}%   CPU {cpu_ms:8.3f} ms/msg")
    return {"bayes_one_minus_auc_pct": 100 * (1 - auc(bayes)), "total_one_minus_auc_pct": 100 * (1 - auc(total)),
            "fpr_at_95_recall": fpr_at_recall(total), "cpu_ms_per_msg": cpu_ms}


def checkv2(test, port, pids, bayes_of):
    """Every test message through Rspamd's /checkv2 protocol, one request at a time on one
    keep-alive connection: the client Rspamd and Warden are both measured with."""
    before = cpu_seconds(started(pids))
    bayes, total = [], []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for path, spam in test:
        body = open(path, "rb").read()
        conn.request("POST", "/checkv2", body=body, headers={"IP": "192.0.2.1", "From": "a@example.org"})
        r = json.loads(conn.getresponse().read())
        bayes.append((bayes_of(r.get("symbols", {})), spam))
        total.append((r.get("score", 0.0), spam))
    cpu = cpu_seconds(started(pids)) - before
    return bayes, total, 1000 * cpu / len(test)


def rspamd_bayes(sym):
    p = 0.5
    for name, sign in (("BAYES_SPAM", 1), ("BAYES_HAM", -1)):
        if name in sym:
            opt = (sym[name].get("options") or ["0%"])[0]
            p = 0.5 + sign * float(opt.rstrip("%")) / 200
    return p


def rspamd(test, port, pidfiles):
    return checkv2(test, port, pidfiles, rspamd_bayes)


def warden(test, port, pidfiles):
    # The model's log-odds is the MODEL symbol's score.
    model_p = lambda sym: 1 / (1 + math.exp(-sym["MODEL"]["score"]))
    return checkv2(test, port, pidfiles, model_p)


def spamassassin(test, port, pidfiles):
    before = cpu_seconds(started(pidfiles))
    bayes, total = [], []
    for path, spam in test:
        out = subprocess.run(["spamc", "-d", "127.0.0.1", "-p", str(port), "-R"], stdin=open(path, "rb"),
                             capture_output=True).stdout.decode("utf-8", "replace")
        first = out.splitlines()[0] if out else "0/0"
        score = float(first.split("/")[0]) if "/" in first else 0.0
        # The BAYES_NN rule names the bucket of its probability (BAYES_00 … BAYES_99, BAYES_999).
        p = 0.5
        for tok in out.split():
            if tok.startswith("BAYES_") and tok[6:].isdigit():
                d = tok[6:]
                p = int(d) / (10 ** len(d)) + (0.0005 if len(d) == 3 else 0.005)
        bayes.append((p, spam))
        total.append((score, spam))
    cpu = cpu_seconds(started(pidfiles)) - before
    return bayes, total, 1000 * cpu / len(test)


def main():
    # peers.py SYSTEM TEST_LIST PORT PIDFILE…: the PID files of the server processes the bench
    # started, whose CPU (with their children's) is measured.
    which, listfile, port, pidfiles = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    test = []
    for line in open(listfile):
        path, label = line.rstrip("\n").split("\t")[:2]
        test.append((path, label == "spam"))
    if which == "rspamd":
        res = report("Rspamd 3.4", *rspamd(test, port, pidfiles))
    elif which == "spamassassin":
        res = report("SpamAssassin", *spamassassin(test, port, pidfiles))
    else:
        res = report("Warden", *warden(test, port, pidfiles))
    print(json.dumps({which: res}), file=sys.stderr)


if __name__ == "__main__":
    main()
