#!/usr/bin/env bash
# vardrum and Janus side by side under the same load, on this machine, with the same client
# (vardrum-loadtest); regenerates the load-test section of docs/benchmarks.md (between
# <!-- loadtest-bench:start --> and <!-- loadtest-bench:end -->, appended if missing; nothing
# else in the file is touched).
#
#   sudo loadtest/bench.sh               # the full benchmark: at most 18 steps of 16-22 s, about
#                                        # 6 minutes plus the release build (less when a series
#                                        # stops early)
#   BENCH_SMOKE=1 loadtest/bench.sh      # only the first step of each series (~1.5 min): checks
#                                        # the set-up; the docs section says it was a smoke run
#
# How: a release build (outside the namespace), then inside ONE loopback-only network namespace
# (unshare -n + loadtest/janus/netns.sh, so nothing leaves the machine and Janus can gather its
# 127.0.0.1 candidate) two series of steps, each step run against vardrum and then Janus, each
# with a freshly started server (so peak memory belongs to that step):
#   one-to-one:  BENCH_CALLS concurrent 1:1 visits (default 2 5 10 20 40)
#   group:       BENCH_GROUP_ROOMS rooms of BENCH_GROUP_SIZE (default 1 2 3 4 rooms of 10)
#   group-visit: BENCH_VISITS group visits of BENCH_VISIT_SIZE (default 1 2 3 visits of 31: a
#                host and 30 patients, all publishing simulcast, tiles on the low layer and the
#                speaker on the high one, the speaker changing every 5 s, 6 chat messages a
#                minute; on Janus the closest equivalent, see docs/benchmarks.md)
# A server's series stops at its first step that is not held: loss >= 1 %, p99 latency
# >= 50 ms, a failed join, or a subscribed track that never delivered media; in a group visit
# on vardrum also a join -> admitted p95 over 1000 ms or a patient never admitted, a
# speaker-switch p95 over 1000 ms, or a chat message not delivered.
#
# Environment: BENCH_STEP_SECS (15) seconds of load per step after the ramp-up (shorter steps
# let the join burst dominate the p99), BENCH_RAMP (20) joins per second, BENCH_CALLS,
# BENCH_GROUP_ROOMS and BENCH_VISITS (empty: skip that series), BENCH_GROUP_SIZE,
# BENCH_VISIT_SIZE, BENCH_SMOKE=1, BENCH_DOC
# (docs/benchmarks.md), BENCH_KEEP=1 keeps the JSON reports and logs. A load listed twice runs
# twice (BENCH_CALLS="40 40 40": three samples of the same load, for run-to-run noise).
# BENCH_KEEP_GOING=1 runs every listed step even after one was not held (repeated samples of a
# load that neither server holds on this machine).
# Needs root (unshare -n), Debian's janus, jq, curl, python3.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
smoke="${BENCH_SMOKE:-0}"
keep_going="${BENCH_KEEP_GOING:-0}"
step_secs="${BENCH_STEP_SECS:-15}"
ramp="${BENCH_RAMP:-20}"
calls="${BENCH_CALLS-2 5 10 20 40}"
group_rooms="${BENCH_GROUP_ROOMS-1 2 3 4}"
group_size="${BENCH_GROUP_SIZE:-10}"
visits="${BENCH_VISITS-1 2 3}"
visit_size="${BENCH_VISIT_SIZE:-31}"
max_loss="1%"
max_p99_ms=50
max_admit_p95_ms=1000
max_speaker_switch_p95_ms=1000

