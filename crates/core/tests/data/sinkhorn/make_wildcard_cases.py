"""Writes wildcard.jsonl: the wildcard ("the rest is any color") distance computed by POT.

A query whose named colors carry a share s < 1 leaves 1 - s to "any color": the transport problem
gets one more source bin, the dummy, of mass 1 - s and cost 0 to every image bin, so only the
named mass s must move. The distance is the cost of that plan divided by s (ΔE of the matched
part). Here POT solves exactly that augmented problem:

    a_aug = [s * a, 1 - s]                (a: the named colors' histogram, unit mass)
    C_aug = [[C(a_i, b_j)], [0, ..., 0]]  (C: Euclidean distance between Lab bin centers)
    sinkhorn = sum(ot.sinkhorn(a_aug, b, C_aug / max C, 0.05, numItermax=100, stopThr=1e-6) * C_aug) / s
    emd      = ot.emd2(a_aug, b, C_aug) / s

with max C the largest ground cost over all 1152 bins (as for the plain distance). Bins: 8 x 12 x 12
over L 0..100, a -86..98, b -108..95, flat index l * 144 + a * 12 + b, centers in the middle of each
cell. Run with POT 0.9 and numpy:  python3 make_wildcard_cases.py > wildcard.jsonl
"""

import json
import sys

import numpy as np
import ot

AXES = [(0.0, 100.0, 8), (-86.0, 98.0, 12), (-108.0, 95.0, 12)]


def center(bin_index):
    l, rest = divmod(bin_index, 144)
    a, b = divmod(rest, 12)
    return [lo + (i + 0.5) * (hi - lo) / n for i, (lo, hi, n) in zip((l, a, b), AXES)]


CENTERS = np.array([center(i) for i in range(1152)])
MAX_COST = max(np.linalg.norm(CENTERS[i] - CENTERS[j]) for i in (0, 1151) for j in range(1152))


def histogram(rng, n):
    bins = np.sort(rng.choice(1152, size=n, replace=False))
    mass = rng.random(n) ** 2 + 1e-3
    return bins, mass / mass.sum()


def main():
    rng = np.random.default_rng(20261126)
    shares = [0.05, 0.1, 0.25, 0.4, 0.6, 0.8, 0.95]
    for case in range(42):
        a_bins, a = histogram(rng, int(rng.integers(1, 13)))
        b_bins, b = histogram(rng, int(rng.integers(3, 65)))
        s = shares[case % len(shares)]
        cost = np.linalg.norm(CENTERS[a_bins][:, None, :] - CENTERS[b_bins][None, :, :], axis=2)
        cost_aug = np.vstack([cost, np.zeros((1, len(b_bins)))])
        a_aug = np.concatenate([s * a, [1.0 - s]])
        plan = ot.sinkhorn(a_aug, b, cost_aug / MAX_COST, 0.05, numItermax=100, stopThr=1e-6)
        sinkhorn = float((plan * cost_aug).sum() / s)
        emd = float(ot.emd2(a_aug, b, cost_aug) / s)
        pairs = lambda bins, mass: [[int(i), float(m)] for i, m in zip(bins, mass)]
        print(json.dumps({"a": pairs(a_bins, a), "b": pairs(b_bins, b), "any": round(1.0 - s, 10), "sinkhorn": sinkhorn, "emd": emd}))


if __name__ == "__main__":
    main()
