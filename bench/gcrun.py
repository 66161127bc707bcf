#!/usr/bin/env python3
"""gcrun.py - run the binaries that bench/run-gc.sh built in OUTDIR/bin.

    python3 bench/gcrun.py OUTDIR

Runs every cell (a workload and a variant) BENCH_RUNS times (default 3),
alternating the variants run by run with the order rotated each round, and
records each child's wall time and peak RSS (wait4).  Prints one table per
benchmark with medians and each variant's ratio to libgoheap, and writes the
tables to OUTDIR/table.md and every measurement to OUTDIR/results.jsonl.
Environment: BENCH_RUNS, BENCH_QUICK, BENCH_ONLY, BENCH_DEPTH (see run-gc.sh).
"""
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

OUT = sys.argv[1] if len(sys.argv) == 2 else sys.exit(__doc__)
BIN = os.path.join(OUT, "bin")
LOGS = os.path.join(OUT, "logs")
QUICK = os.environ.get("BENCH_QUICK", "0") not in ("", "0")
RUNS = int(os.environ.get("BENCH_RUNS", "1" if QUICK else "3"))
ONLY = [s for s in os.environ.get("BENCH_ONLY", "").split(",") if s]
DEPTH = int(os.environ.get("BENCH_DEPTH", "16" if QUICK else "21"))
TIMEOUT = 1200
PAUSE_RUNS = int(os.environ.get("BENCH_PAUSE_RUNS", str(RUNS)))
PAUSE_TIMEOUT = float(os.environ.get("BENCH_PAUSE_TIMEOUT", "600"))

status = 0
records = []
resfile = open(os.path.join(OUT, "results.jsonl"), "w")


def have(prog, variant):
    return os.access(os.path.join(BIN, f"{prog}-{variant}"), os.X_OK)


def run_child(name, argv, env_extra, run, timeout=TIMEOUT):
    """Run argv under rsswrap; return (wall s, peak RSS KiB, exit status, output)."""
    env = dict(os.environ)
    env.update(env_extra)
    logpath = os.path.join(LOGS, f"{name}.run{run}.txt")
    with open(logpath, "w") as logf:
        logf.write("# " + " ".join(f"{k}={v}" for k, v in env_extra.items()) +
                   " " + " ".join(argv) + "\n")
        logf.flush()
        p = subprocess.Popen([os.path.join(BIN, "rsswrap")] + argv, stdout=logf,
                             stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)
            p.wait()
            rc = "timeout"
    with open(logpath) as f:
        text = f.read()
    w = parse_kv(text, "RSSWRAP")
    return w.get("wall_s", 0.0), int(w.get("maxrss_kib", 0)), rc, text


def parse_kv(text, tag):
    m = re.search(r"^" + tag + r" (.*)$", text, re.M)
    if not m:
        return {}
    return {k: float(v) for k, v in re.findall(r"(\w+)=([-0-9.e+]+)", m.group(1))}


def run_bench(bench, workloads, variants):
    """workloads: (label, program, args, env, variants or None); runs all cells."""
    global status
    cells = {}
    for r in range(RUNS):
        for label, prog, args, env, varlist in workloads:
            vs = [v for v in (varlist or variants) if have(prog, v)]
            k = r % len(vs) if vs else 0
            for v in vs[k:] + vs[:k]:
                vname, venv = v, dict(env)
                argv = [os.path.join(BIN, f"{prog}-{v}")] + args
                name = f"{bench}-{re.sub(r'[^A-Za-z0-9]+', '_', label)}-{vname}"
                sys.stderr.write(f"gcrun: [{r + 1}/{RUNS}] {bench} {label} {vname} ... ")
                sys.stderr.flush()
                wall, rss, rc, text = run_child(name, argv, venv, r + 1)
                rec = {"bench": bench, "workload": label, "variant": vname, "run": r + 1,
                       "wall_s": round(wall, 4), "maxrss_kib": rss, "rc": rc}
                for tag in ("TIME", "GC", "RATE", "LATENCY", "PHASES", "AFTER"):
                    for kk, vv in parse_kv(text, tag).items():
                        rec[f"{tag.lower()}_{kk}"] = vv
                ok = rc == 0 and "\nGC " in text
                if not ok:
                    status = 3
                    rec["failed"] = True
                sys.stderr.write(f"{wall:.2f} s, {rss / 1024:.0f} MiB{'' if ok else f' FAILED rc={rc}'}\n")
                resfile.write(json.dumps(rec) + "\n")
                resfile.flush()
                records.append(rec)
                cells.setdefault((label, vname), []).append(rec)
    return cells


