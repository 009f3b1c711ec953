"""Evaluate an exported folder with Hugging Face transformers: held-out perplexity and the seeded
question suite (the spec file written by `npm run eval -- --emit FILE`, see src/eval/tasks.ts).

  python tools/train/eval_hf.py --model public/models/default --suite SUITE.json --out RESULT.json \
      [--ckpt OUT/ckpt.pt] [--heldout .train-data/heldout.txt.gz] [--seconds 90]

--ckpt also checks that transformers' logits match the training code's on a sample (export check).
Greedy answers and their token ids are written per item, so the engine's answers can be compared.
"""
import argparse
import gzip
import json
import math
import os
import sys
import time

import torch
import transformers.integrations.sdpa_attention as sdpa_attention
from transformers import AutoModelForCausalLM, AutoTokenizer

# transformers passes enable_gqa to SDPA when there is no mask; in float32 that is served only by the
# math kernel, which materialises the (T x T) scores (16 GiB a head at 64K). Repeating K/V instead
# keeps the memory-efficient kernel.
sdpa_attention.use_gqa_in_sdpa = lambda *args, **kwargs: False

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def document_of(hay, it):
    text = hay[it['hayStart']:it['hayEnd']]
    out, last = [], 0
    for p, s in it['inserts']:
        out.append(text[last:p]); out.append(s); last = p
    out.append(text[last:])
    return ''.join(out)


def normalize(s):
    s = ' '.join(s.split()).lower()
    return s[:-1] if s.endswith('.') else s


@torch.no_grad()
def perplexity(model, tok, path, dev, window=2048, max_tokens=600_000):
    with gzip.open(path, 'rt') as f:
        text = f.read()
    ids = tok(text, add_special_tokens=False)['input_ids'][:max_tokens]
    nll, n = 0.0, 0
    for s in range(0, len(ids) - window, window):
        x = torch.tensor([ids[s:s + window]], device=dev)
        out = model(x, labels=x)
        nll += out.loss.item() * (window - 1); n += window - 1
    return math.exp(nll / n), n


@torch.no_grad()
def parity(model, ckpt, dev):
    sys.path.insert(0, HERE)
    import train as TR
    ck = torch.load(ckpt, map_location='cpu')
    ours = TR.LM(ck['config']).to(dev)
    ours.load_state_dict(ck['model'])
    ours.float()
    x = torch.randint(10, ck['config']['vocab'], (1, 256), device=dev)
    a = ours(x).float()
    b = model(x).logits.float()
    return (a - b).abs().max().item(), (a.argmax(-1) == b.argmax(-1)).float().mean().item()


@torch.no_grad()
def run_suite(model, tok, suite, hay, dev, seconds, log):
    results = []
    t0 = time.time()
    eos = [tok.convert_tokens_to_ids('<|end|>'), tok.convert_tokens_to_ids('</s>')]
    # round robin over the cells (item 0 of every cell, then item 1...), so a time limit cuts evenly
    for it in sorted(suite['items'], key=lambda i: (int(i['id'].rsplit('-', 1)[1]), i['length'])):
        if time.time() - t0 > seconds:
            break
        doc = document_of(hay, it)
        prompt = tok.apply_chat_template([{'role': 'user', 'content': f"{doc}\n\nQuestion: {it['question']}"}],
                                         add_generation_prompt=True, tokenize=False)
        ids = tok(prompt, add_special_tokens=False, return_tensors='pt')['input_ids'].to(dev)
        t = time.time()
        out = model.generate(ids, max_new_tokens=48, do_sample=False, eos_token_id=eos, pad_token_id=eos[1])
        new = out[0, ids.shape[1]:].tolist()
        ans = tok.decode(new, skip_special_tokens=True)
        ok = normalize(ans) == normalize(it['answer'])
        results.append(dict(id=it['id'], task=it['task'], length=it['length'], promptTokens=ids.shape[1],
                            answer=ans, expected=it['answer'], correct=ok, tokens=new, ms=round(1000 * (time.time() - t), 1)))
        if log:
            print(json.dumps({k: results[-1][k] for k in ('id', 'promptTokens', 'answer', 'expected', 'correct')}), flush=True)
    return results


def table(results):
    cells = {}
    for r in results:
        cells.setdefault(r['task'], {}).setdefault(r['length'], []).append(r['correct'])
    lengths = sorted({r['length'] for r in results})
    lines = ['task'.ljust(16) + ''.join(f'{L // 1024}K'.rjust(8) for L in lengths)]
    for task, row in cells.items():
        lines.append(task.ljust(16) + ''.join(
            (f'{100 * sum(row[L]) / len(row[L]):.0f}' if L in row else '-').rjust(8) for L in lengths))
    avg = []
    for L in lengths:
        accs = [sum(row[L]) / len(row[L]) for row in cells.values() if L in row]
        avg.append(f'{100 * sum(accs) / len(accs):.1f}' if accs else '-')
    lines.append('average'.ljust(16) + ''.join(a.rjust(8) for a in avg))
    return '\n'.join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='public/models/default')
    ap.add_argument('--suite', default=None)
    ap.add_argument('--haystack', default=os.path.join(REPO, 'src/eval/haystack.txt.gz'))
    ap.add_argument('--heldout', default=None)
    ap.add_argument('--ckpt', default=None)
    ap.add_argument('--out', required=True)
    ap.add_argument('--seconds', type=float, default=120)
    ap.add_argument('--dtype', default='float32')
    ap.add_argument('--log', action='store_true')
    ap.add_argument('--lengths', default=None, help='only these lengths, e.g. 4096,16384')
    a = ap.parse_args()
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    dt = getattr(torch, a.dtype)
    tok = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=dt, attn_implementation='sdpa').to(dev).eval()
    res = dict(model=a.model, dtype=a.dtype, device=torch.cuda.get_device_name() if dev == 'cuda' else 'cpu',
               transformers=__import__('transformers').__version__)
    if a.ckpt:
        res['parity_max_abs_logit_diff'], res['parity_argmax_agree'] = parity(model, a.ckpt, dev)
        print('parity', res['parity_max_abs_logit_diff'], res['parity_argmax_agree'], flush=True)
    if a.heldout:
        t = time.time()
        res['heldout_ppl'], res['heldout_tokens'] = perplexity(model, tok, a.heldout, dev)
        print(f"held-out perplexity {res['heldout_ppl']:.2f} over {res['heldout_tokens']} tokens ({time.time() - t:.0f}s)", flush=True)
    if a.suite:
        with open(a.suite) as f:
            suite = json.load(f)
        if a.lengths:
            keep = {int(x) for x in a.lengths.split(',')}
            suite['items'] = [i for i in suite['items'] if i['length'] in keep]
        with gzip.open(a.haystack, 'rt', encoding='ascii') as f:
            hay = f.read()
        res['items'] = run_suite(model, tok, suite, hay, dev, a.seconds, a.log)
        res['table'] = table(res['items'])
        print(res['table'], flush=True)
    with open(a.out, 'w') as f:
        json.dump(res, f, indent=1)


if __name__ == '__main__':
    main()
