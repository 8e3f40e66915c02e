#!/usr/bin/env bash
# Runs each fuzz target for a while, one at a time on one worker:
#   scripts/fuzz.sh FUZZTIME "FUZZFLAGS" PKG:Target...
# A target that fails only with "context deadline exceeded" and wrote no
# failing input is run once more: that is Go 1.26's fuzz coordinator
# racing its own -fuzztime deadline (go.dev/issue/75804, fixed in Go
# 1.27), not a finding. A real finding always writes its input under
# testdata/fuzz and fails for good.
set -uo pipefail
fuzztime=$1 flags=$2
shift 2
go=${GO:-go}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for t in "$@"; do
	pkg=${t%%:*} name=${t#*:}
	for attempt in 1 2; do
		echo "fuzz: $name ($pkg) for $fuzztime"
		# shellcheck disable=SC2086 # flags are words
		if "$go" test -run '^$' -fuzz "^$name\$" -fuzztime "$fuzztime" $flags -parallel 1 "$pkg" 2>&1 | tee "$out"; then
			break
		fi
		if [ "$attempt" = 1 ] && grep -q 'context deadline exceeded' "$out" && ! grep -q 'Failing input written' "$out"; then
			echo "fuzz: $name stopped with the fuzzer's own deadline race and no failing input (go.dev/issue/75804); running it again"
			continue
		fi
		exit 1
	done
done
