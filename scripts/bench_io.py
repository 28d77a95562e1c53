#!/usr/bin/env python3
"""bench_io.py — dwvd's I/O engine against fio, on the same file, in the same run.

Usage: bench_io.py DW FILE SIZE SECONDS ROUNDS OUT_JSON

Each round runs fio's three workloads, then `dw-bench io` (io_uring and psync), so that
a machine whose speed drifts (a shared VM) affects both alike; the medians over the
rounds are compared. fio gets every advantage it offers for the device's limit:
io_uring, O_DIRECT, registered files and buffers. Prints one table, writes OUT_JSON.
"""
import json
import statistics
import subprocess
import sys

WORKLOADS = [
    ("randread", 1, ["--rw=randread", "--iodepth=1"]),
    ("randread", 32, ["--rw=randread", "--iodepth=32"]),
    ("randwrite+fdatasync", 1, ["--rw=randwrite", "--iodepth=1", "--fdatasync=1"]),
]


def run_fio(path, size, seconds, arguments):
    command = ["fio", "--name=dwvd", f"--filename={path}", "--ioengine=io_uring", "--direct=1",
               "--bs=4k", f"--runtime={seconds}", "--time_based", f"--size={size}",
               "--norandommap", "--randrepeat=0", "--lat_percentiles=1",
               "--percentile_list=50:99:99.9", "--fixedbufs=1", "--registerfiles=1",
               "--output-format=json"] + arguments
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    job = json.loads(output[output.index("{"):])["jobs"][0]
    side = job["write"] if "randwrite" in " ".join(arguments) else job["read"]
    percentiles = side["lat_ns"].get("percentile", {})
    result = {
        "iops": side["iops"],
        "p50": percentiles.get("50.000000", 0),
        "p99": percentiles.get("99.000000", 0),
        "p999": percentiles.get("99.900000", 0),
        "max": side["lat_ns"]["max"],
        "command": " ".join(command),
    }
    if "--fdatasync=1" in arguments:
        # fio times the write and the fdatasync after it apart: its latency columns are
        # the write alone (~46 us here), not the round trip that makes 4 KiB durable. A
        # durable write is both, one after the other on one queue slot, so the cycle's
        # percentiles are taken as the sum of the two's (at p50 the two sum to within a
        # few per cent of 1e9 / IOPS, the mean cycle, on this machine).
        sync = job.get("sync", {}).get("lat_ns", {})
        sync_percentiles = sync.get("percentile", {})
        result["sync_p50"] = sync_percentiles.get("50.000000", 0)
        result["sync_p99"] = sync_percentiles.get("99.000000", 0)
        result["sync_p999"] = sync_percentiles.get("99.900000", 0)
        result["cycle_p50"] = result["p50"] + result["sync_p50"]
        result["cycle_p999"] = result["p999"] + result["sync_p999"]
    return result


def run_dw(dw, path, size, seconds):
    command = [dw, "io", "--json", "--file", path, "--size", size,
               "--seconds", str(seconds)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    results = {}
    for result in json.loads(output)["results"]:
        key = (result["backend"], result["workload"], result["queue_depth"])
        latency = result["latency_ns"]
        results[key] = {"iops": result["iops"], "p50": latency["p50"], "p99": latency["p99"],
                        "p999": latency["p999"], "max": latency["max"], "direct": result["direct"]}
    return results, " ".join(command)


def median(rounds, field):
    return statistics.median(round_[field] for round_ in rounds)


def main(arguments):
    dw, path, size, seconds, rounds, out = arguments
    seconds, rounds = int(seconds), int(rounds)
    fio_rounds = {(name, depth): [] for name, depth, _ in WORKLOADS}
    dw_rounds = {}
    dw_command = ""
    for round_ in range(rounds):
        for name, depth, fio_arguments in WORKLOADS:
            fio_rounds[(name, depth)].append(run_fio(path, size, seconds, fio_arguments))
        results, dw_command = run_dw(dw, path, size, seconds)
        for key, value in results.items():
            dw_rounds.setdefault(key, []).append(value)
        print(f"round {round_ + 1} of {rounds} done", file=sys.stderr)

    report = {"file": path, "size": size, "seconds": seconds, "rounds": rounds,
              "dw_command": dw_command, "fio_command": fio_rounds[("randread", 1)][0]["command"],
              "rows": []}
    print(f"medians of {rounds} alternating rounds, {seconds} s each, 4 KiB requests on {path}")
    print(f"{'workload':<22}{'depth':>6}  {'engine':<12}{'IOPS':>9}{'p50 us':>9}{'p99 us':>9}"
          f"{'p99.9 us':>10}{'max us':>9}  IOPS vs fio  p99 vs fio")
    for name, depth, _ in WORKLOADS:
        fio = fio_rounds[(name, depth)]
        fio_row = {field: median(fio, field) for field in ("iops", "p50", "p99", "p999", "max")}
        rows = [("fio", fio_row)]
        for backend in ("io_uring", "psync"):
            ours = dw_rounds.get((backend, name, depth))
            if ours:
                rows.append((f"dw {backend}", {field: median(ours, field)
                                               for field in ("iops", "p50", "p99", "p999", "max")}))
        for engine, row in rows:
            iops_ratio = row["iops"] / fio_row["iops"]
            p99_ratio = row["p99"] / fio_row["p99"] if fio_row["p99"] else 0
            print(f"{name:<22}{depth:>6}  {engine:<12}{row['iops']:>9.0f}{row['p50'] / 1000:>9.1f}"
                  f"{row['p99'] / 1000:>9.1f}{row['p999'] / 1000:>10.1f}{row['max'] / 1000:>9.1f}"
                  f"  {iops_ratio:>10.2f}  {p99_ratio:>9.2f}")
            extra = {}
            if engine == "fio" and "sync_p50" in fio[0]:
                extra = {field: median(fio, field) for field in ("sync_p50", "sync_p999", "cycle_p50", "cycle_p999")}
            report["rows"].append({"workload": name, "queue_depth": depth, "engine": engine, **row, **extra,
                                   "iops_vs_fio": iops_ratio, "p99_vs_fio": p99_ratio})
        if "sync_p50" in fio[0]:
            print(f"{'':<28}fio's fdatasync alone: p50 {median(fio, 'sync_p50') / 1000:.1f} us, "
                  f"p99 {median(fio, 'sync_p99') / 1000:.1f} us (fio's latency columns are the write); "
                  f"write+fdatasync: p50 {median(fio, 'cycle_p50') / 1000:.1f} us, "
                  f"p99.9 {median(fio, 'cycle_p999') / 1000:.1f} us, 1e9/IOPS {1e9 / median(fio, 'iops') / 1000:.1f} us")
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