def med(recs, key):
    vals = [r[key] for r in recs if not r.get("failed") and key in r]
    return statistics.median(vals) if vals else None


def fmt(x, spec=".2f"):
    return "-" if x is None else format(x, spec)


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


tables = []


def emit(lines):
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    tables.append(text)


def md_table(head, rows):
    w = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    line = lambda r: "| " + " | ".join(str(x).rjust(n) for x, n in zip(r, w)) + " |"
    return [line(head), "|" + "|".join("-" * (n + 1) + ":" for n in w) + "|"] + [line(r) for r in rows]


def time_table(title, cells, workloads, variants, note):
    head = ["workload", "variant", "time s", "/goheap", "peak RSS MiB", "/goheap", "GCs", "GC pause s"]
    rows = []
    for label, prog, _, _, varlist in workloads:
        base = cells.get((label, "goheap"), [])
        bt, br = med(base, "wall_s"), med(base, "maxrss_kib")
        for v in varlist or variants:
            recs = cells.get((label, v))
            if not recs:
                rows.append([label, v, "n/a", "", "", "", "", ""])
                continue
            t, rss = med(recs, "wall_s"), med(recs, "maxrss_kib")
            fails = sum(1 for r in recs if r.get("failed"))
            rows.append([label, v, fmt(t) + (f" ({fails} failed)" if fails else ""),
                         fmt(ratio(t, bt)), fmt(None if rss is None else rss / 1024, ".0f"),
                         fmt(ratio(rss, br)), fmt(med(recs, "gc_numgc"), ".0f"),
                         fmt(None if med(recs, "gc_pause_total_ms") is None
                             else med(recs, "gc_pause_total_ms") / 1e3)])
    emit([f"### {title}", "", note, ""] + md_table(head, rows))


