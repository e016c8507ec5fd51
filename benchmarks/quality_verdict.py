"""The sweep's tables and verdict: each setting against DSIR, kind by kind (quality_sweep.py).

A setting beats DSIR on a kind and measure when its mean over background draws is better than
the better of DSIR's two modes; "every draw" counts the kinds where each draw alone beats it
(the win holds within the spread across background draws). Equal values (every method but
random selects exactly the `writing` records) are ties, not losses.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

import quality as q

MEASURES = ("share", "bits@200", "bits@budget", "zstd")
HIGHER = {"share"}  # the other measures are bits: lower is better
SHORT_LIST = ("paper", "contrast w=0.75 B=128", "coverage w=0.75 B=128")
TIE = 1e-9

Cells = dict[str, dict[str, dict[str, list[float]]]]  # compressor -> setting -> kind -> per draw


def better(measure: str, a: float, b: float) -> bool:
    return a > b + TIE if measure in HIGHER else a < b - TIE


def tables(found: dict[str, Any], measure: str) -> tuple[Cells, dict[str, float]]:
    """(the measure's values per compressor, setting, kind and draw; DSIR's best per kind)."""
    cells: Cells = defaultdict(lambda: defaultdict(dict))
    for job in found["sweep"]:
        for label, draws in job["results"].items():
            cells[job["compressor"]][label][job["kind"]] = [d[measure] for d in draws]
    pick = max if measure in HIGHER else min
    dsir = {job["kind"]: pick(v[measure] for v in job["dsir"].values()) for job in found["dsir"]}
    return cells, dsir


def tally(
    measure: str, per_kind: dict[str, list[float]], dsir: dict[str, float]
) -> tuple[int, int, int, int]:
    """(wins, ties, losses, wins in every draw) against DSIR over the kinds."""
    wins = ties = losses = robust = 0
    for kind, values in per_kind.items():
        mean = statistics.fmean(values)
        if better(measure, mean, dsir[kind]):
            wins += 1
            robust += all(better(measure, v, dsir[kind]) for v in values)
        elif better(measure, dsir[kind], mean):
            losses += 1
        else:
            ties += 1
    return wins, ties, losses, robust


def verdicts(found: dict[str, Any]) -> dict[str, dict[str, dict[str, tuple[int, int, int, int]]]]:
    """setting -> compressor -> measure -> tally."""
    out: dict[str, dict[str, dict[str, tuple[int, int, int, int]]]] = defaultdict(dict)
    for measure in MEASURES:
        cells, dsir = tables(found, measure)
        for comp, settings in cells.items():
            for label, per_kind in settings.items():
                out[label].setdefault(comp, {})[measure] = tally(measure, per_kind, dsir)
    return out


def order(found: dict[str, Any]) -> list[str]:
    """Settings, best first: fewest losses to DSIR over both compressors and all measures, then
    most wins that hold in every draw, then most wins."""
    v = verdicts(found)

    def key(label: str) -> tuple[int, int, int]:
        ts = [t for comp in v[label].values() for t in comp.values()]
        return sum(t[2] for t in ts), -sum(t[3] for t in ts), -sum(t[0] for t in ts)

    return sorted(v, key=key)


def print_summary(found: dict[str, Any]) -> None:
    v = verdicts(found)
    n_kinds = len({job["kind"] for job in found["sweep"]})
    print(f"\n#### Against DSIR on {n_kinds} kinds: wins-ties-losses (wins in every background draw)\n")
    comps = sorted({job["compressor"] for job in found["sweep"]})
    header = ["setting", *(f"{c} {m}" for c in comps for m in MEASURES), "losses"]
    lines = []
    for label in order(found):
        cells = [
            "{}-{}-{} ({})".format(*v[label][c][m]) if c in v[label] else "" for c in comps for m in MEASURES
        ]
        losses = sum(t[2] for comp in v[label].values() for t in comp.values())
        lines.append([label, *cells, str(losses)])
    q.markdown(header, lines)


def print_details(found: dict[str, Any], labels: list[str]) -> None:
    """Per-kind values, mean (min-max) over draws, of a short list of settings and of DSIR."""
    kinds = sorted({job["kind"] for job in found["sweep"]})
    for measure in MEASURES:
        cells, dsir = tables(found, measure)
        digits = 2 if measure == "share" else 3
        print(f"\n#### {measure} (mean (min-max) over background draws)\n")
        lines = [["DSIR (better mode)", *(f"{dsir[k]:.{digits}f}" if k in dsir else "" for k in kinds)]]
        for comp in sorted(cells):
            for label in labels:
                per_kind = cells[comp][label]
                lines.append([f"{label} {comp}", *(q.fmt(per_kind[k], digits) for k in kinds)])
        q.markdown(["setting", *kinds], lines)


def report(found: dict[str, Any]) -> None:
    print_summary(found)
    ranked = order(found)
    labels = list(dict.fromkeys([*SHORT_LIST, *ranked[:3]]))
    print_details(found, [label for label in labels if label in ranked])
    print(f"\nbest by the verdict: {', '.join(ranked[:3])}")
    print(f"{found['seconds']:.0f}s; {len(found['settings'])} settings; args {found['args']}")
