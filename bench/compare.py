#!/usr/bin/env python3
"""Side-by-side table of nst_bench and torch_reference.py JSON lines (see run.sh).

For every (case, size, threads): the fastest time and the smallest peak RSS over all rounds of
each implementation, and the ratios nst/torch (below 1: nst is faster / smaller).
Usage: compare.py RESULTS.jsonl...
"""
import json
import sys


def main(paths):
    best = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                if not line.startswith("{"):
                    continue
                r = json.loads(line)
                key = (r["case"], r["size"], r["threads"], r["impl"])
                old = best.get(key)
                best[key] = (min(old[0], r["seconds"]), min(old[1], r["peak_rss_mb"])) if old else \
                    (r["seconds"], r["peak_rss_mb"])
    cases = sorted({k[:3] for k in best}, key=lambda k: (k[1], k[2], k[0].startswith(("vgg", "style")), k[0]))
    print(f"{'case':<20} {'size':>5} {'thr':>3} {'nst ms':>10} {'torch ms':>10} {'time x':>7} "
          f"{'nst MB':>8} {'torch MB':>8} {'RSS x':>6}")
    for case in cases:
        n, t = best.get(case + ("nst",)), best.get(case + ("torch",))
        fmt = lambda v, spec: format(v, spec) if v is not None else "-"
        print(f"{case[0]:<20} {case[1]:>5} {case[2]:>3} {fmt(n and n[0] * 1e3, '10.1f'):>10} "
              f"{fmt(t and t[0] * 1e3, '10.1f'):>10} {fmt(n and t and n[0] / t[0], '7.2f'):>7} "
              f"{fmt(n and n[1], '8.0f'):>8} {fmt(t and t[1], '8.0f'):>8} {fmt(n and t and n[1] / t[1], '6.2f'):>6}")


if __name__ == "__main__":
    main(sys.argv[1:])
