"""A weighted average of two trained models of the same shape (weight averaging, a "model soup"), as a train.py
checkpoint for export.py / eval_tf.py / train.py --resume.

  python tools/train/average.py --a public/models/default --b .runs/long3-run1 --weight 0.5 --out /tmp/soup/ckpt.pt

--a and --b are exported Hugging Face folders (export.py's layout) or train.py checkpoints (a path ending in .pt).
The result is (1 - weight) * A + weight * B for every parameter, in fp32. Two continuations of one model (here
'long3' run 1 trained from 'long2q' run 1) sit in one basin, so the average keeps what each gained, or part of it;
averages of unrelated models are not meaningful and are refused when the configs differ.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export as E  # noqa: E402


def load_any(path):
    """(train.py config, fp32 state dict) of a checkpoint (.pt) or an exported folder."""
    return E.load_ckpt(path) if path.endswith('.pt') else E.load_hf(path)


def average_states(ca, sa, cb, sb, weight, names=('A', 'B')):
    """(1 - weight) * sa + weight * sb, after checking that the two describe the same model."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f'--weight must be from 0 to 1 (the share of {names[1]}), got {weight}')
    if ca != cb:
        diff = sorted(k for k in set(ca) | set(cb) if ca.get(k) != cb.get(k))
        raise ValueError(f'{names[0]} and {names[1]} are different models: config differs in {diff}')
    if set(sa) != set(sb):
        raise ValueError(f'{names[0]} and {names[1]} have different parameters: {sorted(set(sa) ^ set(sb))[:4]}')
    out = {}
    for k in sa:
        if sa[k].shape != sb[k].shape:
            raise ValueError(f'{k}: shape {tuple(sa[k].shape)} in {names[0]}, {tuple(sb[k].shape)} in {names[1]}')
        out[k] = torch.lerp(sa[k].float(), sb[k].float(), weight)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--a', required=True, help='first model: exported folder or train.py checkpoint (.pt)')
    ap.add_argument('--b', required=True, help='second model, the same shape')
    ap.add_argument('--weight', type=float, required=True, help="the share of --b, from 0 to 1")
    ap.add_argument('--out', required=True, help='the averaged train.py checkpoint to write (.pt)')
    a = ap.parse_args()
    ca, sa = load_any(a.a)
    cb, sb = load_any(a.b)
    try:
        avg = average_states(ca, sa, cb, sb, a.weight, names=(a.a, a.b))
    except ValueError as e:
        raise SystemExit(f'average.py: {e}')
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    torch.save({'model': avg, 'config': ca}, a.out)
    print(f'average.py: {1 - a.weight:g} x {a.a} + {a.weight:g} x {a.b} -> {a.out}')


if __name__ == '__main__':
    main()
