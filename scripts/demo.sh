#!/usr/bin/env bash
# The whole M12 workflow on the built-in simulator: no keys, no network.
#
#   run m12 -> annotation CSV or workbook (100 rows, seed 42) -> two simulated annotators ->
#   agreement -> merge (majority) -> gold dataset -> Braintrust sync (simulated) ->
#   error analysis -> HTML report -> summary
#
# Every step is one of the toolkit's own commands, run exactly as a user would run it; the
# simulated annotators (`simulate-annotators`) stand in for the two people. Run it as often as
# you like: each run writes new, timestamped files and overwrites nothing.
#
# Settings (environment): DEMO_WRONG_RATE (share of answers the simulator gets wrong, 0.10),
# DEMO_FLIP_A / DEMO_FLIP_B (share of labels each simulated annotator changes, 0.05 / 0.08),
# DEMO_FORMAT (csv, or xlsx for an annotation workbook with label dropdowns; csv),
# BIN (where the binaries are, target/debug).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bin="${BIN:-target/debug}"
wrong="${DEMO_WRONG_RATE:-0.10}"
flip_a="${DEMO_FLIP_A:-0.05}"
flip_b="${DEMO_FLIP_B:-0.08}"
format="${DEMO_FORMAT:-csv}"
case "$format" in
  csv | xlsx) ;;
  *) echo "demo: DEMO_FORMAT must be csv or xlsx, not \`$format\`" >&2; exit 2 ;;
esac

for tool in api-sim orchestrator generate-annotation-csv simulate-annotators calculate-agreement merge-annotations sync-braintrust analyze-results; do
  [ -x "$bin/$tool" ] || { echo "demo: $bin/$tool is missing; build first (make build)" >&2; exit 2; }
done

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
json_field() { sed -n "s/^ *\"$1\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" | head -n 1; }
json_number() { sed -n "s/^ *\"$1\": \\([-0-9.eE+]*\\),\\{0,1\\}\$/\\1/p" | head -n 1; }

started=$(date +%s)
workdir="$(mktemp -d)"
sim_pid=""
cleanup() {
  if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
  rm -rf "$workdir"
}
trap cleanup EXIT INT TERM

step "Starting the simulator (answer-key mode, ${wrong} of answers wrong, free local port)"
demo_bt_key="bt-demo-not-a-real-key"
"$bin/api-sim" --port 0 --exit-after 10m --answer-key --wrong-rate "$wrong" --seed 42 \
  --bt-api-key "$demo_bt_key" >"$workdir/sim.out" 2>"$workdir/sim.err" &
sim_pid=$!
for _ in $(seq 1 100); do
  [ -s "$workdir/sim.out" ] && break
  kill -0 "$sim_pid" 2>/dev/null || { cat "$workdir/sim.err" >&2; echo "demo: the simulator did not start" >&2; exit 2; }
  sleep 0.1
done
url="$(head -n 1 "$workdir/sim.out" | sed -n 's/^api-sim listening on \(http:\/\/127\.0\.0\.1:[0-9]*\)$/\1/p')"
[ -n "$url" ] || { echo "demo: unexpected simulator output: $(head -n 1 "$workdir/sim.out")" >&2; exit 2; }
echo "simulator: $url (stopped when the demo ends)"

# The simulator accepts any key; these are placeholders, not secrets.
export OPENAI_BASE_URL="$url/v1" OPENAI_API_KEY="sk-demo-not-a-real-key"
export BRAINTRUST_API_URL="$url" BRAINTRUST_API_KEY="$demo_bt_key"

step "1. orchestrator run m12"
"$bin/orchestrator" run m12 --no-progress | tee "$workdir/run.txt"
accuracy="$(sed -n 's/^  accuracy *\([0-9.]*%\).*/\1/p' "$workdir/run.txt" | head -n 1)"
results="$(sed -n 's/^  results *\(.*\)$/\1/p' "$workdir/run.txt" | head -n 1)"
local_id="$(sed -n 's/^  registered *\(.*\)$/\1/p' "$workdir/run.txt" | head -n 1)"

