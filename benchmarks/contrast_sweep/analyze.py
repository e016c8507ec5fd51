"""Contrastive-score study on sample_data (see REPORT.md). Needs cache/*_pair.npy from compute_matrix.py.

For every kind k, target seed, compressor: T (40) and E (30) drawn from kind k, pool P = rest.
Scores over P: paper (-mean_T NCD) and contrast (lam * mean_B NCD - mean_T NCD) for background
sizes/seeds, with and without the self pair. Metrics: share of kind k in top K (K = #kind k in P),
bits/char on E of an order-4 interpolated Witten-Bell char model trained on the top K.
Results: results.jsonl (one row per configuration).
"""

import argparse
import os
import random
import time
from collections import Counter

import numpy as np
import orjson

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("ZIPFIT_SWEEP_CACHE", os.path.join(HERE, "cache"))
DATA = os.path.join(HERE, "..", "..", "sample_data", "source.jsonl")
ORDER = 4
PAD = "\x00" * ORDER
N_TARGETS, N_EVAL = 40, 30
SIZES = (16, 32, 64, 128, 256, 512)
LAMBDAS = (0.5, 0.75, 1.0, 1.25)


class WittenBell:
    """Order-ORDER interpolated Witten-Bell char model, restricted to the statistics E needs.

    P(w|h) = (c(h,w) + T(h) P(w|h')) / (c(h) + T(h)) if c(h) > 0 else P(w|h'); base uniform 1/V.
    T(h) = number of distinct chars seen after h. Counts for any selection of records are sums of
    per-record counts over features (h, w) whose context h occurs in E (all w seen in the corpus).
    """

    def __init__(self, texts: list[str], eval_texts: list[str], vocab: int) -> None:
        self.vocab = vocab
        ctx_ids: dict[str, int] = {}
        # E positions: per order, the context id and the (h, w) key.
        e_keys: list[list[str]] = [[] for _ in range(ORDER + 1)]
        e_ctx: list[list[int]] = [[] for _ in range(ORDER + 1)]
        for text in eval_texts:
            s = PAD + text
            for i in range(ORDER, len(s)):
                for n in range(ORDER + 1):
                    h = s[i - n : i]
                    e_ctx[n].append(ctx_ids.setdefault(h, len(ctx_ids)))
                    e_keys[n].append(s[i - n : i + 1])
        self.n_chars = len(e_keys[0])
        feat_ids: dict[str, int] = {}
        feat_ctx: list[int] = []
        rows, feats, counts = [], [], []
        for r, text in enumerate(texts):
            s = PAD + text
            c: Counter[str] = Counter()
            for n in range(ORDER + 1):
                c.update(s[i - n : i + 1] for i in range(ORDER, len(s)))
            for key, cnt in c.items():
                h = key[:-1]
                cid = ctx_ids.get(h)
                if cid is None:
                    continue
                fid = feat_ids.get(key)
                if fid is None:
                    fid = feat_ids[key] = len(feat_ids)
                    feat_ctx.append(cid)
                rows.append(r)
                feats.append(fid)
                counts.append(cnt)
        self.rows = np.array(rows, dtype=np.int32)
        self.feats = np.array(feats, dtype=np.int32)
        self.counts = np.array(counts, dtype=np.float64)
        self.feat_ctx = np.array(feat_ctx, dtype=np.int32)
        self.n_feat, self.n_ctx = len(feat_ids), len(ctx_ids)
        self.e_ctx = [np.array(x, dtype=np.int32) for x in e_ctx]
        self.e_feat = [np.array([feat_ids.get(k, -1) for k in ks], dtype=np.int64) for ks in e_keys]

    def bits_per_char(self, selected: np.ndarray) -> float:
        """selected: bool mask over all records (the training set)."""
        fc = np.bincount(self.feats, weights=self.counts * selected[self.rows], minlength=self.n_feat)
        fc = np.append(fc, 0.0)  # index -1 -> count 0
        cctx = np.bincount(self.feat_ctx, weights=fc[:-1], minlength=self.n_ctx)
        tctx = np.bincount(self.feat_ctx, weights=(fc[:-1] > 0), minlength=self.n_ctx)
        p = np.full(self.n_chars, 1.0 / self.vocab)
        for n in range(ORDER + 1):
            chw = fc[self.e_feat[n]]
            ch = cctx[self.e_ctx[n]]
            th = tctx[self.e_ctx[n]]
            p = np.where(ch > 0, (chw + th * p) / np.maximum(ch + th, 1e-300), p)
        return float(-np.log2(p).sum() / self.n_chars)