log() { echo "bench.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# Second stage, inside the namespace: run the steps, write one JSON report per step and a
# steps.tsv index into $2.
if [ "${1:-}" = "--inside" ]; then
    out="$2"
    vardrum="$root/target/release/vardrum"
    loadtest="$root/target/release/vardrum-loadtest"
    server_pid=""
    data=""

    wait_for() { # seconds, command...: poll until the command succeeds
        local deadline=$(( $(date +%s) + $1 )); shift
        until "$@" >/dev/null 2>&1; do
            [ "$(date +%s)" -lt "$deadline" ] || return 1
            kill -0 "$server_pid" 2>/dev/null || return 1
            sleep 0.1
        done
    }
    start_server() { # vardrum|janus, log file
        case "$1" in
        vardrum)
            data="$(mktemp -d "$out/vardrum-data.XXXXXX")"
            "$vardrum" serve --data-dir "$data" --http 127.0.0.1:18080 \
                --media-udp 127.0.0.1:50000 --max-participants 12 >"$2" 2>&1 &
            server_pid=$!
            wait_for 30 curl -sf http://127.0.0.1:18080/healthz \
                || die "vardrum did not come up, see $2"
            ;;
        janus)
            "$here/janus/run-janus.sh" >"$2.ready" 2>"$2" &
            server_pid=$!
            wait_for 20 grep -q '^janus ready' "$2.ready" || die "Janus did not come up, see $2"
            ;;
        esac
    }
    stop_server() {
        kill -INT "$server_pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        [ -z "$data" ] || rm -rf "$data"
        server_pid="" data=""
    }
    trap 'stop_server' EXIT

    # One step: prints "held" or the reason it was not held.
    step() { # server scenario n
        # The step's number in the name: a load listed twice (BENCH_CALLS="40 40") keeps both.
        local server="$1" scenario="$2" n="$3" name
        name="$1-$2-$3-$(( $(wc -l <"$out/steps.tsv") + 1 ))"
        local json="$out/$name.json"
        start_server "$server" "$out/$name.server.log"
        local args=(--no-progress --duration "$step_secs" --ramp-up "$ramp"
            --server-pid "$server_pid" --json "$json"
            --max-loss "$max_loss" --max-latency-p99 "$max_p99_ms" --min-join-success 100%)
        case "$scenario" in
        one-to-one) args+=(--scenario one-to-one --calls "$n") ;;
        group) args+=(--scenario group --rooms "$n" --room-size "$group_size") ;;
        group-visit)
            args+=(--scenario group-visit --rooms "$n" --room-size "$visit_size" --simulcast)
            # What only vardrum's group visits have (Janus VideoRoom has none of it).
            [ "$server" = janus ] || args+=(--max-admit-p95 "$max_admit_p95_ms"
                --max-speaker-switch-p95 "$max_speaker_switch_p95_ms" --min-chat-delivery 100%)
            ;;
        esac
        case "$server" in
        vardrum) args+=(--url http://127.0.0.1:18080 --secret-file "$data/token-secret") ;;
        janus) args+=(--target janus --url ws://127.0.0.1:8188) ;;
        esac
        local rc=0
        "$loadtest" "${args[@]}" >"$out/$name.txt" 2>"$out/$name.err" || rc=$?
        stop_server
        local verdict
        if [ ! -s "$json" ]; then
            verdict="no report (exit $rc: $(tail -1 "$out/$name.err"))"
        else
            verdict="$(jq -r --argjson rc "$rc" '
                if .tracks.receiving < .tracks.expected then
                    "\(.tracks.receiving)/\(.tracks.expected) tracks received"
                elif .joins.succeeded < .joins.attempted then
                    "\(.joins.attempted - .joins.succeeded) joins failed"
                elif .tracks.loss >= 0.01 then "loss \(.tracks.loss * 10000 | round / 100) %"
                elif .tracks.latency_ms.p99 >= '"$max_p99_ms"' then "p99 \(.tracks.latency_ms.p99) ms"
                elif ([.checks[] | select(.passed | not) | .name] | length) > 0 then
                    [.checks[] | select(.passed | not) | "\(.name) \(.actual * 100 | round / 100)"] | join(", ")
                elif $rc != 0 then "exit \($rc)"
                else "held" end' "$json")"
        fi
        printf '%s\t%s\t%s\t%s\t%s\n' "$scenario" "$n" "$server" "$name.json" "$verdict" \
            >>"$out/steps.tsv"
        log "$scenario $n $server: $verdict"
    }

    series() { # scenario, steps...
        local scenario="$1"; shift
        local vardrum_on=1 janus_on=1 n
        for n in "$@"; do
            # Alternate the servers on the same load, vardrum first.
            if [ "$vardrum_on" = 1 ]; then
                step vardrum "$scenario" "$n"
                tail -1 "$out/steps.tsv" | grep -q $'\theld$' || [ "$keep_going" = 1 ] || vardrum_on=0
            fi
            if [ "$janus_on" = 1 ]; then
                step janus "$scenario" "$n"
                tail -1 "$out/steps.tsv" | grep -q $'\theld$' || [ "$keep_going" = 1 ] || janus_on=0
            fi
            [ "$vardrum_on" = 1 ] || [ "$janus_on" = 1 ] || break
            [ "$smoke" != 1 ] || break
        done
    }

    : >"$out/steps.tsv"
    cat /proc/loadavg >"$out/loadavg"
    # shellcheck disable=SC2086
    series one-to-one $calls
    # shellcheck disable=SC2086
    series group $group_rooms
    # shellcheck disable=SC2086
    series group-visit $visits
    exit 0
