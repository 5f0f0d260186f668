#!/usr/bin/env bash
# make bench: time `harvest` as a whole process against the I/O floor (reading the
# input and writing outputs of the same shape), at 1x and 8x the production sample,
# and the HTML page of each.
# Prints median seconds, the ratio, rows per second and peak memory, then output bytes
# per input byte and the harvest's user and system CPU time (system time is mostly the
# kernel handing out fresh pages).
set -euo pipefail
cd "$(dirname "$0")/.."

REPEATS="${REPEATS:-5}"
SIZES="${SIZES-1 8}"   # SIZES="" skips the large logs
PROFILE="${PROFILE:-release}"
DATA=bench_data
BASE_ROWS=1546591

# generate-log is the binary of the workspace's generator crate (generator/).
cargo build --profile "$PROFILE" -p harvester -p harvester-generator \
  --bin harvest --bin view --bin generate-log --example io_floor >&2
BIN="target/$PROFILE"
mkdir -p "$DATA"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-5s %12s %10s %10s %7s %14s %10s\n' size rows harvest_s floor_s ratio rows_per_s peak_MiB
for size in $SIZES; do
  rows=$((BASE_ROWS * size))
  input="$DATA/shift-${size}x.parquet"
  [ -f "$input" ] || "$BIN/generate-log" --out "$input" --rows "$rows" --seed 1 --run-uuid-type float64 >&2
  out=$(mktemp -d)
  times=()
  users=()
  syss=()
  peak=0
  for _ in $(seq "$REPEATS"); do
    rm -rf "$out"/*
    # ENCODING=split: the floor writes what the harvest wrote (io_floor reads the
    # codec and the encoding from its report.json).
    /usr/bin/time -f '%e %M %U %S' -o "$out.time" "$BIN/harvest" "$input" --out "$out" --quiet \
      --encoding "${ENCODING:-plain}"
    read -r secs kib user sys < "$out.time"
    times+=("$secs")
    users+=("$user")
    syss+=("$sys")
    [ "$kib" -gt "$peak" ] && peak=$kib
  done
  harvest_s=$(printf '%s\n' "${times[@]}" | median)
  user_s=$(printf '%s\n' "${users[@]}" | median)
  sys_s=$(printf '%s\n' "${syss[@]}" | median)
  # Every file the harvest wrote but its catalog: the output directory and the dataset.
  out_bytes=$(find "$out" -type f ! -name 'catalog.db*' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  in_bytes=$(stat -c %s "$input")
  dir=$(find "$out" -mindepth 1 -maxdepth 1 -type d ! -name '.*' ! -name dataset | head -1)
  floor_s=$("$BIN/examples/io_floor" "$input" "$dir" "$out.floor" "$REPEATS")
  read_rows=$(python3 -c "import json,sys; print(json.load(open('$dir/report.json'))['rows']['read'])")
  awk -v s="$size" -v r="$read_rows" -v h="$harvest_s" -v f="$floor_s" -v p="$peak" \
    'BEGIN { printf "%-5s %12d %10.3f %10.3f %7.2f %14.0f %10.0f\n", s "x", r, h, f, h / f, r / h, p / 1024 }'
  awk -v s="$size" -v o="$out_bytes" -v i="$in_bytes" -v u="$user_s" -v y="$sys_s" \
    'BEGIN { printf "%-5s outputs: %.2f bytes per input byte (%.1f MB from %.1f MB); CPU: user %.2f s, system %.2f s (system %.0f%%)\n", s "x", o / i, o / 1e6, i / 1e6, u, y, 100 * y / (u + y) }'
  python3 - "$dir/report.json" >&2 <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("      stages: " + ", ".join(f"{s['stage']} {s['seconds']:.3f}s" for s in r["stages"]))
PY
  # The HTML page of the harvest: median render time and its size.
  page_times=()
  for _ in $(seq "$REPEATS"); do
    /usr/bin/time -f '%e' -o "$out.time" "$BIN/view" --out "$out" "$dir" --html "$out.html" --quiet
    page_times+=("$(cat "$out.time")")
  done
  page_s=$(printf '%s\n' "${page_times[@]}" | median)
  page_bytes=$(stat -c %s "$out.html")
  awk -v s="$size" -v t="$page_s" -v b="$page_bytes" \
    'BEGIN { printf "%-5s html page: %.2f s, %.2f MB\n", s "x", t, b / 1e6 }'
  rm -f "$out.html"
  rm -rf "$out" "$out.floor" "$out.time"
done

# Many small files: 1,000 logs of 10,000 rows, --jobs 2, into a PostgreSQL catalog.
SMALL_FILES="${SMALL_FILES:-1000}"
small="$DATA/small-$SMALL_FILES"
if [ ! -d "$small" ] || [ "$(ls "$small" | wc -l)" -ne "$SMALL_FILES" ]; then
  rm -rf "$small" && mkdir -p "$small"
  for i in $(seq 1 "$SMALL_FILES"); do
    "$BIN/generate-log" --out "$small/log-$i.parquet" --rows 10000 --seed "$i" --run-uuid-type uint64 >/dev/null
  done
fi
pg_admin="${HARVESTER_TEST_PG_URL:-$(bash scripts/ensure-postgres.sh)}"
db="harvester_bench_$$"
psql "$pg_admin" -qc "CREATE DATABASE $db" >/dev/null
out=$(mktemp -d)
/usr/bin/time -f '%e %M' -o "$out.time" "$BIN/harvest" "$small" --out "$out" --jobs 2 --quiet \
  --catalog "${pg_admin%/*}/$db"
read -r secs kib < "$out.time"
harvested=$(find "$out" -mindepth 1 -maxdepth 1 -type d | wc -l)
awk -v n="$harvested" -v s="$secs" -v p="$kib" \
  'BEGIN { printf "small files: %d files of 10,000 rows in %.2f s = %.0f files/s (--jobs 2, PostgreSQL catalog), peak %.0f MiB\n", n, s, n / s, p / 1024 }'
psql "$pg_admin" -qc "DROP DATABASE $db" >/dev/null
rm -rf "$out" "$out.time"

# Rescans of a nested inbox: RESCAN_FILES small logs in cell folders, harvested
# once, then scanned again with nothing new, on a SQLite and a PostgreSQL catalog.
RESCAN_FILES="${RESCAN_FILES:-10000}"
inbox="$DATA/inbox-$RESCAN_FILES"
if [ ! -d "$inbox" ] || [ "$(find "$inbox" -name '*.csv' | wc -l)" -ne "$RESCAN_FILES" ]; then
  rm -rf "$inbox"
  python3 - "$inbox" "$RESCAN_FILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
header = "time,value,field,robot_id,run_uuid,sensor_type\n"
for i in range(n):
    folder = os.path.join(root, f"cell={i % 40}", f"day={i // 400:03d}")
    os.makedirs(folder, exist_ok=True)
    # 100 instants 30 ms apart, x y z at each: 300 rows, distinct in every file.
    rows = [
        f"2022-11-23T20:40:{k * 30 // 1000:02d}.{k * 30 % 1000:03d}Z,{i + k * 0.5 + axis},{field},1,{i + 1},encoder\n"
        for k in range(100)
        for axis, field in enumerate("xyz")
    ]
    with open(os.path.join(folder, f"log-{i}.csv"), "w") as f:
        f.write(header + "".join(rows))
PY
fi
for backend in sqlite postgres; do
  out=$(mktemp -d)
  if [ "$backend" = sqlite ]; then
    url="sqlite://$out/catalog.db"
  else
    db="harvester_rescan_$$"
    psql "$pg_admin" -qc "CREATE DATABASE $db" >/dev/null
    url="${pg_admin%/*}/$db"
  fi
  scan() {
    /usr/bin/time -f '%e' -o "$out.time" "$BIN/harvest" "$inbox" --out "$out/harvested" --jobs 2 --quiet --catalog "$url"
    cat "$out.time"
  }
  first=$(scan)
  rescans=()
  for _ in $(seq "$REPEATS"); do rescans+=("$(scan)"); done
  rescan=$(printf '%s\n' "${rescans[@]}" | median)
  awk -v b="$backend" -v n="$RESCAN_FILES" -v f="$first" -v r="$rescan" \
    'BEGIN { printf "rescan (%s): %d files, first pass %.2f s, rescan %.2f s (%.1f%% of the first pass)\n", b, n, f, r, 100 * r / f }'
  [ "$backend" = postgres ] && psql "$pg_admin" -qc "DROP DATABASE $db" >/dev/null
  rm -rf "$out" "$out.time"
done

# Object storage: the 1x log (S3_SIZE=8: the 8x one) harvested from a local S3
# server (moto's server mode, as the tests run it) against the same log from disk,
# into a local output; then into the same S3 server (--out s3://…, with a PostgreSQL
# catalog). S3=0 skips it.
if [ "${S3:-1}" = 1 ]; then
  bash scripts/ensure-python-deps.sh
  s3_size="${S3_SIZE:-1}"
  input="$DATA/shift-${s3_size}x.parquet"
  [ -f "$input" ] || "$BIN/generate-log" --out "$input" --rows "$((BASE_ROWS * s3_size))" --seed 1 --run-uuid-type float64 >&2
  s3dir=$(mktemp -d)
  mkfifo "$s3dir/stdin"
  python3 tests/it/s3_server.py "$s3dir/requests" "$s3dir/slow" logs out < "$s3dir/stdin" > "$s3dir/server.json" 2>/dev/null &
  exec 7> "$s3dir/stdin"
  until [ -s "$s3dir/server.json" ]; do sleep 0.2; done
  eval "$(python3 - "$s3dir/server.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
print(f"export AWS_ACCESS_KEY_ID={c['access_key_id']} AWS_SECRET_ACCESS_KEY='{c['secret_access_key']}'"
      f" AWS_DEFAULT_REGION={c['region']} HARVEST_S3_ENDPOINT={c['endpoint']}")
PY
)"
  python3 - "$input" <<'PY'
import boto3, os, sys
s3 = boto3.client("s3", endpoint_url=os.environ["HARVEST_S3_ENDPOINT"])
s3.upload_file(sys.argv[1], "logs", os.path.basename(sys.argv[1]))
PY
  pg_admin="${HARVESTER_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
  time_harvest() {  # prints the median seconds of REPEATS harvests of "$@" into fresh outputs
    local times=()
    for i in $(seq "$REPEATS"); do
      local out; out=$(mktemp -d)
      local db="harvester_s3bench_$$_$i"
      psql "$pg_admin" -qc "CREATE DATABASE $db" >/dev/null
      local args=("$@")
      args=("${args[@]//@OUT@/$out}")
      args=("${args[@]//@RUN@/$i}")
      /usr/bin/time -f '%e' -o "$out.time" "$BIN/harvest" "${args[@]}" --quiet --catalog "${pg_admin%/*}/$db"
      times+=("$(cat "$out.time")")
      psql "$pg_admin" -qc "DROP DATABASE $db" >/dev/null
      rm -rf "$out" "$out.time"
    done
    printf '%s\n' "${times[@]}" | median
  }
  disk_s=$(time_harvest "$input" --out @OUT@)
  s3_in_s=$(time_harvest "s3://logs/shift-${s3_size}x.parquet" --out @OUT@)
  s3_both_s=$(time_harvest "s3://logs/shift-${s3_size}x.parquet" --out s3://out/run-@RUN@)
  awk -v s="$s3_size" -v d="$disk_s" -v i="$s3_in_s" -v b="$s3_both_s" 'BEGIN {
    printf "%sx from disk to disk: %.2f s; from S3 to disk: %.2f s (%.2fx); from S3 to S3: %.2f s (%.2fx)\n", s, d, i, i / d, b, b / d }'
  exec 7>&-
  wait
  rm -rf "$s3dir"
fi
