"""The sweep's tables and verdict: each setting against DSIR, kind by kind (quality_sweep.py).

A setting beats DSIR on a kind and measure when its mean over background draws is better than
the better of DSIR's two modes; "every draw" counts the kinds where each draw alone beats it
(the win holds within the spread across background draws). Equal values (every method but
random selects exactly the `writing` records) are ties, not losses.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import quality as q

MEASURES = ("share", "bits@200", "bits@budget", "zstd")
HIGHER = {"share"}  # the other measures are bits: lower is better
RECOMMENDED = "cov>mean w=0.75 B=128 f=0.25"  # `--contrast --coverage 0.25`
SHORT_LIST = ("paper", "contrast w=0.75 B=128", "coverage w=0.75 B=128", RECOMMENDED)
FILLED = " + fill shortest"  # quality_sweep.Setting.label of a setting with `--budget-fill shortest`
TIE = 1e-9
ZSTD_NOISE = 0.06  # one set of records in two orders differs by this much (BENCHMARKS.md §8)

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


@dataclass
class Tally:
    """One setting against DSIR on one measure, over the kinds."""

    wins: int = 0
    ties: int = 0
    losses: int = 0
    robust: int = 0  # wins that hold in every background draw
    material: int = 0  # losses in every background draw, and on zstd by more than ZSTD_NOISE
    worst: float = 0.0  # the largest loss, in bits/char (bits measures only)
    spread: float = 0.0  # the largest max - min across background draws on any kind

    def cell(self) -> str:
        return f"{self.wins}-{self.ties}-{self.losses} ({self.robust})"


def tally(measure: str, per_kind: dict[str, list[float]], dsir: dict[str, float]) -> Tally:
    t = Tally()
    for kind, values in per_kind.items():
        if kind not in dsir:  # an interrupted sweep
            continue
        mean = statistics.fmean(values)
        t.spread = max(t.spread, max(values) - min(values))
        if better(measure, mean, dsir[kind]):
            t.wins += 1
            t.robust += all(better(measure, v, dsir[kind]) for v in values)
        elif better(measure, dsir[kind], mean):
            t.losses += 1
            firm = all(better(measure, dsir[kind], v) for v in values)
            t.material += firm and (measure != "zstd" or mean - dsir[kind] > ZSTD_NOISE)
            t.worst = max(t.worst, 0.0 if measure in HIGHER else mean - dsir[kind])
        else:
            t.ties += 1
    return t


Verdicts = dict[str, dict[str, dict[str, Tally]]]  # setting -> compressor -> measure -> tally


def verdicts(found: dict[str, Any]) -> Verdicts:
    out: Verdicts = defaultdict(dict)
    for measure in MEASURES:
        cells, dsir = tables(found, measure)
        for comp, settings in cells.items():
            for label, per_kind in settings.items():
                out[label].setdefault(comp, {})[measure] = tally(measure, per_kind, dsir)
    return out


def totals(v: Verdicts, label: str) -> tuple[int, float, int, int]:
    """(material losses, the largest loss in bits/char, losses, robust wins) over both
    compressors and every measure."""
    ts = [t for comp in v[label].values() for t in comp.values()]
    return (
        sum(t.material for t in ts),
        max(t.worst for t in ts),
        sum(t.losses for t in ts),
        sum(t.robust for t in ts),
    )


def order(v: Verdicts) -> list[str]:
    """Settings, best first: those measured on every compressor; then fewest material losses to
    DSIR, then the smallest largest loss in bits, then fewest losses, then most robust wins."""

    complete = max(len(comps) for comps in v.values())

    def key(label: str) -> tuple[int, int, float, int, int]:
        material, worst, losses, robust = totals(v, label)
        return complete - len(v[label]), material, worst, losses, -robust

    return sorted(v, key=key)


def print_summary(found: dict[str, Any], v: Verdicts) -> None:
    n_kinds = len({job["kind"] for job in found["sweep"]})
    print(f"\n#### Against DSIR on {n_kinds} kinds: wins-ties-losses (wins in every background draw)\n")
    comps = sorted({job["compressor"] for job in found["sweep"]})
    header = ["setting", *(f"{c} {m}" for c in comps for m in MEASURES), "losses (material)", "largest"]
    lines = []
    for label in order(v):
        cells = [v[label][c][m].cell() if c in v[label] else "" for c in comps for m in MEASURES]
        material, worst, losses, _ = totals(v, label)
        lines.append([label, *cells, f"{losses} ({material})", f"{worst:.3f}"])
    q.markdown(header, lines)
    print(
        "\nmaterial: a loss in every background draw (outside the spread across draws), and on zstd "
        f"by more than {ZSTD_NOISE} bits/char (the measure's own order noise); largest: the largest "
        "loss on a bits measure, bits/char."
    )
    spreads = (
        f"{comp} {m} {max(v[label][comp][m].spread for label in v if comp in v[label]):.3f}"
        for comp in comps
        for m in MEASURES
    )
    print(f"largest spread across background draws, any setting and kind: {', '.join(spreads)}.")


def print_details(found: dict[str, Any], labels: list[str]) -> None:
    """Per-kind values, mean (min-max) over draws, of a short list of settings and of DSIR."""
    kinds = sorted({job["kind"] for job in found["sweep"]})
    for measure in MEASURES:
        cells, dsir = tables(found, measure)
        digits = 2 if measure == "share" else 3
        print(f"\n#### {measure} (mean (min-max) over background draws)\n")
        lines = [["DSIR (better mode)", *(f"{dsir[k]:.{digits}f}" if k in dsir else "" for k in kinds)]]
        for name, per_kind in dsir_filled(found, measure).items():
            lines.append(
                [
                    f"{name} (not in the verdict)",
                    *(q.fmt(per_kind[k], digits) if k in per_kind else "" for k in kinds),
                ]
            )
        for comp in sorted(cells):
            for label in labels:
                per_kind = cells[comp].get(label, {})
                lines.append(
                    [f"{label} {comp}", *(q.fmt(per_kind[k], digits) if k in per_kind else "" for k in kinds)]
                )
        q.markdown(["setting", *kinds], lines)


def dsir_filled(found: dict[str, Any], measure: str) -> dict[str, dict[str, list[float]]]:
    """DSIR's modes with another budget fill (quality_sweep.dsir_job), per kind: shown, not judged."""
    out: dict[str, dict[str, list[float]]] = defaultdict(dict)
    for job in found["dsir"]:
        for name, values in job.get("dsir_filled", {}).items():
            out[name][job["kind"]] = [values[measure]]
    return out