fi

# ---------------------------------------------------------------------------------------------
# First stage: build, run the second stage in a fresh namespace, write the docs section.
[ "$(id -u)" = 0 ] || die "needs root for 'unshare -n' (a private loopback-only network namespace)"
for tool in jq curl python3 unshare; do
    command -v "$tool" >/dev/null || die "needs $tool"
done
command -v "${JANUS_BIN:-janus}" >/dev/null || die "Janus is not installed: apt-get install -y janus"

started=$(date +%s)
cd "$root"
log "building (release)"
cargo build --release -p vardrum -p vardrum-loadtest

out="$(mktemp -d /tmp/loadtest-bench.XXXXXX)"
log "reports and logs in $out"
steps_started=$(date +%s)
unshare -n "$here/janus/netns.sh" "$here/bench.sh" --inside "$out"
finished=$(date +%s)

commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git -C "$root" status --porcelain 2>/dev/null)" ]; then
    commit="$commit with uncommitted changes"
fi
doc="${BENCH_DOC:-$root/docs/benchmarks.md}"
BENCH_OUT="$out" BENCH_DOC_PATH="$doc" BENCH_COMMIT="$commit" BENCH_STEP="$step_secs" \
BENCH_RAMP_="$ramp" BENCH_GROUP_SIZE_="$group_size" BENCH_VISIT_SIZE_="$visit_size" BENCH_SMOKE_="$smoke" \
BENCH_WALL="$(( finished - steps_started ))" BENCH_CPU="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
BENCH_NPROC="$(nproc)" BENCH_JANUS="$(janus --version 2>/dev/null | grep -o '([0-9.]*)' | head -1 | tr -d '()')" \
python3 - <<'PY'
import json, os, re, datetime

out = os.environ["BENCH_OUT"]
doc = os.environ["BENCH_DOC_PATH"]
smoke = os.environ["BENCH_SMOKE_"] == "1"
steps = []
for line in open(os.path.join(out, "steps.tsv")):
    scenario, n, server, name, verdict = line.rstrip("\n").split("\t")
    path = os.path.join(out, name)
    report = json.load(open(path)) if os.path.exists(path) and os.path.getsize(path) else None
    steps.append(dict(scenario=scenario, n=int(n), server=server, report=report, verdict=verdict))

SCENARIOS = ("one-to-one", "group", "group-visit")

def load(s):
    if s["scenario"] == "one-to-one":
        return f"{s['n']} call" + ("s" if s["n"] != 1 else "")
    if s["scenario"] == "group-visit":
        return f"{s['n']} visit" + ("s" if s["n"] != 1 else "") + f" of {os.environ['BENCH_VISIT_SIZE_']}"
    return f"{s['n']} room" + ("s" if s["n"] != 1 else "") + f" of {os.environ['BENCH_GROUP_SIZE_']}"

def f(v, fmt, unit=""):
    return "–" if v is None else format(v, fmt) + unit

def mib(v):
    return "–" if v is None else f"{v / 1048576:.2f} MiB"

def per_core(cpu, r):
    return None if cpu is None else cpu / max(r["elapsed_secs"], 0.001)

largest = []
for scenario in SCENARIOS:
    for server in ("vardrum", "janus"):
        held = [s for s in steps if s["scenario"] == scenario and s["server"] == server
                and s["verdict"] == "held"]
        tried = [s for s in steps if s["scenario"] == scenario and s["server"] == server]
        if not tried:
            continue
        best = max(held, key=lambda s: s["n"]) if held else None
        failed = [s for s in tried if s["verdict"] != "held"]
        limit = f"{load(failed[0])}: {failed[0]['verdict']}" if failed else "not reached"
        largest.append((scenario, server, best, limit))