def main():
    info = []
    info.append(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    cpu = "?"
    try:
        cpu = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read()).group(1)
    except (OSError, AttributeError):
        pass
    info.append(f"machine: {os.cpu_count()} CPUs, {cpu}, {platform.system()} {platform.release()}")
    load0 = os.getloadavg()
    for f in ("goheap.txt", "versions.txt"):
        try:
            info += open(os.path.join(BIN, f)).read().splitlines()
        except OSError:
            pass
    skipped = open(os.path.join(BIN, "skipped.txt")).read().splitlines()
    info.append(f"mode: {'quick' if QUICK else 'full'}, {RUNS} run(s) per cell "
                f"({PAUSE_RUNS} for the pause benchmark), medians; variants alternate run by run")
    emit(["## libgoheap collector benchmarks (bench/run-gc.sh)", ""] +
         [f"- {x}" for x in info] + [f"- skipped: {x}" for x in skipped])
    t_start = time.monotonic()

    if not ONLY or "gcbench" in ONLY:
        gargs = ["-s", "14", "-l", "12", "-M", "12", "-a", "50000"] if QUICK else []
        variants = ["goheap", "goheap-stw", "goheap-typed", "boehm", "glibc", "jemalloc", "mimalloc"]
        wl = [("GCBench", "gcbench", gargs, {}, None),
              ("GCBench x5", "gcbench", gargs + ["-r", "5"], {}, None)]
        cells = run_bench("gcbench", wl, variants)
        time_table("GCBench", cells, wl, variants,
                   "stretch tree depth %s, long-lived tree depth %s, array of %s doubles, depths 4..%s; "
                   "x5: five repetitions in one process. Time: whole process, wall clock. "
                   "The malloc family frees every tree; the collectors free nothing."
                   % (("14", "12", "50000", "12") if QUICK else ("18", "16", "500000", "16")))

    if not ONLY or "binarytrees" in ONLY:
        variants = ["goheap", "goheap-stw", "boehm", "go", "glibc", "jemalloc", "mimalloc"]
        wl = []
        for th in (1, 2):
            wl.append((f"depth {DEPTH}, {th} thread{'s' if th > 1 else ''}", "binarytrees",
                       [str(DEPTH), str(th)], {"GOMAXPROCS": str(th)}, None))
        cells = run_bench("binarytrees", wl, variants)
        time_table("binary-trees", cells, wl, variants,
                   f"Benchmarks Game binary-trees, depth {DEPTH}; with 2 threads the trees of each depth "
                   "are split between 2 threads (Go: 2 goroutines, GOMAXPROCS=2; GOMAXPROCS=1 for 1 thread). "
                   "The malloc family frees every tree.")

    if not ONLY or "allocrate" in ONLY:
        variants = ["goheap", "boehm", "glibc", "jemalloc", "mimalloc"]
        secs = "0.1" if QUICK else "0.5"
        wl = []
        for size in ("16", "64", "256", "1024", "8192", "mixed"):
            for th in (1, 2):
                wl.append((f"{size} B, {th} thr" if size != "mixed" else f"mixed, {th} thr",
                           "allocrate", ["-z", size, "-t", str(th), "-s", secs], {}, None))
        cells = run_bench("allocrate", wl, variants)
        head = ["size, threads"] + [f"{v} ns" for v in variants] + [f"{v}/goheap" for v in variants[1:]] + \
            ["goheap GCs", "boehm GCs", "RSS MiB goheap", "RSS boehm"]
        rows = []
        for label, *_ in wl:
            ns = {v: med(cells.get((label, v), []), "rate_ns_per_alloc") for v in variants}
            rows.append([label] + [fmt(ns[v]) for v in variants] +
                        [fmt(ratio(ns[v], ns["goheap"])) for v in variants[1:]] +
                        [fmt(med(cells.get((label, v), []), "gc_numgc"), ".0f") for v in ("goheap", "boehm")] +
                        [fmt(None if med(cells.get((label, v), []), "maxrss_kib") is None
                             else med(cells.get((label, v), []), "maxrss_kib") / 1024, ".0f")
                         for v in ("goheap", "boehm")])
        emit(["### Allocation rate with collection", "",
              f"ns per allocation as one thread sees it (mean over the threads), {secs} s per cell; "
              "each thread allocates into a sliding window of 1024 live blocks and frees nothing "
              "(goheap_malloc, GC_MALLOC); glibc, jemalloc and mimalloc free the block leaving the "
              "window (the reference). peer/goheap > 1: libgoheap is faster.", ""] + md_table(head, rows))

    if not ONLY or "pause" in ONLY:
        pargs = ["-L", os.environ.get("BENCH_PAUSE_LIVE", "64" if QUICK else "1024"),
                 "-x", os.environ.get("BENCH_PAUSE_FACTOR", "10" if QUICK else "20")]
        wl = [("goheap, GOHEAP_GCPROCS=1", "pause", pargs, {"GOHEAP_GCPROCS": "1"}, ["goheap"]),
              ("goheap, GOHEAP_GCPROCS=2", "pause", pargs, {"GOHEAP_GCPROCS": "2"}, ["goheap"]),
              ("goheap, GOHEAP_GC=stw", "pause", pargs, {"GOHEAP_GC": "stw"}, ["goheap"]),
              ("boehm", "pause", pargs, {}, ["boehm"])]
        # One list of cells, alternating the three configurations run by run.
        cells = {}
        timed_out = set()
        for r in range(PAUSE_RUNS):
            k = r % len(wl)
            for w in wl[k:] + wl[:k]:
                if w[0] in timed_out:
                    continue
                c = run_once_cell("pause", w, r + 1)
                if c:
                    cells.setdefault(w[0], []).append(c)
                    if c["rc"] == "timeout":
                        timed_out.add(w[0])
        head = ["configuration", "time s", "/goheap2", "peak RSS MiB", "/goheap2", "max alloc ms",
                "p99.9 us", "p99.99 us", "GCs", "GC pause s", "mean pause ms", "longest ms",
                "RSS after MiB", "kept MiB", "target MiB"]
        rows = []
        b = cells.get("goheap, GOHEAP_GCPROCS=2", [])
        bt, br = med(b, "wall_s"), med(b, "maxrss_kib")
        mean_pause = {}
        for label, *_ in wl:
            recs = cells.get(label, [])
            if not recs:
                rows.append([label] + ["n/a"] + [""] * (len(head) - 2))
                continue
            if all(r.get("failed") for r in recs):
                why = (f"killed after {PAUSE_TIMEOUT:.0f} s" if recs[-1]["rc"] == "timeout"
                       else f"failed (exit {recs[-1]['rc']})")
                rows.append([label, why] + [""] * (len(head) - 2))
                continue
            t, rss = med(recs, "wall_s"), med(recs, "maxrss_kib")
            mp = med([dict(r, mp=r["gc_pause_total_ms"] / r["gc_numgc"]) for r in recs
                      if r.get("gc_numgc")], "mp")
            mean_pause[label] = mp
            lm = med(recs, "gc_pause_max_ms")
            after = med(recs, "after_rss_mib")
            rows.append([label, fmt(t), fmt(ratio(t, bt)), fmt(rss / 1024 if rss else None, ".0f"),
                         fmt(ratio(rss, br)), fmt(None if med(recs, "latency_max_us") is None
                                                  else med(recs, "latency_max_us") / 1e3, ".1f"),
                         fmt(med(recs, "latency_p999_us"), ".2f"), fmt(med(recs, "latency_p9999_us"), ".2f"),
                         fmt(med(recs, "gc_numgc"), ".0f"),
                         fmt(None if med(recs, "gc_pause_total_ms") is None
                             else med(recs, "gc_pause_total_ms") / 1e3),
                         fmt(mp, ".1f"), "?" if lm is None or lm < 0 else fmt(lm, ".1f"),
                         fmt(after, ".1f") + ("" if all(r.get("after_ok") for r in recs) else " (over)"),
                         fmt(med(recs, "after_kept_mib"), ".1f"), fmt(med(recs, "after_target_mib"), ".1f")])
        m1, m2 = mean_pause.get("goheap, GOHEAP_GCPROCS=1"), mean_pause.get("goheap, GOHEAP_GCPROCS=2")
        live = pargs[1]
        emit(["### Pause benchmark", "",
              f"{live} MiB live tree of 32-byte nodes, then {pargs[3]}x that in 32-byte nodes that die young, "
              "every allocation timed (max is exact; p99.9/p99.99 from a histogram, <= 3 % high). "
              "Then all but a 64 MiB subtree is dropped, the collector runs and returns free memory "
              "to the OS: RSS after vs the kept data (target: kept + 10 % + 8 MiB; '(over)' if "
              "a run missed it). GCs and pause time are the library's own counts over build and churn "
              "(Boehm: GC_get_full_gc_total_time; its longest pause is not exposed: see max alloc). "
              "Note that GC_MALLOC(32) takes 48 bytes (libgc's extra byte for interior pointers).", ""]
             + md_table(head, rows) +
             ["", f"marking speed, 2 workers vs 1 (mean pause GCPROCS=1 / GCPROCS=2): "
                  f"{fmt(ratio(m1, m2))}x"])

    load1 = os.getloadavg()
    emit([f"load average at start {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, at end "
          f"{load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}; runs took {time.monotonic() - t_start:.0f} s"])
    with open(os.path.join(OUT, "table.md"), "w") as f:
        f.write("\n".join(tables))
    return status