def print_means(found: dict[str, Any], v: Verdicts, labels: list[str]) -> None:
    """README "Which score to use": each measure's mean over the kinds (of the means over draws),
    and the kinds where the setting beats DSIR on each."""
    comps = sorted({job["compressor"] for job in found["sweep"]})
    print("\n#### Means over the kinds, and the kinds each setting beats DSIR on\n")
    lines = []
    for comp in comps:
        for label in labels:
            if comp not in v[label]:
                continue
            means = []
            for measure in MEASURES:
                per_kind = tables(found, measure)[0][comp][label]
                means.append(statistics.fmean(statistics.fmean(d) for d in per_kind.values()))
            wins = ", ".join(str(v[label][comp][m].wins) for m in MEASURES)
            lines.append(
                [label, comp, *(f"{x:.2f}" if i == 0 else f"{x:.3f}" for i, x in enumerate(means)), wins]
            )
    dsir = [statistics.fmean(tables(found, m)[1].values()) for m in MEASURES]
    lines.append(
        ["DSIR (better mode)", "", *(f"{x:.2f}" if i == 0 else f"{x:.3f}" for i, x in enumerate(dsir)), ""]
    )
    q.markdown(["setting", "compressor", *MEASURES, "kinds it beats DSIR on"], lines)


def report(found: dict[str, Any]) -> None:
    if not found["dsir"]:
        print("note: no DSIR results, so no verdict (pip install -e '.[bench]')")
        return
    v = verdicts(found)
    print_summary(found, v)
    ranked = order(v)
    labels = list(dict.fromkeys([*SHORT_LIST, *(s + FILLED for s in SHORT_LIST), *ranked[:3]]))
    print_details(found, [label for label in labels if label in ranked])
    print_means(found, v, [label for label in labels if label in ranked])
    print(f"\nbest by the verdict: {', '.join(ranked[:3])}")
    print(f"{found['seconds']:.0f}s of sweep runs; {len(v)} settings; args {found['args']}")
