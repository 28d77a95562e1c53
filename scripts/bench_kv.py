#!/usr/bin/env python3
"""bench_kv.py BENCH_BINARY RESULTS_DIR [--no-docs] — dwvd against LMDB, SQLite and RocksDB.

Runs dw-kv-bench (bench/kv_bench.c) over the matrix below, each run in its own process
and its own empty directory (the multiwriter workload once per writer count, the
deadline workload DEADLINE_RUNS times in a row per engine), then once more per engine
under a hard memory limit (a cgroup), then a short sync fill per engine under strace to
count the system calls of a commit; reads fio's figures from RESULTS_DIR/io.json
(scripts/bench_io.py, run before by bench.sh) as the device's own limit; writes:

  RESULTS_DIR/kv.json              every run's JSON
  RESULTS_DIR/kv.md                the tables, the goals and the commands
  docs/img/kv-*.png                latency distributions (gnuplot)
  docs/BENCHMARKS.md               the part between the kv-bench markers is replaced by kv.md

--no-docs leaves docs/ alone (kv.md and kv.json only): for a trial run whose figures
should not replace those of the last make bench.

Sizes scale with DW_BENCH_KV_SCALE (default 1.0: 1,000,000 entries where issue 9 asks
for them; see SIZES); DW_BENCH_KV_SECONDS sets the timed workloads' length (default 10 s;
a deadline run takes half of it, DW_BENCH_KV_DEADLINE_SECONDS to choose). A trial of the
whole script in about three minutes: DW_BENCH_KV_SCALE=0.01 DW_BENCH_KV_SECONDS=2.
Every figure is measured in this one run on this one machine.
"""
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import time