step "2. generate-annotation-csv generate m12 --sample 100 --seed 42 --format $format"
"$bin/generate-annotation-csv" generate m12 --sample 100 --seed 42 --format "$format" --json >"$workdir/generate.json"
annotation="$(json_field file <"$workdir/generate.json")"
annotation="${annotation#"$root/"}"
echo "wrote $annotation"

step "3. Annotators A and B (simulated: each copies the gold label, changing ${flip_a} / ${flip_b} of them)"
"$bin/simulate-annotators" "$annotation" --flip-a "$flip_a" --flip-b "$flip_b" --seed 7

step "4. calculate-agreement analyze $annotation"
"$bin/calculate-agreement" analyze "$annotation" --verbose
"$bin/calculate-agreement" analyze "$annotation" --json >"$workdir/agreement.json"
kappa="$(json_number cohen_kappa <"$workdir/agreement.json")"
observed="$(json_number observed_agreement <"$workdir/agreement.json")"

step "5. merge-annotations merge $annotation (majority: the LLM breaks ties)"
"$bin/merge-annotations" merge "$annotation" --json >"$workdir/merge.json"
validated="$(json_field output <"$workdir/merge.json")"
validated="${validated#"$root/"}"
echo "wrote $validated"

step "6. merge-annotations gold $validated"
"$bin/merge-annotations" gold "$validated" --json >"$workdir/gold.json"
gold="$(json_field output <"$workdir/gold.json")"
gold="${gold#"$root/"}"
echo "wrote $gold"

step "7. sync-braintrust sync --module m12 (to the simulator's Braintrust API)"
"$bin/sync-braintrust" sync --module m12 | tee "$workdir/sync.txt"

step "8. analyze-results errors $local_id (where the model went wrong)"
"$bin/analyze-results" errors "$local_id" | tee "$workdir/errors.txt"
errors_file="$(sed -n 's/^Errors file: \(.*\) (.*$/\1/p' "$workdir/errors.txt" | head -n 1)"

step "9. analyze-results report (a static HTML report: open the URL in a browser)"
"$bin/analyze-results" report --no-progress | tee "$workdir/report.txt"
report_url="$(sed -n 's/^Open: \(file:.*\)$/\1/p' "$workdir/report.txt" | head -n 1)"

elapsed=$(( $(date +%s) - started ))
awk -v w="$wrong" -v a="$flip_a" -v b="$flip_b" -v acc="$accuracy" -v k="$kappa" -v po="$observed" \
    -v results="$results" -v errs="$errors_file" -v id="$local_id" -v ann="$annotation" -v val="$validated" -v gold="$gold" -v report="$report_url" -v s="$elapsed" 'BEGIN {
  printf "\n\033[1m== Summary\033[0m\n"
  printf "  LLM accuracy       %s  (the simulator answers %.0f%% wrong: expect about %.0f%%)\n", acc, w * 100, (1 - w) * 100
  printf "  annotator kappa    %.4f, observed agreement %.1f%%  (flip rates %.0f%% / %.0f%%: expect about %.1f%%)\n", k, po * 100, a * 100, b * 100, (1 - a - b + 2 * a * b) * 100
  printf "  results            %s  (registered as %s)\n", results, id
  printf "  errors file        %s\n", errs
  printf "  annotation sheet   %s\n", ann
  printf "  validated labels   %s\n", val
  printf "  gold dataset       %s\n", gold
  printf "  HTML report        %s\n", report
  printf "  time               %ds\n", s
  printf "\nEvaluate the model against the gold labels:  orchestrator run m12 --dataset %s\n", gold
  printf "Run it against real OpenAI:  OPENAI_API_KEY=sk-... make m12-workflow  (see docs/workflow.md)\n"
}'
