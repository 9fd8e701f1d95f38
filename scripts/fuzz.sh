#!/usr/bin/env bash
# fuzz.sh runs every fuzz target in the module for FUZZTIME each (default
# 30s). The targets are listed by 'go test -list', never by hand, so a new
# FuzzXxx is fuzzed as soon as it exists. It fails if a target fails, or if
# none is found (a broken listing must not pass as "nothing to fuzz").
set -euo pipefail

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
cd "$(dirname "$0")/.."

# 'go test -list' prints a package's matching names, then "ok  <package>".
targets=$("$GO" test -list '^Fuzz' ./... | awk '
	/^ok / { for (i = 0; i < n; i++) print $2, names[i]; n = 0; next }
	/^Fuzz/ { names[n++] = $1 }
')
if [ -z "$targets" ]; then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi
count=$(printf '%s\n' "$targets" | wc -l)
i=0
while read -r pkg name; do
	i=$((i + 1))
	echo "fuzz: [$i/$count] $pkg $name for $FUZZTIME" >&2
	"$GO" test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME"
done <<<"$targets"
