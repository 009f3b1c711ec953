"""Evaluate an exported folder with Hugging Face transformers: held-out perplexity and the seeded
question suite (the spec file written by `npm run eval -- --emit FILE`, see src/eval/tasks.ts).

  python tools/train/eval_hf.py --model public/models/default --suite SUITE.json --out RESULT.json \
      [--ckpt OUT/ckpt.pt] [--heldout .train-data/heldout.txt.gz] [--seconds 90]

--ckpt also checks that transformers' logits match the training code's on a sample (export check).
Greedy answers and their token ids are written per item, with the item's spec (haystack slice, inserted
sentences, question), so the engine can answer the same items and compare
(`npm run eval -- --reference RESULT.json`). The result file is rewritten after every item, so a run cut
short keeps what it answered.

Attention: float32 (the weights are bf16, upcast exactly) through `rdkv_attention`, an exact causal
attention for one unpadded sequence that never builds a mask: prefill through SDPA's memory-efficient /
flash kernels (never the math kernel's T x T scores; query blocks if those refuse), decode (one query)
as two small matmuls per layer. A 128K-token item needs a few GiB.
"""
import argparse
import gzip
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from suite import HAYSTACK, document_of, load_haystack, load_suite, normalize, round_robin, table  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ATTN = 'rdkv_causal'
PREFILL_BLOCK = 4096  # query block of the fallback prefill path


def _sdpa_no_math(q, k, v, scale, mask=None, causal=False):
    """SDPA restricted to the fused kernels on CUDA (the math kernel would allocate the T x T scores)."""
    if q.is_cuda:
        from torch.nn.attention import SDPBackend, sdpa_kernel
        with sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION, SDPBackend.FLASH_ATTENTION]):
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, scale=scale)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, scale=scale)


def causal_attention(q, k, v, scale):
    """Causal attention of q (B, H, Tq, d) over k, v (B, H, Tk, d), Tq <= Tk, the queries being the last
    Tq positions (lower-right aligned). Whole when the fused kernels take it, else in query blocks."""
    Tq, Tk = q.shape[2], k.shape[2]
    if Tq == Tk:
        try:
            return _sdpa_no_math(q, k, v, scale, causal=True)
        except RuntimeError as e:  # no fused kernel for this case: blocks below
            print(f'attention: fused causal kernel refused ({str(e)[:120]}), query blocks', flush=True)
    out = []
    for s in range(0, Tq, PREFILL_BLOCK):
        e = min(Tq, s + PREFILL_BLOCK)
        end = Tk - Tq + e  # keys visible to the block's last query
        qpos = torch.arange(Tk - Tq + s, end, device=q.device)
        mask = qpos[:, None] >= torch.arange(end, device=q.device)[None, :]  # (block, end): a few hundred MB at most
        try:
            out.append(_sdpa_no_math(q[:, :, s:e], k[:, :, :end], v[:, :, :end], scale, mask=mask))
        except RuntimeError:
            out.append(F.scaled_dot_product_attention(q[:, :, s:e], k[:, :, :end], v[:, :, :end], attn_mask=mask, scale=scale))
    return torch.cat(out, dim=2)


def rdkv_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """transformers attention function for one unpadded sequence (batch 1, no mask needed): query
    (B, H, Tq, d), key/value (B, KV, Tk, d) with the cache; returns (B, Tq, H, d)."""
    B, H, Tq, d = query.shape
    kvh, Tk = key.shape[1], key.shape[2]
    rep = H // kvh
    scale = scaling if scaling is not None else d ** -0.5
    if Tq == 1:
        # decode: one query over all cached keys. Fused kernels parallelise over queries and heads only
        # (4 thread blocks here) and crawl at 128K; two matmuls use the whole GPU. Heads g*rep..g*rep+rep-1
        # share KV head g, as in transformers' repeat_kv.
        qg = query.reshape(B, kvh, rep, d)
        w = torch.softmax(torch.matmul(qg, key.transpose(-1, -2)).float() * scale, dim=-1).to(value.dtype)
        out = torch.matmul(w, value).reshape(B, H, 1, d)
    else:
        k = key[:, :, None].expand(B, kvh, rep, Tk, d).reshape(B, H, Tk, d)
        v = value[:, :, None].expand(B, kvh, rep, Tk, d).reshape(B, H, Tk, d)
        out = causal_attention(query, k, v, scale)
    return out.transpose(1, 2).contiguous(), None


def register_attention():
    """Registers rdkv_attention as attn_implementation=ATTN. transformers builds no mask for an
    implementation it has no mask function for, so a 128K prompt never gets a (T x T) mask."""
    from transformers import AttentionInterface
    AttentionInterface.register(ATTN, rdkv_attention)


@torch.no_grad()
def perplexity(model, tok, path, dev, window=2048, max_tokens=600_000, batch=16):
    with gzip.open(path, 'rt') as f:
        text = f.read()
    ids = tok(text, add_special_tokens=False)['input_ids'][:max_tokens]
    starts = list(range(0, len(ids) - window, window))
    nll, n = 0.0, 0
    for b in range(0, len(starts), batch):
        x = torch.tensor([ids[s:s + window] for s in starts[b:b + batch]], device=dev)
        out = model(x, labels=x)
        nll += out.loss.item() * x.shape[0] * (window - 1); n += x.shape[0] * (window - 1)
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