ENGINES = ["dwvd", "lmdb", "sqlite", "rocksdb"]
PEERS = ENGINES[1:]
DURABILITIES = ["sync", "relaxed"]
MEMORY = 256 << 20          # what every engine is told it may use (dwvd: memory.ceiling)
LIMITED_MEMORY = 64 << 20   # the same, for the run under a hard limit
CGROUP_LIMIT = 128 << 20    # the hard limit: engine + process + page cache it dirties or maps
RUN_TIMEOUT = 300
# Under the hard limit an engine may thrash for as long as it is let: 120 s is enough to
# tell "slowed down" from "does not finish", and keeps make bench under 20 minutes.
LIMITED_TIMEOUT = 120
SECONDS = int(os.environ.get("DW_BENCH_KV_SECONDS", "10"))
# The deadline goal is zero misses in each of DEADLINE_RUNS consecutive runs; three runs
# of 5 s each give 3,000 critical gets, more than one run of 10 s did, for a minute more.
DEADLINE_SECONDS = int(os.environ.get("DW_BENCH_KV_DEADLINE_SECONDS", str(max(1, SECONDS // 2))))
DEADLINE_RUNS = 3
MULTIWRITER_THREADS = [1, 4]

SCALE = float(os.environ.get("DW_BENCH_KV_SCALE", "1"))


def scaled(n):
    return max(1000, int(n * SCALE))


# One synchronous commit costs a device round trip (~100 us here), so the sync fills
# write fewer entries; relaxed fills and the loads write the full million.
SIZES = {
    ("fillrandom", "sync"): dict(entries=scaled(10000)),
    ("fillrandom", "relaxed"): dict(entries=scaled(1000000)),
    ("fillseq", "sync"): dict(entries=scaled(10000)),
    ("fillseq", "relaxed"): dict(entries=scaled(1000000)),
    ("fill4k", "sync"): dict(entries=scaled(5000), value=4096),
    ("fill4k", "relaxed"): dict(entries=scaled(100000), value=4096),
    ("readrandom", "relaxed"): dict(entries=scaled(1000000), reads=scaled(100000)),
    ("readwhilewriting", "sync"): dict(entries=scaled(100000), seconds=SECONDS),
    ("readwhilewriting", "relaxed"): dict(entries=scaled(100000), seconds=SECONDS),
    ("deadline", "sync"): dict(entries=scaled(100000), seconds=DEADLINE_SECONDS),
    ("deadline", "relaxed"): dict(entries=scaled(100000), seconds=DEADLINE_SECONDS),
    ("multiwriter", "sync"): dict(entries=scaled(10000)),
}
# What the multiwriter table's figures are, said under its heading.
MULTIWRITER_NOTE = {"multiwriter": (
    " Every writer puts keys no other writer puts; puts/s is all writers' puts over the time from their "
    "common start to the last one's end, the latencies are of all puts together. dwvd, LMDB and RocksDB "
    "share one handle between the writers; SQLite gives each its own connection (WAL, busy timeout 10 s, "
    "BEGIN IMMEDIATE per put), so its writers wait in SQLite's busy handler, which sleeps.")}
WORKLOADS = ["fillrandom", "fillseq", "fill4k", "multiwriter", "readrandom", "readwhilewriting", "deadline"]
DEADLINE_PERIOD_US = 5000
DEADLINE_US = 1000
WRITER_RATE = 1000
READERS = 2
WRITERS = 2


def variants(workload):
    """The runs of one engine for one workload and durability, one after another: a run a
    writer count for multiwriter, DEADLINE_RUNS runs of deadline, else one."""
    if workload == "multiwriter":
        return [{"threads": n} for n in MULTIWRITER_THREADS]
    if workload == "deadline":
        return [{"run": i + 1} for i in range(DEADLINE_RUNS)]
    return [{}]


def command_for(binary, engine, workload, durability, directory, memory, variant=None, entries=None):
    size = SIZES[(workload, durability)]
    real = "fillrandom" if workload == "fill4k" else workload
    cmd = [binary, "--engine", engine, "--workload", real, "--durability", durability, "--dir", directory,
           "--entries", str(entries or size["entries"]), "--value-bytes", str(size.get("value", 100)),
           "--memory", str(memory), "--json"]
    if variant and "threads" in variant:
        cmd += ["--threads", str(variant["threads"])]
    if "reads" in size:
        cmd += ["--reads", str(size["reads"])]
    if "seconds" in size:
        cmd += ["--seconds", str(size["seconds"])]
    if workload == "readwhilewriting":
        cmd += ["--writer-rate", str(WRITER_RATE), "--readers", str(READERS)]
    if workload == "deadline":
        cmd += ["--writers", str(WRITERS), "--period-us", str(DEADLINE_PERIOD_US), "--deadline-us", str(DEADLINE_US)]
    return cmd


def run_one(cmd, directory, prefix=None, timeout=RUN_TIMEOUT):
    """Runs one dw-kv-bench in an empty directory; returns its JSON, or a failure record."""
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    full = (prefix or []) + cmd
    started = time.monotonic()
    try:
        p = subprocess.run(full, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        shutil.rmtree(directory, ignore_errors=True)
        return {"ok": False, "error": f"did not finish in {timeout} s", "wall_s": timeout}
    wall = time.monotonic() - started
    record = None
    for line in p.stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
    if record is None:
        reason = f"exit status {p.returncode}"
        if p.returncode < 0:
            reason = f"killed by signal {-p.returncode}" + (" (SIGKILL: the OOM killer)" if p.returncode == -9 else "")
        record = {"ok": False, "error": reason + ("; " + p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "")}
    record["wall_s"] = round(wall, 2)
    shutil.rmtree(directory, ignore_errors=True)
    return record


# ---- the hard memory limit ----------------------------------------------------------------

class MemoryLimit:
    """A cgroup with a memory limit that a command joins before exec (v2, else v1)."""

    def __init__(self, limit):
        self.limit = limit
        self.path = None
        self.kind = None
        self.reason = ""
        own = open("/proc/self/cgroup").read().splitlines()
        v2 = "/sys/fs/cgroup/cgroup.controllers"
        try:
            if os.path.exists(v2) and "memory" in open(v2).read():
                rel = [l.split(":", 2)[2] for l in own if l.startswith("0::")][0]
                parent = "/sys/fs/cgroup" + rel
                self._make(parent, "memory.max", "v2")
            else:
                rel = [l.split(":", 2)[2] for l in own if ":memory:" in l][0]
                parent = "/sys/fs/cgroup/memory" + rel
                self._make(parent, "memory.limit_in_bytes", "v1")
        except (OSError, IndexError) as e:
            self.path = None
            self.reason = f"no writable memory cgroup ({e})"

    def _make(self, parent, limit_file, kind):
        path = os.path.join(parent, "dw-kv-bench")
        if not os.path.isdir(path):
            os.mkdir(path)
        with open(os.path.join(path, limit_file), "w") as f:
            f.write(str(self.limit))
        if kind == "v1":
            # Without swap accounting the limit is RAM alone; with it, forbid swap too.
            swap = os.path.join(path, "memory.memsw.limit_in_bytes")
            if os.path.exists(swap):
                try:
                    with open(swap, "w") as f:
                        f.write(str(self.limit))
                except OSError:
                    pass
        self.path, self.kind = path, kind

    def prefix(self):
        return ["sh", "-c", f'echo $$ > "{self.path}/cgroup.procs" && exec "$0" "$@"']

    def reset_peak(self):
        if self.kind == "v1":
            with open(os.path.join(self.path, "memory.max_usage_in_bytes"), "w") as f:
                f.write("0")

    def peak(self):
        name = "memory.max_usage_in_bytes" if self.kind == "v1" else "memory.peak"
        try:
            return int(open(os.path.join(self.path, name)).read())
        except (OSError, ValueError):
            return None

    def oom_kills(self):
        name = "memory.oom_control" if self.kind == "v1" else "memory.events"
        try:
            for line in open(os.path.join(self.path, name)):
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return None

    def remove(self):
        if self.path:
            try:
                os.rmdir(self.path)
            except OSError:
                pass


# ---- formatting ------------------------------------------------------------------------

def us(ns):
    if ns is None:
        return "—"
    v = ns / 1000
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}"


def mib(b):
    return "—" if b is None else f"{b / 1048576:.1f}"


def ratio(a, b):
    if not a or not b:
        return "—"
    return f"{a / b:.2f}"


def histogram_of(r):
    for name in ("critical", "get", "put"):
        if name in r:
            return r[name]
    return None


def multiwriter_table(rows):
    """One row per engine and writer count; the ratios are against the same engine's one
    writer, which is what the multi-writer goal compares."""
    lines = ["| engine | writers | puts/s | p50 µs | p99 µs | p99.9 µs | p99.99 µs | max µs | peak RSS MiB | "
             "on disk MiB | puts/s ÷ 1 writer | p99.9 ÷ 1 writer |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        threads = r["variant"]["threads"]
        if not r.get("ok"):
            lines.append(f"| {r['engine']} | {threads} | failed: {r.get('error', '?')} ||||||||||")
            continue
        one = next((x for x in rows if x["engine"] == r["engine"] and x["variant"]["threads"] == 1 and x.get("ok")),
                   None)
        h = r["put"]
        lines.append(
            f"| {r['engine']} | {threads} | {r['ops_per_second']:.0f} | {us(h['p50_ns'])} | {us(h['p99_ns'])} | "
            f"{us(h['p999_ns'])} | {us(h['p9999_ns'])} | {us(h['max_ns'])} | {mib(r['peak_rss_bytes'])} | "
            f"{mib(r['disk_bytes'])} | {ratio(r['ops_per_second'], one and one['ops_per_second'])} | "
            f"{ratio(h['p999_ns'], one and one['put']['p999_ns'])} |")
    return lines


def deadline_table(rows):
    lines = ["| engine | run | critical gets | misses | p50 µs | p99 µs | p99.9 µs | max µs | bulk puts/s | "
             "bulk p99.9 µs | peak RSS MiB | on disk MiB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        run = r["variant"]["run"]
        if not r.get("ok"):
            lines.append(f"| {r['engine']} | {run} | failed: {r.get('error', '?')} |||||||||")
            continue
        h, b = r["critical"], r.get("bulk_put", {})
        bulk_rate = r["secondary_operations"] / (r["elapsed_ns"] / 1e9)
        lines.append(f"| {r['engine']} | {run} | {r['operations']} | **{r['misses']}** | {us(h['p50_ns'])} | "
                     f"{us(h['p99_ns'])} | {us(h['p999_ns'])} | {us(h['max_ns'])} | {bulk_rate:.0f} | "
                     f"{us(b.get('p999_ns'))} | {mib(r['peak_rss_bytes'])} | {mib(r['disk_bytes'])} |")
    return lines


def table_for(results, workload, durability):
    rows = [r for r in results if r["key"] == (workload, durability)]
    if workload == "multiwriter":
        return multiwriter_table(rows)
    if workload == "deadline":
        return deadline_table(rows)
    base = next((r for r in rows if r["engine"] == "dwvd"), None)
    base_h = histogram_of(base) if base and base.get("ok") else None
    lines = []
    head = ("| engine | ops/s | p50 µs | p99 µs | p99.9 µs | p99.99 µs | max µs | peak RSS MiB | on disk MiB | "
            "ops/s ÷ dwvd | p99.9 ÷ dwvd | max ÷ dwvd |")
    lines += [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if not r.get("ok"):
            lines.append(f"| {r['engine']} | failed: {r.get('error', '?')} |||||||||||")
            continue
        h = histogram_of(r)
        lines.append(
            f"| {r['engine']} | {r['ops_per_second']:.0f} | {us(h['p50_ns'])} | {us(h['p99_ns'])} | "
            f"{us(h['p999_ns'])} | {us(h['p9999_ns'])} | {us(h['max_ns'])} | {mib(r['peak_rss_bytes'])} | "
            f"{mib(r['disk_bytes'])} | {ratio(r['ops_per_second'], base and base.get('ops_per_second'))} | "
            f"{ratio(h['p999_ns'], base_h and base_h['p999_ns'])} | {ratio(h['max_ns'], base_h and base_h['max_ns'])} |")
    if workload == "readwhilewriting":
        lines += ["", "The writer (target " + f"{WRITER_RATE} puts/s" + "):", "",
                  "| engine | puts/s achieved | p50 µs | p99 µs | p99.9 µs | max µs |", "|---|---:|---:|---:|---:|---:|"]
        for r in rows:
            if r.get("ok") and "put" in r:
                h = r["put"]
                rate = r["secondary_operations"] / (r["elapsed_ns"] / 1e9)
                lines.append(f"| {r['engine']} | {rate:.0f} | {us(h['p50_ns'])} | {us(h['p99_ns'])} | "
                             f"{us(h['p999_ns'])} | {us(h['max_ns'])} |")
    return lines


def plotted_runs(results, workload, durability):
    """The runs a plot shows and the label of each: every writer count of multiwriter;
    of the deadline runs, each engine's worst (most misses, then the largest max)."""
    rows = [r for r in results if r["key"] == (workload, durability) and r.get("ok")]
    if workload == "multiwriter":
        return [(r, f"{r['engine']}, {r['variant']['threads']} writer" + ("s" if r["variant"]["threads"] > 1 else ""))
                for r in rows]
    if workload == "deadline":
        worst = {}
        for r in rows:
            w = worst.get(r["engine"])
            if w is None or (r["misses"], r["critical"]["max_ns"]) > (w["misses"], w["critical"]["max_ns"]):
                worst[r["engine"]] = r
        return [(r, f"{r['engine']} (run {r['variant']['run']})") for r in worst.values()]
    return [(r, r["engine"]) for r in rows]


def plot(results, workload, durability, image_dir):
    """A latency distribution per engine: latency against percentile, log-log (the
    x axis is 1/(1-p), so 99.99 % sits four decades from 0 %)."""
    runs = plotted_runs(results, workload, durability)
    if not runs or shutil.which("gnuplot") is None:
        return None
    name = f"kv-{workload}-{durability}.png"
    data_files = []
    for i, (r, label) in enumerate(runs):
        h = histogram_of(r)
        path = os.path.join(image_dir, f".{r['engine']}-{i}.dat")
        with open(path, "w") as f:
            for per_million, ns in h["distribution"]:
                x = 1e6 / max(1, 1e6 - per_million) if per_million < 1e6 else 1e6 / 0.5
                f.write(f"{x} {max(ns, 1) / 1000}\n")
        data_files.append((label, path))
    what = {"fillrandom": "put", "fillseq": "put", "fill4k": "put (4 KiB)", "readrandom": "get",
            "readwhilewriting": "get (beside a writer)", "deadline": "critical get (beside bulk writers)",
            "multiwriter": "put (all writers together)"}[workload]
    script = f"""
set terminal pngcairo size 900,520 font 'sans,10'
set output '{os.path.join(image_dir, name)}'
set title '{workload}, {durability}: latency of each {what}'
set logscale xy
set xlabel 'percentile'
set ylabel 'latency (µs)'
set xtics ('50%%' 2, '90%%' 10, '99%%' 100, '99.9%%' 1000, '99.99%%' 10000, '99.999%%' 100000, 'max' 2000000)
set grid
set key top left
plot """ + ", ".join(f"'{p}' using 1:2 with linespoints title '{e}'" for e, p in data_files)
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    for _, p in data_files:
        os.remove(p)
    return name


# ---- the goals -----------------------------------------------------------------------------
#
# The targets of the issue being worked on, one goal line each:
#   sync fillrandom (100-byte values): dwvd p50 <= 1.5x fio's 4 KiB write+fdatasync p50 and
#     <= the best peer's p50; p99.9 <= the best peer's p99.9; fill4k sync p50 <= 2x fio's
#   relaxed fillrandom: ops/s >= RocksDB's and >= 0.8x LMDB's; p99.9 <= 2x RocksDB's
#   multiwriter, 4 writers of strict puts: dwvd >= 3x its one writer's ops/s, p99.9 <= 2x
#     its one writer's
#   readrandom (1M keys, the data fits under the ceiling): ops/s >= 0.5x LMDB's and >= 2x
#     RocksDB's; p99.9 <= 25 us
#   readwhilewriting, sync and relaxed: reader ops/s >= 0.5x LMDB's; reader p99.9 <= RocksDB's
#   deadline: 0 critical misses, sync and relaxed, in each of DEADLINE_RUNS consecutive runs

def find(results, engine, workload, durability, **variant):
    return next((r for r in results if r["engine"] == engine and r["key"] == (workload, durability) and
                 all(r.get("variant", {}).get(k) == v for k, v in variant.items())), None)


def succeeded(r):
    return r is not None and r.get("ok")


def failed_clause(what, r):
    return False, f"{what} failed ({r.get('error', '?') if r else 'not run'})"


def clause(value, limit, at_most, text, goal):
    """One condition of a goal: whether it is met (None: not measured) and its text, the
    figures followed by the goal and the verdict."""
    if value is None:
        return None, f"{text} (goal {goal}: not measured)"
    met = value <= limit if at_most else value >= limit
    return met, f"{text} (goal {goal}: {'met' if met else 'missed'})"


def goal_line(title, clauses, extra=""):
    verdicts = [met for met, _ in clauses]
    if any(met is False for met in verdicts):
        overall = "**missed**"
    elif all(met is True for met in verdicts):
        overall = "**met**"
    else:
        overall = "**not measured**"
    return f"- **{title}**: {overall}. " + "; ".join(text for _, text in clauses) + "." + (" " + extra if extra else "")


def fraction(a, b):
    return a / b if a is not None and b else None


def times(f):
    return "?×" if f is None else f"{f:.2f}×"


def sync_fill_goal(results, fio):
    # The write and the fdatasync after it, from fio's randwrite --fdatasync=1 job: fio
    # reports their latencies apart, and until 2026-12-04 this goal was measured against
    # the write's alone, which is not a durable write (docs/BENCHMARKS.md says so).
    fio_p50 = fio.get("durable_write_p50") if fio else None
    fio_text = (f"fio's 4 KiB write+fdatasync p50 of {us(fio_p50)} µs (write {us(fio['randwrite_fdatasync_p50'])} µs "
                f"+ fdatasync {us(fio['fdatasync_p50'])} µs)" if fio_p50 else
                "fio's 4 KiB write+fdatasync p50 (no fio figures: scripts/bench_io.py did not run)")
    d = find(results, "dwvd", "fillrandom", "sync")
    if not succeeded(d):
        return goal_line("Sync fillrandom (100-byte values)", [failed_clause("dwvd's run", d)])
    h = d["put"]
    f = fraction(h["p50_ns"], fio_p50)
    clauses = [clause(f, 1.5, True, f"p50 {us(h['p50_ns'])} µs = {times(f)} {fio_text}", "≤ 1.5×")]
    peers = [p for p in (find(results, e, "fillrandom", "sync") for e in PEERS) if succeeded(p)]
    for key, label in (("p50_ns", "p50"), ("p999_ns", "p99.9")):
        best = min(peers, key=lambda p: p["put"][key]) if peers else None
        f = fraction(h[key], best and best["put"][key])
        against = f"{best['engine']}'s {us(best['put'][key])} µs" if best else "no peer ran"
        text = (f"p50 = {times(f)} the best peer's, {against}" if key == "p50_ns" else
                f"p99.9 {us(h[key])} µs = {times(f)} the best peer's, {against}")
        clauses.append(clause(f, 1, True, text, f"≤ the best peer's {label}"))
    d4 = find(results, "dwvd", "fill4k", "sync")
    if succeeded(d4):
        f = fraction(d4["put"]["p50_ns"], fio_p50)
        clauses.append(clause(f, 2, True, f"fill4k p50 {us(d4['put']['p50_ns'])} µs = {times(f)} fio's", "≤ 2×"))
    else:
        clauses.append(failed_clause("dwvd's fill4k run", d4))
    return goal_line("Sync fillrandom (100-byte values)", clauses)


def relaxed_fill_goal(results):
    title = "Relaxed fillrandom"
    d, l, r = (find(results, e, "fillrandom", "relaxed") for e in ("dwvd", "lmdb", "rocksdb"))
    if not succeeded(d):
        return goal_line(title, [failed_clause("dwvd's run", d)])
    rocks = r["ops_per_second"] if succeeded(r) else None
    lmdb = l["ops_per_second"] if succeeded(l) else None
    f = fraction(d["ops_per_second"], rocks)
    clauses = [clause(f, 1, False, f"{d['ops_per_second']:.0f} ops/s = {times(f)} RocksDB's "
                      f"{rocks or 0:.0f}", "≥ RocksDB's")]
    f = fraction(d["ops_per_second"], lmdb)
    clauses.append(clause(f, 0.8, False, f"{times(f)} LMDB's {lmdb or 0:.0f}", "≥ 0.8×"))
    rp = r["put"]["p999_ns"] if succeeded(r) else None
    f = fraction(d["put"]["p999_ns"], rp)
    clauses.append(clause(f, 2, True, f"p99.9 {us(d['put']['p999_ns'])} µs = {times(f)} RocksDB's {us(rp)} µs",
                          "≤ 2×"))
    return goal_line(title, clauses)


def multiwriter_goal(results):
    title = "Multi-writer, 4 writers of strict puts"
    one, four = (find(results, "dwvd", "multiwriter", "sync", threads=n) for n in (1, 4))
    if not (succeeded(one) and succeeded(four)):
        return goal_line(title, [failed_clause("dwvd's run", four if succeeded(one) else one)])
    f = fraction(four["ops_per_second"], one["ops_per_second"])
    clauses = [clause(f, 3, False, f"{four['ops_per_second']:.0f} puts/s = {times(f)} one writer's "
                      f"{one['ops_per_second']:.0f}", "≥ 3×")]
    f = fraction(four["put"]["p999_ns"], one["put"]["p999_ns"])
    clauses.append(clause(f, 2, True, f"p99.9 {us(four['put']['p999_ns'])} µs = {times(f)} one writer's "
                          f"{us(one['put']['p999_ns'])} µs", "≤ 2×"))
    peers = []
    for e in PEERS:
        p1, p4 = (find(results, e, "multiwriter", "sync", threads=n) for n in (1, 4))
        if succeeded(p1) and succeeded(p4):
            peers.append(f"{e} {times(fraction(p4['ops_per_second'], p1['ops_per_second']))}")
    extra = ("The peers' 4 writers against their one, in puts/s: " + ", ".join(peers) + ".") if peers else ""
    return goal_line(title, clauses, extra)


def readrandom_goal(results):
    d, l, r = (find(results, e, "readrandom", "relaxed") for e in ("dwvd", "lmdb", "rocksdb"))
    size = SIZES[("readrandom", "relaxed")]
    entries = d["entries"] if succeeded(d) else size["entries"]
    data = entries * (16 + (d["value_bytes"] if succeeded(d) else size.get("value", 100)))
    title = (f"readrandom ({entries:,} keys, {data / 1048576:.0f} MiB of keys and values under the "
             f"{MEMORY >> 20} MiB ceiling)")
    if not succeeded(d):
        return goal_line(title, [failed_clause("dwvd's run", d)])
    lmdb = l["ops_per_second"] if succeeded(l) else None
    rocks = r["ops_per_second"] if succeeded(r) else None
    f = fraction(d["ops_per_second"], lmdb)
    clauses = [clause(f, 0.5, False, f"{d['ops_per_second']:.0f} gets/s = {times(f)} LMDB's {lmdb or 0:.0f}",
                      "≥ 0.5×")]
    f = fraction(d["ops_per_second"], rocks)
    clauses.append(clause(f, 2, False, f"{times(f)} RocksDB's {rocks or 0:.0f}", "≥ 2×"))
    p999 = d["get"]["p999_ns"]
    clauses.append(clause(p999 / 1000, 25, True, f"p99.9 {us(p999)} µs", "≤ 25 µs"))
    return goal_line(title, clauses)


def readwhilewriting_goal(results):
    clauses = []
    for durability in DURABILITIES:
        d, l, r = (find(results, e, "readwhilewriting", durability) for e in ("dwvd", "lmdb", "rocksdb"))
        if not succeeded(d):
            clauses.append(failed_clause(f"{durability}: dwvd's run", d))
            continue
        lmdb = l["ops_per_second"] if succeeded(l) else None
        f = fraction(d["ops_per_second"], lmdb)
        clauses.append(clause(f, 0.5, False, f"{durability}: readers {d['ops_per_second']:.0f} gets/s = {times(f)} "
                              f"LMDB's {lmdb or 0:.0f}", "≥ 0.5×"))
        rp = r["get"]["p999_ns"] if succeeded(r) else None
        f = fraction(d["get"]["p999_ns"], rp)
        clauses.append(clause(f, 1, True, f"reader p99.9 {us(d['get']['p999_ns'])} µs = {times(f)} RocksDB's "
                              f"{us(rp)} µs", "≤ RocksDB's"))
    return goal_line("readwhilewriting, sync and relaxed", clauses)


def deadline_goal(results):
    clauses = []
    peers = []
    for durability in DURABILITIES:
        runs = [find(results, "dwvd", "deadline", durability, run=i + 1) for i in range(DEADLINE_RUNS)]
        bad = next((r for r in runs if not succeeded(r)), "all")
        if bad != "all":
            clauses.append(failed_clause(f"{durability}: a dwvd run", bad))
            continue
        misses = [r["misses"] for r in runs]
        gets = "/".join(str(r["operations"]) for r in runs)
        worst = max(r["critical"]["max_ns"] for r in runs)
        clauses.append(clause(max(misses), 0, True, f"{durability}: {', '.join(map(str, misses))} critical misses "
                              f"in runs 1–{DEADLINE_RUNS}, of {gets} gets, max {us(worst)} µs",
                              "0 in every run"))
        for e in PEERS:
            p = [find(results, e, "deadline", durability, run=i + 1) for i in range(DEADLINE_RUNS)]
            peers.append(f"{e} {durability} " + "/".join(str(x["misses"]) if succeeded(x) else "failed" for x in p))
    return goal_line(f"Deadline, sync and relaxed, {DEADLINE_RUNS} consecutive runs each", clauses,
                     "Peers' misses by run: " + ", ".join(peers) + ".")


def goals(results, fio):
    return [sync_fill_goal(results, fio), relaxed_fill_goal(results), multiwriter_goal(results),
            readrandom_goal(results), readwhilewriting_goal(results), deadline_goal(results)]


def memory_lines(results, limited):
    """Peak memory against the ceiling, and the run under the hard limit: measured on
    every make bench, not a goal of the issue above."""
    out = []
    worst = max((r for r in results if r["engine"] == "dwvd" and r.get("ok")), key=lambda r: r["peak_rss_bytes"],
                default=None)
    if worst:
        over = [r for r in results if r["engine"] == "dwvd" and r.get("ok") and r["peak_rss_bytes"] > MEMORY]
        out.append(f"- **Peak memory**: dwvd's largest VmHWM {mib(worst['peak_rss_bytes'])} MiB "
                   f"({worst['key'][0]}, {worst['key'][1]}) against memory.ceiling {MEMORY >> 20} MiB: " +
                   ("at or below it in every workload" if not over else f"above it in {len(over)} runs") +
                   " (VmHWM counts the whole process: the harness's own buffers and the C library too).")
    d = next((x for x in limited if x["engine"] == "dwvd"), None)
    if d:
        out.append(f"- Under the hard limit dwvd " + ("completed" if d.get("ok") else f"failed ({d.get('error')})") +
                   f", VmHWM {mib(d.get('peak_rss_bytes'))} MiB with memory.ceiling {LIMITED_MEMORY >> 20} MiB.")
    return out


# ---- system calls per strict commit ------------------------------------------------------
#
# Each engine's sync fillrandom runs twice under `strace -f`, with N and with 2N puts; the
# difference of the two runs' counts over N is what one commit costs, with what opening,
# loading and closing cost taken out. The full trace is read rather than `strace -c`'s
# summary because it tells the threads apart and shows each write's flags (RWF_DSYNC).

SYSCALL_ENTRIES = 2000
SYNC_CALLS = ("fdatasync", "fsync", "msync", "syncfs", "sync")
WRITE_CALLS = ("write", "pwrite64", "pwritev", "pwritev2", "writev")
TRACE_LINE = re.compile(r"^(\d+)\s+([a-z_][a-z0-9_]*)\(")
RESUMED_LINE = re.compile(r"^(\d+)\s+<\.\.\. ([a-z_][a-z0-9_]*) resumed>")
FIRST_ARGUMENT = re.compile(r"(\d+)[,)]")
RETURN_VALUE = re.compile(r"\) += (\d+)\s*$")


def trace_counts(path):
    """Counts an `strace -f` log's calls by name, for the process's first thread (the one
    that calls put in a fill) and for all its other threads; a call that strace shows as
    "unfinished" and later "resumed" is counted once, at its start. A write is durable
    when its flags include RWF_DSYNC or RWF_SYNC, or when its file descriptor was opened
    with O_DSYNC or O_SYNC (LMDB writes its meta page so)."""
    caller = None
    counts = {"caller": {}, "others": {}}
    durable = {"caller": 0, "others": 0}
    sync_fds, pending_open = set(), {}
    with open(path, errors="replace") as f:
        for line in f:
            resumed = RESUMED_LINE.match(line)
            if resumed and resumed.group(2) in ("open", "openat") and pending_open.pop(resumed.group(1), False):
                fd = RETURN_VALUE.search(line)
                if fd:
                    sync_fds.add(int(fd.group(1)))
            m = TRACE_LINE.match(line)
            if not m:
                continue
            tid, name = m.group(1), m.group(2)
            caller = caller or tid
            side = "caller" if tid == caller else "others"
            counts[side][name] = counts[side].get(name, 0) + 1
            first = FIRST_ARGUMENT.match(line, m.end())
            if name in ("open", "openat") and ("O_DSYNC" in line or "O_SYNC" in line):
                fd = RETURN_VALUE.search(line)
                if fd:
                    sync_fds.add(int(fd.group(1)))
                else:
                    pending_open[tid] = True
            elif name == "close" and first:
                sync_fds.discard(int(first.group(1)))
            elif name in WRITE_CALLS and first and (int(first.group(1)) in sync_fds or
                                                    "RWF_DSYNC" in line or "RWF_SYNC" in line):
                durable[side] += 1
    return {"counts": counts, "durable_writes": durable}


def per_commit(small, large, entries):
    out = {}
    for side in ("caller", "others"):
        a, b = small["counts"][side], large["counts"][side]
        calls = {name: (b.get(name, 0) - a.get(name, 0)) / entries for name in set(a) | set(b)}
        writes = (large["durable_writes"][side] - small["durable_writes"][side]) / entries
        syncs = sum(calls.get(name, 0) for name in SYNC_CALLS) + writes
        out[side] = {"calls": calls, "all": sum(calls.values()), "durable_writes": writes, "syncs": syncs}
    return out


def measure_syscalls(binary, work, results_dir, done, total):
    """Runs each engine's sync fill of SYSCALL_ENTRIES and twice as many puts under strace;
    returns per engine the calls of one commit, or why it could not."""
    out = {}
    for engine in ENGINES:
        done += 1
        print(f"[{done}/{total}] {engine:8} fillrandom sync under strace, {SYSCALL_ENTRIES} and "
              f"{2 * SYSCALL_ENTRIES} puts ", end="", flush=True)
        if shutil.which("strace") is None:
            out[engine] = {"error": "strace is not installed"}
            print("skipped: no strace")
            continue
        traces = {}
        for entries in (SYSCALL_ENTRIES, 2 * SYSCALL_ENTRIES):
            path = os.path.join(results_dir, f"kv-strace-{engine}-{entries}.txt")
            cmd = command_for(binary, engine, "fillrandom", "sync", work, MEMORY, entries=entries)
            r = run_one(cmd, work, prefix=["strace", "-f", "-qq", "-s", "0", "-o", path])
            if r.get("ok") and os.path.exists(path):
                traces[entries] = trace_counts(path)
            else:
                out[engine] = {"error": r.get("error", "no trace")}
            if os.path.exists(path):
                os.remove(path)
        if len(traces) == 2:
            out[engine] = per_commit(traces[SYSCALL_ENTRIES], traces[2 * SYSCALL_ENTRIES], SYSCALL_ENTRIES)
            c = out[engine]["caller"]
            print(f"caller {c['all']:.2f} calls, {c['syncs']:.2f} syncs a commit; other threads "
                  f"{out[engine]['others']['all']:.2f} calls", flush=True)
        else:
            print(f"FAILED: {out[engine]['error']}", flush=True)
    return out


def syscall_section(syscalls):
    engines = [e for e in ENGINES if e in syscalls and "error" not in syscalls[e]]
    lines = ["### System calls per strict commit", "",
             f"Each engine's sync fillrandom (100-byte values) of {SYSCALL_ENTRIES:,} and then "
             f"{2 * SYSCALL_ENTRIES:,} puts under `strace -f`; a figure is (calls in the second run − calls in "
             f"the first) ÷ {SYSCALL_ENTRIES:,}, so what opening, closing and creating the files cost cancels out. "
             "*caller* is the thread that calls put, *others* every other thread of the process (dwvd's I/O "
             "thread, RocksDB's background threads). **Syncs** are fdatasync, fsync and msync calls plus durable "
             "writes: write/pwrite/pwritev2 calls whose flags include RWF_DSYNC or RWF_SYNC, or whose file was "
             "opened with O_DSYNC or O_SYNC (LMDB's meta page). The full trace is read, not `strace -c`'s summary, "
             "because only the trace shows each call's flags and thread. strace cannot see inside io_uring: a write or fsync "
             "submitted through the ring is in no count but its io_uring_enter's, so where a thread uses "
             "io_uring its syncs are a lower bound. Tracing makes every call slower, so calls made on a timer "
             "(futex waits with a timeout) weigh more than in an untraced run, and calls that do not come with "
             "commits (timers, a checkpoint when a threshold is crossed) make the figures noisy by as much as "
             "they weigh: a negative figure is such noise. Calls below 0.005 a commit are left out of the rows "
             "(not of *all calls*).", ""]
    for e in ENGINES:
        if e in syscalls and "error" in syscalls[e]:
            lines += [f"{e}: not measured ({syscalls[e]['error']}).", ""]
    if not engines:
        return lines
    names = set()
    for e in engines:
        for side in ("caller", "others"):
            names |= {n for n, v in syscalls[e][side]["calls"].items() if abs(v) >= 0.005}
    weight = {n: max(syscalls[e]["caller"]["calls"].get(n, 0) + syscalls[e]["others"]["calls"].get(n, 0)
                     for e in engines) for n in names}
    lines += ["| system call | " + " | ".join(f"{e}: caller | {e}: others" for e in engines) + " |",
              "|---|" + "---:|" * (2 * len(engines))]

    def cell(v):
        return "·" if abs(v) < 0.005 else f"{v:.2f}"

    for name in sorted(names, key=lambda n: (-weight[n], n)):
        lines.append(f"| {name} | " + " | ".join(f"{cell(syscalls[e]['caller']['calls'].get(name, 0))} | "
                                                 f"{cell(syscalls[e]['others']['calls'].get(name, 0))}"
                                                 for e in engines) + " |")
    for label, key in (("**all calls**", "all"), ("durable writes (of the calls above)", "durable_writes"),
                       ("**syncs**", "syncs")):
        lines.append(f"| {label} | " + " | ".join(f"{cell(syscalls[e]['caller'][key])} | "
                                                  f"{cell(syscalls[e]['others'][key])}" for e in engines) + " |")
    return lines + [""]


def fio_reference(results_dir):
    path = os.path.join(results_dir, "io.json")
    if not os.path.exists(path):
        return None
    rows = json.load(open(path))["rows"]
    out = {}
    for r in rows:
        if r["engine"] != "fio" or r["queue_depth"] != 1:
            continue
        name = "randwrite_fdatasync" if "write" in r["workload"] else "randread"
        out[name + "_p50"] = r["p50"]
        out[name + "_p99"] = r["p99"]
        out[name + "_p999"] = r["p999"]
        out[name + "_iops"] = r["iops"]
        if "cycle_p50" in r:
            # The write and its fdatasync: what one durable 4 KiB write costs (bench_io.py).
            out["durable_write_p50"] = r["cycle_p50"]
            out["durable_write_p999"] = r["cycle_p999"]
            out["fdatasync_p50"] = r["sync_p50"]
    return out


def main():
    arguments = [a for a in sys.argv[1:] if a != "--no-docs"]
    write_docs = len(arguments) == len(sys.argv) - 1
    if len(arguments) != 2:
        print("usage: bench_kv.py BENCH_BINARY RESULTS_DIR [--no-docs]", file=sys.stderr)
        sys.exit(2)
    binary, results_dir = arguments
    image_dir = os.path.join("docs", "img") if write_docs else os.path.join(results_dir, "img")
    os.makedirs(image_dir, exist_ok=True)
    work = os.path.join(results_dir, "kv-data")
    keys = [(w, d) for w in WORKLOADS for d in DURABILITIES if (w, d) in SIZES]
    results = []
    started = time.monotonic()
    total = sum(len(variants(key[0])) for key in keys) * len(ENGINES) + 2 * len(ENGINES)
    done = 0
    for key in keys:
        for engine in ENGINES:
            for variant in variants(key[0]):
                done += 1
                cmd = command_for(binary, engine, key[0], key[1], work, MEMORY, variant)
                label = key[0]
                if "threads" in variant:
                    label += f", {variant['threads']} writer" + ("s" if variant["threads"] > 1 else "")
                if "run" in variant:
                    label += f", run {variant['run']}"
                print(f"[{done}/{total}] {engine:8} {label:22} {key[1]:8} ", end="", flush=True)
                r = run_one(cmd, work)
                r.update(engine=engine, key=key, variant=variant, command=" ".join(cmd[1:]).replace(work, "DIR"))
                results.append(r)
                if r.get("ok"):
                    h = histogram_of(r)
                    extra = f" misses {r['misses']}" if key[0] == "deadline" else ""
                    print(f"{r['ops_per_second']:10.0f} ops/s  p50 {us(h['p50_ns']):>6} us  p99.9 "
                          f"{us(h['p999_ns']):>7} us  max {us(h['max_ns']):>7} us  RSS {mib(r['peak_rss_bytes'])} "
                          f"MiB{extra}  ({r['wall_s']} s)", flush=True)
                else:
                    print(f"FAILED: {r.get('error')}", flush=True)

    # Each engine once more under a hard memory limit: read random (1M loaded).
    limit = MemoryLimit(CGROUP_LIMIT)
    limited = []
    for engine in ENGINES:
        done += 1
        cmd = command_for(binary, engine, "readrandom", "relaxed", work, LIMITED_MEMORY)
        print(f"[{done}/{total}] {engine:8} readrandom under a {CGROUP_LIMIT >> 20} MiB limit ", end="", flush=True)
        if limit.path is None:
            print(f"skipped: {limit.reason}")
            limited.append({"engine": engine, "ok": False, "error": "not run: " + limit.reason})
            continue
        limit.reset_peak()
        kills_before = limit.oom_kills() or 0
        r = run_one(cmd, work, prefix=limit.prefix(), timeout=LIMITED_TIMEOUT)
        r.update(engine=engine, cgroup_peak_bytes=limit.peak(),
                 oom_kills=(limit.oom_kills() or 0) - kills_before)
        limited.append(r)
        print((f"{r['ops_per_second']:10.0f} ops/s, load {r['load_ns'] / 1e9:.1f} s, RSS "
               f"{mib(r['peak_rss_bytes'])} MiB, cgroup peak {mib(r['cgroup_peak_bytes'])} MiB") if r.get("ok")
              else f"FAILED: {r.get('error')}", flush=True)
    limit.remove()
    syscalls = measure_syscalls(binary, work, results_dir, done, total)
    elapsed = time.monotonic() - started

    fio = fio_reference(results_dir)
    json.dump({"results": results, "limited": limited, "syscalls": syscalls, "fio": fio},
              open(os.path.join(results_dir, "kv.json"), "w"), indent=1)

    md = []
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = int(next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))) >> 20
    versions = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Version}\\n", "liblmdb-dev", "libsqlite3-dev",
                               "librocksdb-dev", "fio"], capture_output=True, text=True).stdout.strip().splitlines()
    md += [f"Machine: {cpu}, {os.cpu_count()} cores, {mem} GiB, Linux {platform.release()}; "
           f"file system of `{os.path.abspath(results_dir)}`; peers from Debian: {', '.join(versions)}. "
           f"Run {time.strftime('%Y-%m-%d %H:%M')}, {elapsed / 60:.1f} minutes for this part.", "",
           f"Command: `make bench` (`scripts/bench_kv.py {binary} {results_dir}`; DW_BENCH_KV_SCALE={SCALE:g}). "
           f"Every engine is told it may use {MEMORY >> 20} MiB (`--memory`): dwvd's memory.ceiling, "
           "SQLite's page caches, RocksDB's memtable and block cache (LMDB has no setting: it uses the page cache). "
           "One run's command line, for example:", "",
           "```", "dw-kv-bench " + results[0]["command"], "```", ""]
    if fio:
        md += [f"The device's own limit, from fio in the same `make bench` (4 KiB, QD1, O_DIRECT): a write "
               f"and its fdatasync, p50 {us(fio.get('durable_write_p50'))} µs, p99.9 {us(fio.get('durable_write_p999'))} µs "
               f"({fio['randwrite_fdatasync_iops']:.0f}/s; of which the write alone p50 {us(fio['randwrite_fdatasync_p50'])} µs, "
               f"p99.9 {us(fio['randwrite_fdatasync_p999'])} µs, and the fdatasync p50 {us(fio.get('fdatasync_p50'))} µs); "
               f"random read p50 {us(fio['randread_p50'])} µs, p99.9 {us(fio['randread_p999'])} µs. Runs before "
               "2026-12-04 compared the sync goal with the write alone; fio times the write and the fdatasync apart, "
               "and the goal is a durable write, so the two are added now.", ""]
    md += ["### Goals", ""] + goals(results, fio) + [""]
    md += ["Also measured on every run:", ""] + memory_lines(results, limited) + [""]
    titles = {"fillrandom": "Fill random (100-byte values, one commit per put)",
              "fillseq": "Fill sequential (100-byte values, keys ascending)",
              "fill4k": "Fill random with 4 KiB values",
              "readrandom": "Read random (one thread; loaded with batched commits first)",
              "readwhilewriting": f"Read while writing ({READERS} readers, one writer at {WRITER_RATE} puts/s)",
              "deadline": (f"Deadline (a critical get every {DEADLINE_PERIOD_US / 1000:g} ms, deadline "
                           f"{DEADLINE_US / 1000:g} ms; {WRITERS} bulk writers of 4 KiB values; "
                           f"{DEADLINE_RUNS} runs in a row)"),
              "multiwriter": ("Multiple writers (each putting its own random keys, one commit per put; "
                              + " and ".join(map(str, MULTIWRITER_THREADS)) + " writers)")}
    for workload in WORKLOADS:
        for durability in DURABILITIES:
            if (workload, durability) not in SIZES:
                continue
            size = SIZES[(workload, durability)]
            md += [f"### {titles[workload]} — {durability}", "",
                   f"{size['entries']:,} entries" + (f", {size['reads']:,} reads" if "reads" in size else "") +
                   (f", {size['seconds']} s" if "seconds" in size else "") +
                   (" a run" if workload == "deadline" else "") + "." + MULTIWRITER_NOTE.get(workload, ""), ""]
            md += table_for(results, workload, durability)
            image = plot(results, workload, durability, image_dir)
            if image and write_docs:
                md += ["", f"![{workload} {durability}](img/{image})"]
            md.append("")
    md += [f"### Under a hard memory limit ({CGROUP_LIMIT >> 20} MiB)", "",
           f"Read random again, each engine in a memory cgroup ({limit.kind or 'none'}) limited to "
           f"{CGROUP_LIMIT >> 20} MiB, which counts the process and the page cache it uses; every engine told "
           f"{LIMITED_MEMORY >> 20} MiB.", "",
           "| engine | result | load s | gets/s | p99.9 µs | max µs | VmHWM MiB | cgroup peak MiB | "
           "gets/s ÷ unlimited |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in limited:
        free = find(results, r["engine"], "readrandom", "relaxed")
        if r.get("ok"):
            md.append(f"| {r['engine']} | completed | {r['load_ns'] / 1e9:.1f} | {r['ops_per_second']:.0f} | "
                      f"{us(r['get']['p999_ns'])} | {us(r['get']['max_ns'])} | {mib(r['peak_rss_bytes'])} | "
                      f"{mib(r.get('cgroup_peak_bytes'))} | "
                      f"{ratio(r['ops_per_second'], free and free.get('ops_per_second'))} |")
        else:
            md.append(f"| {r['engine']} | **failed**: {r.get('error')} (OOM kills: {r.get('oom_kills', '—')}) "
                      f"||||||||")
    md += [""] + syscall_section(syscalls)
    md += ["What each durability level means for each engine:", "",
           "| engine | sync per commit | relaxed |", "|---|---|---|"]
    seen = {}
    for r in results:
        if r.get("ok"):
            seen.setdefault(r["engine"], {})[r["durability"]] = r["durability_meaning"]
    for engine in ENGINES:
        m = seen.get(engine, {})
        md.append(f"| {engine} | {m.get('sync', '—')} | {m.get('relaxed', '—')} |")
    text = "\n".join(md) + "\n"
    open(os.path.join(results_dir, "kv.md"), "w").write(text)

    failed = [r for r in results if not r.get("ok")]
    if not write_docs:
        print(f"(tables in {results_dir}/kv.md, plots in {image_dir}; --no-docs: docs/ left alone)")
        print(f"kv bench: {len(results)} runs, {len(failed)} failed, {elapsed / 60:.1f} minutes")
        return
    doc = "docs/BENCHMARKS.md"
    begin, end = "<!-- kv-bench:begin (written by scripts/bench_kv.py) -->", "<!-- kv-bench:end -->"
    page = open(doc).read()
    if begin in page and end in page:
        head, rest = page.split(begin, 1)
        page = head + begin + "\n" + text + end + rest.split(end, 1)[1]
        open(doc, "w").write(page)
        print(f"(tables in {results_dir}/kv.md and {doc}; plots in {image_dir}/kv-*.png)")
    else:
        print(f"(tables in {results_dir}/kv.md; {doc} has no kv-bench markers, left alone)")
    print(f"kv bench: {len(results)} runs, {len(failed)} failed, {elapsed / 60:.1f} minutes")


if __name__ == "__main__":
    main()