def ncd(single: np.ndarray, pair: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    cx = single[rows][:, None].astype(np.float64)
    ct = single[cols][None, :].astype(np.float64)
    return (pair[np.ix_(rows, cols)] - np.minimum(cx, ct)) / np.maximum(cx, ct)


def top_mask(scores: np.ndarray, pool: np.ndarray, k: int, n: int) -> np.ndarray:
    """Bool mask over all n records: the k pool records with the highest scores."""
    order = np.argsort(-scores, kind="stable")[:k]
    mask = np.zeros(n, dtype=bool)
    mask[pool[order]] = True
    return mask


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target-seeds", type=int, default=3)
    ap.add_argument("--bg-seeds", type=int, default=8)
    ap.add_argument("--random-seeds", type=int, default=8)
    ap.add_argument("--kinds", default="")
    ap.add_argument("--out", default=os.path.join(HERE, "results.jsonl"))
    args = ap.parse_args()

    recs = [orjson.loads(line) for line in open(DATA, "rb") if line.strip()]
    texts = [r["text"] for r in recs]
    kinds = np.array([r["source"] for r in recs])
    n = len(recs)
    vocab = len(set("".join(texts)))
    mats = {
        c: (np.load(f"{CACHE}/{c}_single.npy"), np.load(f"{CACHE}/{c}_pair.npy")) for c in ("gzip", "lz4")
    }
    kind_list = args.kinds.split(",") if args.kinds else sorted(set(kinds))
    bg_perms = []
    for s in range(args.bg_seeds):
        perm = list(range(n))
        random.Random(f"background-{s}").shuffle(perm)
        bg_perms.append(np.array(perm))
    out = open(args.out, "w")

    def emit(row: dict) -> None:
        out.write(orjson.dumps(row).decode() + "\n")
        out.flush()

    for kind in kind_list:
        for tseed in range(args.target_seeds):
            t0 = time.time()
            members = sorted(np.flatnonzero(kinds == kind).tolist())
            chosen = random.Random(f"targets-{kind}-{tseed}").sample(members, N_TARGETS + N_EVAL)
            tgt, ev = np.array(chosen[:N_TARGETS]), np.array(chosen[N_TARGETS:])
            in_pool = np.ones(n, dtype=bool)
            in_pool[chosen] = False
            pool = np.flatnonzero(in_pool)
            is_k = kinds[pool] == kind
            k = int(is_k.sum())
            lm = WittenBell(texts, [texts[i] for i in ev], vocab)
            base = dict(kind=kind, tseed=tseed, K=k, pool=len(pool))

            def metrics(sel: np.ndarray) -> dict:
                share = float((kinds[sel] == kind).mean())
                return dict(share=share, bpc=lm.bits_per_char(sel))

            for rs in range(args.random_seeds):
                sel = np.zeros(n, dtype=bool)
                sel[random.Random(f"random-{kind}-{tseed}-{rs}").sample(pool.tolist(), k)] = True
                emit(dict(base, method="random", seed=rs, **metrics(sel)))
            sel = np.zeros(n, dtype=bool)
            sel[pool[is_k]] = True
            emit(dict(base, method="oracle", **metrics(sel)))
            sel = in_pool.copy()
            emit(dict(base, method="whole_pool", **metrics(sel)))

            for comp, (single, pair) in mats.items():
                tmean = ncd(single, pair, pool, tgt).mean(axis=1)
                emit(dict(base, method="paper", comp=comp, **metrics(top_mask(-tmean, pool, k, n))))
                pos_in_pool = np.full(n, -1)
                pos_in_pool[pool] = np.arange(len(pool))
                for bs in range(args.bg_seeds):
                    bg_all = bg_perms[bs][in_pool[bg_perms[bs]]][: max(SIZES)]
                    bn = ncd(single, pair, pool, bg_all)  # |P| x 512
                    csum = np.cumsum(bn, axis=1)
                    for size in SIZES:
                        bg = bg_all[:size]
                        keep = csum[:, size - 1] / size
                        rows_b = pos_in_pool[bg]
                        selfn = bn[rows_b, np.arange(size)]
                        drop = keep.copy()
                        drop[rows_b] = (csum[rows_b, size - 1] - selfn) / (size - 1)
                        for lam in LAMBDAS:
                            masks = {}
                            for rule, bmean in (("keep", keep), ("drop", drop)):
                                masks[rule] = top_mask(lam * bmean - tmean, pool, k, n)
                            for rule, m in masks.items():
                                other = masks["drop" if rule == "keep" else "keep"]
                                emit(
                                    dict(
                                        base,
                                        method="contrast",
                                        comp=comp,
                                        lam=lam,
                                        size=size,
                                        seed=bs,
                                        self=rule,
                                        **metrics(m),
                                        b_in_top=int(m[bg].sum()),
                                        b_in_top_k=int((m[bg] & (kinds[bg] == kind)).sum()),
                                        b_kind=int((kinds[bg] == kind).sum()),
                                        diff_vs_other=int((m & ~other).sum()),
                                    )
                                )
            print(f"{kind} tseed={tseed} K={k} {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
