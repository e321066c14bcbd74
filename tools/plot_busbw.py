#!/usr/bin/env python3
"""Plot predicted bus bandwidth against message size, one line per algorithm.

Reads the CSV that `weft-sim --csv FILE` writes (several files may be given:
their rows are merged) and writes a PNG:

    weft-sim --topo gb200-nvl72 --algo ring -b 8 -e 8G -f 2 --csv ring.csv
    python3 tools/plot_busbw.py --out busbw.png ring.csv

`weft-sim --plot busbw.png ...` runs this script itself. Every value plotted
is a model prediction; the title says so.

Needs python3-matplotlib (Debian). Without it the script prints a message and
exits with status 77 (the "skipped" code of weft's CTest setup).
"""

import argparse
import csv
import os
import sys
from collections import OrderedDict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot_bench import SKIP, pyplot, size_axis  # noqa: E402  (the chart helpers weft's plots share)


def read_rows(paths):
    series = OrderedDict()
    meta = None
    for path in paths:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                key = row["algo"]
                if row["algo"] == "auto":
                    key = "auto (tuner)"
                series.setdefault(key, []).append(row)
                if meta is None:
                    meta = row
    return series, meta


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", nargs="+", help="CSV files written by weft-sim --csv")
    ap.add_argument("--out", required=True, help="PNG file to write")
    ap.add_argument("--title", default=None, help="plot title (default: from the data)")
    args = ap.parse_args(argv)

    plt = pyplot("plot_busbw.py")
    if plt is None:
        return SKIP

    series, meta = read_rows(args.csv)
    if not series:
        print("plot_busbw.py: no rows in %s" % ", ".join(args.csv), file=sys.stderr)
        return 1

    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=120)
    for name, rows in series.items():
        rows = sorted(rows, key=lambda r: int(r["size"]))
        x = [int(r["size"]) for r in rows]
        y = [float(r["busbw"]) for r in rows]
        ax.plot(x, y, marker="o", markersize=3, linewidth=1.5, label=name)
        # Mark where the chosen protocol changes.
        last = None
        for r in rows:
            tag = "%s x%s" % (r["proto"], r["nchannels"])
            if tag != last:
                ax.annotate(tag, (int(r["size"]), float(r["busbw"])), textcoords="offset points", xytext=(3, 6),
                            fontsize=7, color="0.35")
                last = tag
    size_axis(ax, [int(r["size"]) for rows in series.values() for r in rows])
    title = args.title or "PREDICTED %s busbw, %s, %s ranks (weft-sim model)" % (
        meta["collective"], meta["topology"], meta["ranks"])
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(title="algorithm")
    fig.tight_layout()
    fig.savefig(args.out)
    print("plot_busbw.py: wrote %s" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
