"""Teacher-forced exact match on the seeded question suite: the fast, large-sample check for choosing
between trained models (the reported figures come from the engine, `npm run eval`).

Greedy decoding returns the expected answer token for token when, given the expected answer so far, the
argmax at every answer position is the next expected token and after the last one <|end|>. So one
forward pass over prompt + expected answer tells whether greedy decoding would reproduce it, and a
batch of them costs about one training step. Where it misses, greedy decoding has produced the expected
tokens up to the first missed position and then the argmax there; if that text can no longer become the
expected answer (a wrong digit), the greedy answer is wrong. If it still can (the model spells the right
word with other tokens: `▁sp` `oken` for `▁spoken`), greedy decoding continues from there, a forward pass a
token, until it ends or departs from the answer. So 'correct' is the eval's exact match of the greedy answer
(the same normalisation), and 'exact' the stricter token-for-token match. Each miss records the first wrong
answer position and, for the list answers, which value it falls in.

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
    c, sd = E.load_ckpt(ckpt) if ckpt else E.load_hf(model_dir)
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
def hidden_padded(model, seqs, dev, pad_id):
    """The model's final hidden states for token lists of different lengths, one batch padded at the end
    (causal attention never sees the padding); bf16 autocast on CUDA."""
    x = torch.full((len(seqs), max(map(len, seqs))), pad_id, dtype=torch.long)
    for r, sq in enumerate(seqs):
        x[r, :len(sq)] = torch.tensor(sq)
    with torch.autocast(dev, dtype=torch.bfloat16, enabled=(dev == 'cuda')):
        return model.hidden(x.to(dev))


@torch.no_grad()
def score_batch(model, rows, dev, pad_id):
    """For each row, the argmax token at every answer position, teacher forced (one forward pass)."""
    h = hidden_padded(model, [(p + a)[:-1] for _, p, a in rows], dev, pad_id)  # the last answer token is only a target
    w = model.embed.weight.float()
    preds = []
    for r, (_, p, a) in enumerate(rows):
        pos = torch.arange(len(p) - 1, len(p) - 1 + len(a), device=dev)
        preds.append((h[r, pos].float() @ w.t()).argmax(-1).tolist())
    return preds


MAX_ANSWER_TOKENS = 48  # the engine eval's and eval_hf.py's limit on generated tokens


def text_key(s):
    """A generated text for comparison with the expected answer: whitespace collapsed, lower case (S.normalize
    without dropping the final period, so that it also applies to a text still being generated)."""
    return ' '.join(s.split()).lower()


def can_still_match(text, expected):
    """Whether generating more tokens after `text` can still give an answer equal to `expected` under the
    eval's normalisation (S.normalize: whitespace, case, one final period)."""
    return (text_key(expected) + '.').startswith(text_key(text))


@torch.no_grad()
def greedy_from_miss(model, tok, rows, dev, pad_id, stop_ids, tokens_per_batch=131072):
    """Greedy decoding on from a missed answer position, for the rows whose text so far can still become the
    expected answer (a word spelt with other tokens): rows are (item, prompt ids, the greedy answer so far: the
    matched prefix and the argmax at the miss, the expected answer ids). Each step is one batched forward pass
    (no cache); a row stops at a stop id, at its token limit, or as soon as its text can no longer match.
    Returns, per row, (the generated answer text, whether it matches)."""
    out = [None] * len(rows)
    gen = [list(so_far) for _, _, so_far, _ in rows]
    # at most twice the expected answer's tokens and 4 more (and MAX_ANSWER_TOKENS): an answer spelt in more
    # is counted as a miss; it bounds a model that emits whitespace, which the normalisation would let run on
    limit = [min(MAX_ANSWER_TOKENS, 2 * len(a) + 4) for _, _, _, a in rows]
    for group in batches([(it, p, i) for i, (it, p, _, _) in enumerate(rows)], tokens_per_batch):
        active = [i for _, _, i in group]
        while active:
            seqs = [rows[i][1] + gen[i] for i in active]
            h = hidden_padded(model, seqs, dev, pad_id)
            last = torch.tensor([len(sq) - 1 for sq in seqs], device=dev)
            nxt = (h[torch.arange(len(seqs), device=dev), last].float() @ model.embed.weight.float().t()).argmax(-1).tolist()
            still = []
            for i, t in zip(active, nxt):
                expected = rows[i][0]['answer']
                if t in stop_ids:
                    text = tok.decode(gen[i])
                    out[i] = (text, S.normalize(text) == S.normalize(expected))
                    continue
                gen[i].append(t)
                text = tok.decode(gen[i])
                if len(gen[i]) >= limit[i] or not can_still_match(text, expected):
                    out[i] = (text, False)
                    continue
                still.append(i)
            active = still
    return out