SPEC_FIELDS = ('hayStart', 'hayEnd', 'inserts', 'question')


@torch.no_grad()
def run_suite(model, tok, suite, hay, dev, seconds, log, on_item=None):
    results = []
    t0 = time.time()
    eos = [tok.convert_tokens_to_ids('<|end|>'), tok.convert_tokens_to_ids('</s>')]
    for it in round_robin(suite['items']):
        if time.time() - t0 > seconds:
            break
        doc = document_of(hay, it)
        prompt = tok.apply_chat_template([{'role': 'user', 'content': f"{doc}\n\nQuestion: {it['question']}"}],
                                         add_generation_prompt=True, tokenize=False)
        ids = tok(prompt, add_special_tokens=False, return_tensors='pt')['input_ids'].to(dev)
        t = time.time()
        rec = dict(id=it['id'], task=it['task'], length=it['length'], promptTokens=ids.shape[1])
        try:
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=48, do_sample=False,
                                 eos_token_id=eos, pad_token_id=eos[1])
        except torch.cuda.OutOfMemoryError as e:  # recorded, not fatal: the next (shorter) items still run
            rec.update(answer=None, expected=it['answer'], correct=False, error=f'out of memory: {str(e)[:160]}')
            results.append(rec)
            del e
            torch.cuda.empty_cache()
            print(json.dumps(rec), flush=True)
            continue
        new = out[0, ids.shape[1]:].tolist()
        ans = tok.decode(new, skip_special_tokens=True)
        ok = normalize(ans) == normalize(it['answer'])
        # tokens: the generated ids without the final end-of-turn id (as the engine reports them)
        toks = new[:-1] if new and new[-1] in eos else new
        rec.update(answer=ans, expected=it['answer'], correct=ok, tokens=toks, ms=round(1000 * (time.time() - t), 1),
                   **{k: it[k] for k in SPEC_FIELDS})
        results.append(rec)
        if log:
            print(json.dumps({k: rec[k] for k in ('id', 'promptTokens', 'answer', 'expected', 'correct', 'ms')}), flush=True)
        if on_item:
            on_item(results)
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='public/models/default')
    ap.add_argument('--suite', default=None, help='suite spec file (npm run eval -- --emit FILE)')
    ap.add_argument('--haystack', default=HAYSTACK)
    ap.add_argument('--heldout', default=None)
    ap.add_argument('--ckpt', default=None)
    ap.add_argument('--out', required=True)
    ap.add_argument('--seconds', type=float, default=120, help='no new suite item after this many seconds of the suite')
    ap.add_argument('--dtype', default='float32')
    ap.add_argument('--attn', default=ATTN, help=f"attn_implementation ('{ATTN}': exact, no masks; or 'sdpa', 'eager')")
    ap.add_argument('--log', action='store_true')
    ap.add_argument('--lengths', default=None, help='only these lengths, e.g. 4096,16384')
    ap.add_argument('--per-cell', type=int, default=None, help='at most this many items of each (task, length)')
    a = ap.parse_args()
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    dt = getattr(torch, a.dtype)
    if a.attn == ATTN:
        register_attention()
    tok = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=dt, attn_implementation=a.attn).to(dev).eval()
    res = dict(model=a.model, dtype=a.dtype, attention=a.attn, device=torch.cuda.get_device_name() if dev == 'cuda' else 'cpu',
               transformers=__import__('transformers').__version__, torch=torch.__version__)

    def save():  # atomic: a run killed at its deadline leaves the last complete file
        with open(a.out + '.tmp', 'w') as f:
            json.dump(res, f, indent=1)
        os.replace(a.out + '.tmp', a.out)

    if a.ckpt:
        res['parity_max_abs_logit_diff'], res['parity_argmax_agree'] = parity(model, a.ckpt, dev)
        print('parity', res['parity_max_abs_logit_diff'], res['parity_argmax_agree'], flush=True)
        save()
    if a.heldout:
        t = time.time()
        res['heldout_ppl'], res['heldout_tokens'] = perplexity(model, tok, a.heldout, dev)
        print(f"held-out perplexity {res['heldout_ppl']:.2f} over {res['heldout_tokens']} tokens ({time.time() - t:.0f}s)", flush=True)
        save()
    if a.suite:
        suite = load_suite(a.suite, [int(x) for x in a.lengths.split(',')] if a.lengths else None, a.per_cell)
        hay = load_haystack(a.haystack)
        res['seed'] = suite.get('seed')
        t = time.time()

        def on_item(items):
            res['items'] = items
            res['seconds'] = round(time.time() - t, 1)
            save()

        res['items'] = run_suite(model, tok, suite, hay, dev, a.seconds, a.log, on_item)
        res['table'] = table(res['items']) if res['items'] else 'no items'
        per = {}
        for r in res['items']:
            per[r['length']] = per.get(r['length'], 0) + 1
        res['note'] = (f"transformers {res['transformers']} {a.dtype} ({a.attn}) on {res['device']}; suite seed {res['seed']}, "
                       f"{len(res['items'])} of {len(suite['items'])} items in {time.time() - t:.0f} s (round robin over the cells; "
                       f"items per length {dict(sorted(per.items()))})")
        print(res['table'], flush=True)
        print(res['note'], flush=True)
    save()


if __name__ == '__main__':
    main()
