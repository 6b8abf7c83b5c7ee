#!/usr/bin/env bash
# Prints the Debian packages that own the shared libraries the given binaries link,
# one a line: the runtime image (deploy/Containerfile) installs exactly these.
set -euo pipefail
if (($# == 0)); then
  echo "usage: $0 BINARY..." >&2
  exit 2
fi
ldd "$@" >/dev/null
mapfile -t libs < <(ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u)
# dpkg knows each file by its packaged path (/lib/... on a merged-/usr system), which
# ldd may spell differently: ask about both spellings at once (one dpkg run is fast).
mapfile -t paths < <(for lib in "${libs[@]}"; do echo "$lib"; readlink -f "$lib"; done | sort -u)
owners=$(dpkg -S "${paths[@]}" 2>/dev/null | grep -v '^diversion' || true)
for lib in "${libs[@]}"; do
  if ! grep -qF -e ": $lib" -e ": $(readlink -f "$lib")" <<<"$owners"; then
    echo "runtime-packages: no Debian package owns $lib" >&2
    exit 1
  fi
done
sed 's/:.*//' <<<"$owners" | sort -u