rows = ["| scenario | server | largest load held | participants | streams received | server CPU-s per stream-minute | server CPU (cores) | server memory per participant | connect → first video p50 / p95 | load tester CPU (cores) | first step not held |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
for scenario, server, best, limit in largest:
    if best is None:
        rows.append(f"| {scenario} | {server} | none | | | | | | | | {limit} |")
        continue
    r = best["report"]
    sv, t, j = r["server"], r["tracks"], r["joins"]
    rows.append("| " + " | ".join([
        scenario, server, load(best),
        str(r["scenario"]["rooms"] * r["scenario"]["room_size"]),
        str(t["receiving"]),
        f(sv["cpu_secs_per_stream_minute"], ".4f", " s"),
        f(per_core(sv["cpu_secs"], r), ".2f"),
        mib(sv["rss_added_per_participant_bytes"]),
        f"{j['first_video_ms']['p50']:.0f} / {j['first_video_ms']['p95']:.0f} ms",
        f(per_core(r["loadtest_cpu_secs"], r), ".2f"),
        limit,
    ]) + " |")

all_rows = ["| scenario | load | server | joins | streams received / expected | loss | latency p50 / p99 | server CPU (cores) | CPU-s per stream-minute | server peak RSS | load tester CPU (cores) | verdict |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
for s in steps:
    r = s["report"]
    if r is None:
        all_rows.append(f"| {s['scenario']} | {load(s)} | {s['server']} | | | | | | | | | {s['verdict']} |")
        continue
    sv, t, j = r["server"], r["tracks"], r["joins"]
    all_rows.append("| " + " | ".join([
        s["scenario"], load(s), s["server"],
        f"{j['succeeded']}/{j['attempted']}",
        f"{t['receiving']} / {t['expected']}",
        f"{t['loss'] * 100:.2f} %",
        f"{t['latency_ms']['p50']:.1f} / {t['latency_ms']['p99']:.1f} ms",
        f(per_core(sv["cpu_secs"], r), ".2f"),
        f(sv["cpu_secs_per_stream_minute"], ".4f", " s"),
        mib(sv["peak_rss_bytes"]),
        f(per_core(r["loadtest_cpu_secs"], r), ".2f"),
        s["verdict"],
    ]) + " |")

# vardrum's CPU per stream-minute against Janus' at the largest load both held.
ratio = []
for scenario in SCENARIOS:
    both = {}
    for s in steps:
        if s["scenario"] == scenario and s["verdict"] == "held":
            both.setdefault(s["n"], {})[s["server"]] = s["report"]
    common = [n for n, d in both.items() if len(d) == 2]
    if common:
        n = max(common)
        v = both[n]["vardrum"]["server"]["cpu_secs_per_stream_minute"]
        jn = both[n]["janus"]["server"]["cpu_secs_per_stream_minute"]
        if v and jn:
            ratio.append(f"{scenario} at {load(dict(scenario=scenario, n=n))}: vardrum uses "
                         f"**{v / jn * 100:.0f} %** of Janus' server CPU per stream-minute")

# Group visits: what only they measure, every step.
def ms(p, key):
    return "–" if p is None else f"{p[key]:.0f}"

visit_rows = ["| load | server | patients admitted | join → admitted p50 / p95 / max | speaker switches heard / due | speaker-switch delay p50 / p95 / max | chat delivered / due | speaker on top layer | tiles on bottom layer | verdict |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
for s in steps:
    r = s["report"]
    if s["scenario"] != "group-visit" or r is None or r.get("group_visit") is None:
        continue
    gv = r["group_visit"]
    a, sw, c, l = gv.get("admission"), gv.get("speaker_switch"), gv.get("chat"), gv.get("layers")
    p = lambda d: " / ".join(ms(d, k) for k in ("p50", "p95", "max")) + " ms"
    visit_rows.append("| " + " | ".join([
        load(s), s["server"],
        "–" if a is None else f"{a['admitted']} / {a['waiting']}",
        "–" if a is None else p(a["join_to_admitted_ms"]),
        "–" if sw is None else f"{sw['heard']} / {sw['expected']}",
        "–" if sw is None else p(sw["delay_ms"]),
        "–" if c is None else f"{c['received']} / {c['expected']}",
        "–" if l is None else f"{l['speaker_on_top'] * 100:.1f} %",
        "–" if l is None else f"{l['tiles_on_bottom'] * 100:.1f} %",
        s["verdict"],
    ]) + " |")

now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
loadavg = open(os.path.join(out, "loadavg")).read().split()[0]
step = os.environ["BENCH_STEP"]
lines = []
if smoke:
    lines += ["**Smoke run only** (`BENCH_SMOKE=1`: the first step of each series, "
              f"{step} s each): it checks that the set-up works; these are not the benchmark's "
              "numbers. Run `sudo loadtest/bench.sh` for them.", ""]
lines += [
    f"Measured {now} with `loadtest/bench.sh`, release build, commit {os.environ['BENCH_COMMIT']}; "
    f"vardrum against Janus {os.environ['BENCH_JANUS'] or '(version unknown)'} (Debian package, "
    "VideoRoom plugin, `loadtest/janus/config`), alternately on the same load, each step with a "
    f"freshly started server: ramp-up {os.environ['BENCH_RAMP_']} joins/s, then {step} s of load. "
    "Every participant publishes Opus-sized audio (50 packets/s) and 500 kbit/s of 25 fps "
    "synthetic video and receives everyone else in its room. A server's series stops at its first "
    "step with loss ≥ 1 %, p99 latency ≥ 50 ms, a failed join or a stream never received. "
    f"The steps took {int(os.environ['BENCH_WALL']) // 60} min {int(os.environ['BENCH_WALL']) % 60} s "
    "(build not included).",
    "",
    "### Largest load held",
    "",
    *rows,
    "",
]
if ratio:
    lines += ["- " + r for r in ratio] + [""]
lines += [
    "- *streams received*: subscribed tracks (audio and video count one each) that delivered media;",
    "  loss and latency (send → receive through the server) cover the whole step, ramp-up included;",
    "  *server CPU-s per stream-minute*: the server's user+system CPU over the step divided by",
    "  streams × minutes (ramp-up included); *server CPU (cores)*: its CPU seconds per second.",
    "- *server memory per participant*: (peak RSS − RSS before anyone joined) / participants.",
    "- *connect → first video*: a participant's WebSocket connect to the first video packet",
    "  received from another participant (no decoding; includes the server's join, ICE and DTLS).",
    "- *load tester CPU*: `vardrum-loadtest`'s own CPU seconds per second. It runs on the same",
    "  cores as the server; once it needs most of the machine, a series' limit is the load",
    "  generator's as much as the server's.",
    "",
    "### Every step",
    "",
    *all_rows,
    "",
]
if len(visit_rows) > 2:
    lines += [
        "### Group visits",
        "",
        f"A host and {int(os.environ['BENCH_VISIT_SIZE_']) - 1} patients per visit, everyone "
        "publishing simulcast (q/h/f at 125/250/500 kbit/s), every subscriber showing the others "
        "as 320x180 tiles and the speaker at 1280x720 (`track_settings`), the speaker changing "
        "every 5 s (RFC 6464 audio levels), 6 chat messages a minute per visit. Janus VideoRoom "
        "has no waiting room, no speaker messages and no chat: there everyone joins at once and "
        "each subscriber puts the load tester's own speaker on substream 2 and the tiles on "
        "substream 0, so the media load is the same, and those figures are not measured (–).",
        "",
        *visit_rows,
        "",
    ]
lines += [
    f"Machine: {os.environ['BENCH_NPROC']} cores (`nproc`), {os.environ['BENCH_CPU']} "
    f"(`/proc/cpuinfo`); 1-minute load average {loadavg} just before the run. The servers and the "
    "load generator shared these cores, inside one loopback-only network namespace.",
]
section = "\n".join(lines)

start, end = "<!-- loadtest-bench:start -->", "<!-- loadtest-bench:end -->"
text = open(doc).read() if os.path.exists(doc) else "# Benchmarks\n"
if start in text and end in text and text.index(start) < text.index(end):
    before = text[:text.index(start) + len(start)]
    after = text[text.index(end):]
    text = before + "\n" + section + "\n" + after
else:
    text = (text.rstrip("\n") + "\n\n## Load test: vardrum and Janus on the same machine\n\n"
            "`loadtest/bench.sh` regenerates what is between the markers below.\n\n"
            + start + "\n" + section + "\n" + end + "\n")
open(doc, "w").write(text)
print(section)
PY

if [ "${BENCH_KEEP:-0}" != 1 ]; then
    rm -rf "$out"
else
    log "kept $out"
fi
log "done in $(( $(date +%s) - started )) s; wrote $doc"