def evaluate(model, tok, hay, items, dev, tokens_per_batch=131072, log=None):
    records = []
    enc = encode_items(tok, hay, items)
    for rows in batches(enc, tokens_per_batch):
        t = time.time()
        for (it, p, a), pred in zip(rows, score_batch(model, rows, dev, TR.EOS)):
            miss = first_miss(pred, a)
            rec = dict(id=it['id'], task=it['task'], length=int(it['length']), promptTokens=len(p),
                       answerTokens=len(a), exact=miss is None, expected=it['answer'])
            if miss is not None:
                rec['firstMiss'] = miss
                rec['missValue'] = tok.decode(a[:miss]).count(',')  # which value of a list answer (0: the first)
                rec['predictedId'] = pred[miss]
                rec['predictedToken'] = tok.id_to_token(pred[miss])
                rec['expectedToken'] = tok.id_to_token(a[miss])
            records.append(rec)
        if log:
            log(f"{rows[0][0]['length']}: {len(rows)} rows in {time.time() - t:.2f}s")
    try:
        resolve_misses(model, tok, records, enc, dev, tokens_per_batch, log)
    except Exception as e:  # noqa: BLE001 - keep the teacher-forced scores: 'correct' falls back to 'exact', flagged
        import traceback
        traceback.print_exc()
        for rec in records:
            rec['correct'] = rec['exact']
            rec['greedyFailed'] = f'{type(e).__name__}: {str(e)[:200]}'
        if log:
            log(f'greedy from the miss failed ({type(e).__name__}): correct = exact (token for token) for every item')
    return records


def resolve_misses(model, tok, records, enc, dev, tokens_per_batch=131072, log=None):
    """Sets each record's 'correct' (the eval's exact match of the greedy answer): true where teacher forcing
    matched; for a miss, greedy decoding from the missed position where the text so far can still spell the
    expected answer (S.normalize), else false (the greedy answer then differs from the expected one)."""
    stop_ids = (TR.END, TR.EOS)
    by_id = {it['id']: (it, p, a) for it, p, a in enc}
    todo = []
    for rec in records:
        rec['correct'] = rec['exact']
        if rec['exact']:
            continue
        it, p, a = by_id[rec['id']]
        so_far = a[:rec['firstMiss']]
        if rec['predictedId'] in stop_ids:  # the greedy answer ended early: it is the matched prefix
            rec['answer'] = tok.decode(so_far)
            rec['correct'] = S.normalize(rec['answer']) == S.normalize(it['answer'])
        elif can_still_match(tok.decode(so_far + [rec['predictedId']]), it['answer']):
            todo.append((it, p, so_far + [rec['predictedId']], a))
    t = time.time()
    results = greedy_from_miss(model, tok, todo, dev, TR.EOS, stop_ids, tokens_per_batch) if todo else []
    by_rec = {r['id']: r for r in records}
    for (it, _, _, _), (text, ok) in zip(todo, results):
        by_rec[it['id']]['answer'] = text
        by_rec[it['id']]['correct'] = ok
    if log:
        log(f"greedy from the miss: {len(todo)} items, {sum(ok for _, ok in results)} match, {time.time() - t:.1f}s")


def summary(records):
    """Averages over tasks per length of 'correct' (the eval's exact match) and of 'exact' (token for token)."""
    out = dict(items=len(records))
    for key, name in (('correct', ''), ('exact', '_tokens')):
        avg = S.averages(records, key)
        short = [avg[L] for L in (4096, 16384, 32768) if L in avg]
        out['average' + name] = {str(L): round(v, 4) for L, v in avg.items()}
        out['average_4k_32k' + name] = round(sum(short) / len(short), 4) if short else None
    return out


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
               from_index=a.from_index, per_cell=a.per_cell,
               metric="exact match of the greedy answer (teacher forced, greedy from the first miss where the text can still "
                      "match); 'exact'/'_tokens': the same answer token for token",
               device=torch.cuda.get_device_name() if dev == 'cuda' else 'cpu', seconds=round(time.time() - t, 1),
               **summary(records), table=S.table(records, 'correct'), table_tokens=S.table(records, 'exact'), records=records)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, 'w') as f:
        json.dump(res, f, indent=1)
    print(f"{res['label']}: exact match of the greedy answer (teacher forced), {len(records)} items in {res['seconds']}s")
    print(res['table'])
    if res['average_4k_32k'] is not None:
        print(f"average 4K-32K {100 * res['average_4k_32k']:.1f} (token for token: {100 * res['average_4k_32k_tokens']:.1f})")


if __name__ == '__main__':
    main()
