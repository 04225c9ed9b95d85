#!/usr/bin/env bash
# capture-all.sh OUTROOT [VARIANT...]
# Runs scripts/qemu/capture.sh for every variant (or the ones named) into OUTROOT/<variant>/, one after the
# other (TCG is CPU-bound; two cores are not enough to run captures side by side without slowing the guests
# into their timeouts). A failed variant does not stop the others; the exit status is 1 if any failed.
# Each variant's log goes to stderr; a summary table comes last. Knobs: see capture.sh.
set -euo pipefail

PROG=${0##*/}
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -ge 1 ] || { echo "usage: $PROG OUTROOT [VARIANT...]" >&2; exit 2; }
OUTROOT=$1; shift
if [ $# -gt 0 ]; then
  VARIANTS=("$@")
else
  mapfile -t VARIANTS < <("$SCRIPT_DIR/capture.sh" --list)
fi
mkdir -p "$OUTROOT" || { echo "$PROG: cannot create $OUTROOT" >&2; exit 1; }

failed=()
summary=()
for v in "${VARIANTS[@]}"; do
  t0=$(date +%s)
  if bash "$SCRIPT_DIR/capture.sh" "$v" "$OUTROOT/$v"; then
    summary+=("$(printf '%-22s ok    %4ss  %s' "$v" "$(( $(date +%s) - t0 ))" "$(du -sh "$OUTROOT/$v" | cut -f1)")")
  else
    failed+=("$v")
    summary+=("$(printf '%-22s FAIL  %4ss' "$v" "$(( $(date +%s) - t0 ))")")
  fi
done

echo "$PROG: summary ($OUTROOT, total $(du -sh "$OUTROOT" | cut -f1)):"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "$PROG: failed: ${failed[*]}" >&2
  exit 1
fi
