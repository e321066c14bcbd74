#!/usr/bin/env python3
"""Plot bus bandwidth against message size: measured runs and predictions.

Inputs, any mix (several files are merged into one chart):
  * JSON written by `weft-bench -J FILE` (measured). With --peers or --rounds
    it holds a "side_by_side" section: every contender's median busbw over the
    rounds, drawn with its min..max range; weft's peers (OpenMPI, Gloo) are
    lines of their own. Without it, the rows of the tables are drawn.
  * JSON written by the peer programs (`peer-mpi -J`, `peer-gloo -J`; measured).
  * CSV written by `weft-sim --csv FILE` (predicted by weft's model).

    weft-bench --peers mpi,gloo -b 64K -e 16M -f 4 -J run.json
    python3 tools/plot_bench.py --out allreduce.png run.json
    python3 tools/plot_bench.py --out nvl72.png --coll allreduce sim.csv run.json

One line per algorithm or peer; every label says "measured" or "predicted",
and the title names the hardware of the measured data (and the topology of
the predicted data). Needs python3-matplotlib (Debian); without it the script
prints a message and exits with status 77 (the "skipped" code of weft's CTest).
"""

import argparse
import csv
import json
import sys
from collections import OrderedDict

SKIP = 77


def human(n):
    for unit, div in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= div:
            v = n / div
            return ("%d%s" % (v, unit)) if v == int(v) else ("%.1f%s" % (v, unit))
    return "%d" % n