def run_once_cell(bench, w, run):
    """One run of a single-variant workload w; returns its record or None."""
    global status
    label, prog, args, env, varlist = w
    v = varlist[0]
    if not have(prog, v):
        return None
    name = f"{bench}-{re.sub(r'[^A-Za-z0-9]+', '_', label)}"
    sys.stderr.write(f"gcrun: [{run}/{PAUSE_RUNS}] {bench} {label} ... ")
    sys.stderr.flush()
    wall, rss, rc, text = run_child(name, [os.path.join(BIN, f"{prog}-{v}")] + args, env, run,
                                    timeout=PAUSE_TIMEOUT)
    rec = {"bench": bench, "workload": label, "variant": v, "run": run,
           "wall_s": round(wall, 4), "maxrss_kib": rss, "rc": rc}
    for tag in ("GC", "LATENCY", "PHASES", "AFTER"):
        for kk, vv in parse_kv(text, tag).items():
            rec[f"{tag.lower()}_{kk}"] = vv
    if rc != 0 or "AFTER" not in text:
        status = 3
        rec["failed"] = True
    sys.stderr.write(f"{wall:.2f} s, {rss / 1024:.0f} MiB{'' if not rec.get('failed') else f' FAILED rc={rc}'}\n")
    resfile.write(json.dumps(rec) + "\n")
    resfile.flush()
    records.append(rec)
    return rec


if __name__ == "__main__":
    sys.exit(main())
