"""Teacher-forced exact match on the seeded question suite: the fast, large-sample check for choosing
between trained models (the reported figures come from the engine, `npm run eval`).

Greedy decoding returns the expected answer token for token when, given the expected answer so far, the
argmax at every answer position is the next expected token and after the last one <|end|>. So one
forward pass over prompt + expected answer tells whether greedy decoding would reproduce it, and a
batch of them costs about one training step. It is a slightly stricter test than the eval's exact match:
a greedy answer that spells the right string with other tokens counts there and not here. Where it
misses, the first wrong answer position is recorded (and, for the list answers, which value it is in),
not the answer greedy decoding would have given.

  python tools/train/eval_tf.py --model public/models/default --suite .train-data/suite30.json \
      --from-index 8 --out RESULT.json [--ckpt OUT/ckpt.pt] [--lengths 4096,16384]

Items are the suite file's specs (`npm run eval -- --per-cell 30 --emit FILE`); --from-index skips each
cell's first items, e.g. those a final engine evaluation will use. Prompts are rendered and tokenised as
in training (tasks.render_prompt, tokenizer.json); bf16 autocast on CUDA, fp32 on the CPU.
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export as E  # noqa: E402
import suite as S  # noqa: E402
import tasks as T  # noqa: E402
import train as TR  # noqa: E402


def load_model(model_dir=None, ckpt=None):
    """A train.py LM (fp32 weights) from an exported folder or a train.py checkpoint."""
    if ckpt:
        ck = torch.load(ckpt, map_location='cpu')
        c, sd = ck['config'], ck['model']
    else:
        c, sd = E.load_hf(model_dir)
    model = TR.LM(c)
    model.load_state_dict(sd)
    return model.eval()


def encode_items(tok, hay, items):
    """[(item, prompt ids, answer ids ending with <|end|>)] as the training rows are built."""
    prompts = tok.encode_batch([T.render_prompt(S.document_of(hay, it), it['question']) for it in items], add_special_tokens=False)
    answers = tok.encode_batch([it['answer'] for it in items], add_special_tokens=False)
    return [(it, p.ids, a.ids + [TR.END]) for it, p, a in zip(items, prompts, answers)]


def batches(encoded, tokens_per_batch):
    """Rows grouped by the item's length cell, at most tokens_per_batch tokens of that length per batch."""
    by_len = {}
    for e in encoded:
        by_len.setdefault(int(e[0]['length']), []).append(e)
    for L in sorted(by_len):
        rows = by_len[L]
        n = max(1, tokens_per_batch // L)
        for i in range(0, len(rows), n):
            yield rows[i:i + n]


def first_miss(pred, ans):
    """Index of the first answer position whose argmax is not the expected token, or None."""
    for i, (p, a) in enumerate(zip(pred, ans)):
        if p != a:
            return i
    return None


@torch.no_grad()
def score_batch(model, rows, dev, pad_id):
    """For each row, the argmax token at every answer position, teacher forced (one forward pass)."""
    T_max = max(len(p) + len(a) for _, p, a in rows) - 1
    x = torch.full((len(rows), T_max), pad_id, dtype=torch.long)
    for r, (_, p, a) in enumerate(rows):
        ids = (p + a)[:-1]  # the last answer token (<|end|>) is only a target
        x[r, :len(ids)] = torch.tensor(ids)
    x = x.to(dev)
    with torch.autocast('cuda', dtype=torch.bfloat16, enabled=(dev == 'cuda')):
        h = model.hidden(x)  # padding sits after each row's tokens: causal attention never sees it
    w = model.embed.weight.float()
    preds = []
    for r, (_, p, a) in enumerate(rows):
        pos = torch.arange(len(p) - 1, len(p) - 1 + len(a), device=dev)
        preds.append((h[r, pos].float() @ w.t()).argmax(-1).tolist())
    return preds


def evaluate(model, tok, hay, items, dev, tokens_per_batch=131072, log=None):
    records = []
    for rows in batches(encode_items(tok, hay, items), tokens_per_batch):
        t = time.time()
        for (it, p, a), pred in zip(rows, score_batch(model, rows, dev, TR.EOS)):
            miss = first_miss(pred, a)
            rec = dict(id=it['id'], task=it['task'], length=int(it['length']), promptTokens=len(p),
                       answerTokens=len(a), exact=miss is None, expected=it['answer'])
            if miss is not None:
                rec['firstMiss'] = miss
                rec['missValue'] = tok.decode(a[:miss]).count(',')  # which value of a list answer (0: the first)
                rec['predictedToken'] = tok.id_to_token(pred[miss])
                rec['expectedToken'] = tok.id_to_token(a[miss])
            records.append(rec)
        if log:
            log(f"{rows[0][0]['length']}: {len(rows)} rows in {time.time() - t:.2f}s")
    return records


def summary(records):
    avg = S.averages(records, 'exact')
    short = [avg[L] for L in (4096, 16384, 32768) if L in avg]
    return dict(average={str(L): round(v, 4) for L, v in avg.items()},
                average_4k_32k=round(sum(short) / len(short), 4) if short else None,
                items=len(records))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default=None, help='exported Hugging Face folder (config, safetensors, tokenizer.json)')
    ap.add_argument('--ckpt', default=None, help='or a train.py checkpoint (then give --tokenizer)')
    ap.add_argument('--tokenizer', default=None, help="tokenizer.json (default: the model folder's)")
    ap.add_argument('--suite', required=True)
    ap.add_argument('--haystack', default=S.HAYSTACK)
    ap.add_argument('--lengths', default=None, help='only these lengths, e.g. 4096,16384')
    ap.add_argument('--from-index', type=int, default=0, help="skip each cell's first N items")
    ap.add_argument('--per-cell', type=int, default=None, help='items numbered below this only')
    ap.add_argument('--tokens-per-batch', type=int, default=131072)
    ap.add_argument('--label', default=None)
    ap.add_argument('--out', required=True)
    a = ap.parse_args()
    if bool(a.model) == bool(a.ckpt):
        raise SystemExit('give one of --model DIR or --ckpt FILE')
    tok_path = a.tokenizer or (os.path.join(a.model, 'tokenizer.json') if a.model else None)
    if not tok_path or not os.path.exists(tok_path):
        raise SystemExit(f'no tokenizer.json: {tok_path} (give --tokenizer)')
    os.environ['TOKENIZERS_PARALLELISM'] = 'true'  # encode_batch on every core (device_run.sh turns it off for training)
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(tok_path)
    if [tok.token_to_id(t) for t in ('<s>', '</s>', '<|end|>')] != [TR.BOS, TR.EOS, TR.END]:
        raise SystemExit(f'{tok_path}: <s>, </s>, <|end|> are not ids {TR.BOS}, {TR.EOS}, {TR.END}')
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    model = load_model(a.model, a.ckpt).to(dev)
    lengths = [int(x) for x in a.lengths.split(',')] if a.lengths else None
    suite = S.load_suite(a.suite, lengths, a.per_cell, a.from_index)
    if not suite['items']:
        raise SystemExit(f'{a.suite}: no items for lengths {lengths}, numbers {a.from_index}..{a.per_cell}')
    t = time.time()
    records = evaluate(model, tok, S.load_haystack(a.haystack), suite['items'], dev, a.tokens_per_batch,
                       log=lambda s: print(s, flush=True))
    res = dict(label=a.label or a.model or a.ckpt, model=a.model, ckpt=a.ckpt, suite=a.suite, seed=suite.get('seed'),
               from_index=a.from_index, per_cell=a.per_cell, metric='teacher-forced exact match',
               device=torch.cuda.get_device_name() if dev == 'cuda' else 'cpu', seconds=round(time.time() - t, 1),
               **summary(records), table=S.table(records, 'exact'), records=records)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, 'w') as f:
        json.dump(res, f, indent=1)
    print(f"{res['label']}: teacher-forced exact match, {len(records)} items in {res['seconds']}s")
    print(res['table'])
    print(f"average 4K-32K {100 * res['average_4k_32k']:.1f}" if res['average_4k_32k'] is not None else '')


if __name__ == '__main__':
    main()
