#!/usr/bin/env bash
# Copy one finished `ilsvrc reproduce` run into docs/results/CLAIM/BUDGET/ (report.md, results.json, the PNGs;
# not OUT/nets, the trained nets), with the run folder and this machine's ../shared path rewritten relative to
# the checkout, then rebuild docs/results/README.md. For runs made outside the checkout (a snapshot worktree,
# so that commits during a two-hour run do not change the code it runs).
# usage: bash benchmarks/publish_result.sh RUN_DIR        (then paste the table rows into README.md)
set -euo pipefail
run=${1:?usage: bash benchmarks/publish_result.sh RUN_DIR}
[ -f "$run/report.md" ] || { echo "$run/report.md: no finished report there (still running? use --resume)" >&2; exit 2; }
read -r claim budget < <(python -c 'import json, sys; r = json.load(open(sys.argv[1])); print(r["claim"], r["budget"])' "$run/results.json")
dest=docs/results/$claim/$budget
mkdir -p "$dest"
cp "$run/report.md" "$run/results.json" "$run"/*.png "$dest/"
run_abs=$(cd "$run" && pwd -P)
shared_abs=$(cd ../shared 2>/dev/null && pwd -P || echo "../shared")
for f in "$dest/report.md" "$dest/results.json"; do
  sed -i "s#$shared_abs/#../shared/#g; s#$run_abs#$dest#g; s#--out $run\b#--out $dest#g" "$f"
done
if grep -n -E "(^|[ \"'(])/(work|home|tmp|root)/" "$dest/report.md" "$dest/results.json"; then
  echo "!! absolute paths left in $dest (above): fix them before committing" >&2
  exit 1
fi
echo "$dest: $(head -1 "$dest/report.md")"
ilsvrc reproduce --table docs/results > /dev/null