def pyplot(prog):
    """matplotlib.pyplot with the Agg backend, or None (and a message) when it is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("%s: matplotlib is not installed (Debian: apt-get install python3-matplotlib); "
              "skipping the plot" % prog, file=sys.stderr)
        return None
    return plt


def size_axis(ax, sizes):
    """Message sizes on a log2 x axis, at most 12 labelled ticks (8, 1K, 64M, ...)."""
    ax.set_xscale("log", base=2)
    ticks = sorted(set(sizes))
    if len(ticks) > 12:
        ticks = ticks[::(len(ticks) + 11) // 12]
    ax.set_xticks(ticks)
    ax.set_xticklabels([human(t) for t in ticks], rotation=45, ha="right")
    ax.set_xlabel("size (bytes)")
    ax.set_ylabel("busbw (GB/s)")


class Series:
    def __init__(self, label, kind, coll, placement):
        self.label = label          # "weft ring simple", "openmpi MPI_Allreduce", ...
        self.kind = kind            # "measured" or "predicted"
        self.coll = coll
        self.placement = placement  # "out-of-place", "in-place" or None (predicted)
        self.points = {}            # size -> (busbw, lo, hi)


def placement_key(name):
    return {"oop": "out-of-place", "ip": "in-place"}.get(name, name)


def load_weft_json(d, path, out, meta):
    meta.setdefault("hardware", set()).add(d.get("hardware", {}).get("description", "unknown hardware"))
    meta.setdefault("ranks", set()).add(d.get("ranks"))
    sbs = d.get("side_by_side")
    if sbs and sbs.get("series"):
        meta.setdefault("rounds", set()).add(sbs.get("rounds"))
        for s in sbs["series"]:
            key = ("measured", s["label"], s["coll"], s["placement"], s.get("type"), s.get("redop"))
            ser = out.setdefault(key, Series(s["label"], "measured", s["coll"], s["placement"]))
            for p in s["points"]:
                ser.points[int(p["size"])] = (p["busbw_median"], p["busbw_min"], p["busbw_max"])
        return
    for r in d.get("rows", []):
        if "peer" in r:
            label = "%s %s" % (r["peer"], r["algo"])
        else:
            label = "weft %s %s" % (r["algo"], r["proto"])
            if r.get("channels", 1) > 1:
                label += " x%d" % r["channels"]
        for pk in ("oop", "ip"):
            p = r.get(pk)
            if not p:
                continue
            pl = placement_key(pk)
            key = ("measured", label, r["coll"], pl, r.get("type"), r.get("redop"))
            ser = out.setdefault(key, Series(label, "measured", r["coll"], pl))
            ser.points[int(r["size"])] = (p["busbw"], p["busbw"], p["busbw"])


def load_sim_csv(path, out, meta):
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            meta.setdefault("topology", set()).add("%s, %s ranks" % (r["topology"], r["ranks"]))
            algo = "auto (tuner)" if r["algo"] == "auto" else r["algo"]
            label = "weft %s" % algo
            key = ("predicted", label, r["collective"], None, r.get("type"), None)
            ser = out.setdefault(key, Series(label, "predicted", r["collective"], None))
            bw = float(r["busbw"])
            ser.points[int(r["size"])] = (bw, bw, bw)


def load(paths):
    series = OrderedDict()
    meta = {}
    for path in paths:
        if path.endswith(".csv"):
            load_sim_csv(path, series, meta)
            continue
        with open(path) as f:
            d = json.load(f)
        if d.get("benchmark") in ("weft-bench", "weft-bench-peer"):
            load_weft_json(d, path, series, meta)
        else:
            raise ValueError("%s: not weft-bench, peer or weft-sim output" % path)
    return series, meta


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+", help="weft-bench / peer JSON (measured), weft-sim CSV (predicted)")
    ap.add_argument("--out", required=True, help="PNG file to write")
    ap.add_argument("--coll", default=None, help="collective to draw (default: the first one found)")
    ap.add_argument("--placement", default="both", choices=("both", "oop", "ip"),
                    help="measured placements to draw (default both; Gloo has in-place only)")
    ap.add_argument("--title", default=None, help="chart title (default: from the data)")
    ap.add_argument("--note", default=None, help="one more title line (conditions: date, load, ...)")
    args = ap.parse_args(argv)

    try:
        series, meta = load(args.inputs)
    except (OSError, ValueError, KeyError) as e:
        print("plot_bench.py: %s" % e, file=sys.stderr)
        return 1
    if not series:
        print("plot_bench.py: no data in %s" % ", ".join(args.inputs), file=sys.stderr)
        return 1
    coll = args.coll or next(iter(series.values())).coll
    want = {"both": ("out-of-place", "in-place"), "oop": ("out-of-place",), "ip": ("in-place",)}[args.placement]
    chosen = [s for s in series.values()
              if s.coll == coll and s.points and (s.placement is None or s.placement in want)]
    if not chosen:
        print("plot_bench.py: nothing to draw for %s" % coll, file=sys.stderr)
        return 1

    plt = pyplot("plot_bench.py")
    if plt is None:
        return SKIP

    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=100)
    placements = {s.placement for s in chosen if s.placement}
    lo_all, hi_all = None, None
    colors = {}  # one color per algorithm or peer; the placement sets the line style
    for s in chosen:
        colors.setdefault(s.label, "C%d" % (len(colors) % 10))
        xs = sorted(s.points)
        ys = [s.points[x][0] for x in xs]
        lo = [s.points[x][0] - s.points[x][1] for x in xs]
        hi = [s.points[x][2] - s.points[x][0] for x in xs]
        label = "%s (%s" % (s.label, s.kind)
        if s.placement and len(placements) > 1:
            label += ", %s" % s.placement
        label += ")"
        style = dict(marker="o", markersize=3, linewidth=1.5, label=label, color=colors[s.label])
        if s.kind == "predicted":
            style.update(linestyle="--", marker="s")
        elif s.placement == "in-place" and len(placements) > 1:
            style.update(linestyle=":")
        if any(lo) or any(hi):
            ax.errorbar(xs, ys, yerr=[lo, hi], capsize=2, **style)
        else:
            ax.plot(xs, ys, **style)
        pos = [y for y in ys if y > 0]
        if pos:
            lo_all = min(pos) if lo_all is None else min(lo_all, min(pos))
            hi_all = max(pos) if hi_all is None else max(hi_all, max(pos))
    size_axis(ax, [x for s in chosen for x in s.points])
    if lo_all and hi_all and hi_all / lo_all > 100:
        ax.set_yscale("log")
    if args.title:
        title = args.title
    else:
        parts = []
        if any(s.kind == "measured" for s in chosen):
            hw = "; ".join(sorted(str(h) for h in meta.get("hardware", ())))
            ranks = ",".join(sorted(str(r) for r in meta.get("ranks", ()) if r is not None))
            text = "measured on %s, %s ranks" % (hw, ranks)
            rounds = [r for r in meta.get("rounds", ()) if r]
            if rounds:
                text += ", median of %s rounds (bars: min..max)" % ",".join(str(r) for r in sorted(rounds))
            parts.append(text)
        if any(s.kind == "predicted" for s in chosen):
            parts.append("predicted (weft-sim model) for %s" % "; ".join(sorted(meta.get("topology", ()))))
        title = "%s busbw\n%s" % (coll, "\n".join(parts))
    if args.note:
        title += "\n" + args.note
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out)
    print("plot_bench.py: wrote %s" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
