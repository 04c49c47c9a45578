#!/usr/bin/env python3
"""Splits an mbox into a corpus folder Warden reads: DIR/messages/NNNNN.eml and DIR/labels.tsv
(`path<TAB>label<TAB>source`), every message given LABEL, in the mbox's order.

    scripts/mbox-to-corpus.py phishing-2021.mbox /tmp/nazario-2021 spam

A message starts at a line "From " after a blank line (or one of spaces), or at the top. The "From " line itself is
dropped; ">From " lines are left as they are (mboxo and mboxrd differ there, and a filter should
see what a mail store would hold). The pseudo-message UW IMAP writes first ("DON'T DELETE THIS
MESSAGE -- FOLDER INTERNAL DATA") is skipped. Bytes are kept as they are: no decoding.
"""
import os
import sys


def messages(data: bytes):
    start = None
    pos = 0
    while True:
        at = data.find(b"From ", pos)
        if at < 0:
            break
        # After a blank line: one that is empty or holds only spaces and tabs (some archives
        # write those).
        line_start = data.rfind(b"\n", 0, at - 1) + 1 if at > 0 else 0
        if at == 0 or (data[at - 1:at] == b"\n" and at > 1 and not data[line_start:at - 1].strip(b" \t\r")):
            if start is not None:
                yield data[start:at]
            start = at
        pos = at + 5
    if start is not None:
        yield data[start:]


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in ("spam", "ham"):
        sys.exit(__doc__)
    mbox, out, label = sys.argv[1:]
    with open(mbox, "rb") as f:
        data = f.read()
    os.makedirs(os.path.join(out, "messages"), exist_ok=True)
    rows = []
    for raw in messages(data):
        body = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
        if b"FOLDER INTERNAL DATA" in body[:2048]:
            continue
        name = f"messages/{len(rows) + 1:05}.eml"
        with open(os.path.join(out, name), "wb") as f:
            f.write(body)
        rows.append(f"{name}\t{label}\t{os.path.basename(mbox)}\n")
    with open(os.path.join(out, "labels.tsv"), "w") as f:
        f.write("path\tlabel\tsource_mbox\n")
        f.writelines(rows)
    print(f"{len(rows)} messages written to {out}")


if __name__ == "__main__":
    main()
