"""CPU checks of the training tools (no GPU, a few seconds):

  python tools/train/test_train.py            # or: python -m unittest tools/train/test_train.py

* --init-hf round trip: the shipped folder (public/models/default) loaded into train.py's model and
  exported again gives the same tensors, bit for bit, and the same logits;
* the continuation recipe's batches (lengths folded small) and the eval's attention path
  (eval_hf.rdkv_attention) against transformers' SDPA;
* depth growth (--grow-layers): grow_plan, the grown model computing the original function, and its export;
* the list tasks' wide variant (recipe 'lists3') and the standard ranges;
* made-up key words (recipe 'lists4');
* model_card.py's Training section for a chain of runs and its engine paragraphs;
* average.py's weighted average of two models and its refusals;
* eval_tf.py's teacher-forced scoring against greedy decoding, the greedy decoding of its misses, its batching
  and summary.
"""
import json
import os
import random
import sys
import tempfile
import unittest

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import export as E  # noqa: E402
import train as TR  # noqa: E402

MODEL = os.path.join(REPO, 'public/models/default')
DATA = os.path.join(REPO, '.train-data')
try:
    import tokenizers  # noqa: F401 - the training batches need it (the GPU machine has it)
    HAS_TOKENIZERS = True
except ImportError:
    HAS_TOKENIZERS = False
BATCHES = os.path.exists(os.path.join(DATA, 'train')) and HAS_TOKENIZERS
NO_BATCHES = 'needs .train-data (tools/train/prepare_data.py) and the tokenizers package'


def folder_tensors(folder):
    from safetensors.torch import load_file
    out = {}
    for f in sorted(os.listdir(folder)):
        if f.endswith('.safetensors'):
            for k, v in load_file(os.path.join(folder, f)).items():
                out[k] = (f, v)
    return out


class InitHfRoundTrip(unittest.TestCase):
    def test_round_trip(self):
        c, _ = E.load_hf(MODEL)
        model = TR.LM(c)
        TR.init_from_hf(model, MODEL)
        with tempfile.TemporaryDirectory() as tmp:
            torch.save({'model': model.state_dict(), 'config': c}, os.path.join(tmp, 'ckpt.pt'))
            out = os.path.join(tmp, 'model')
            E.export(os.path.join(tmp, 'ckpt.pt'), os.path.join(MODEL, 'tokenizer.json'), out)
            a, b = folder_tensors(MODEL), folder_tensors(out)
            self.assertEqual(sorted(a), sorted(b))
            for k in a:
                self.assertEqual(a[k][0], b[k][0], k)  # same shard
                self.assertEqual(a[k][1].dtype, b[k][1].dtype, k)
                self.assertTrue(torch.equal(a[k][1], b[k][1]), k)
            for f in ('config.json', 'model.safetensors.index.json', 'tokenizer_config.json', 'generation_config.json'):
                with open(os.path.join(MODEL, f)) as x, open(os.path.join(out, f)) as y:
                    self.assertEqual(json.load(x), json.load(y), f)
            again = TR.LM(c)
            TR.init_from_hf(again, out)
            ids = torch.tensor([[1, 5, 100, 2000, 37, 4000, 9, 9, 1234, 6]])
            with torch.no_grad():
                self.assertTrue(torch.equal(model(ids), again(ids)))
            try:
                from transformers import AutoModelForCausalLM
            except ImportError:
                return
            hf = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32, attn_implementation='sdpa').eval()
            with torch.no_grad():
                ref = hf(ids).logits
                ours = model(ids)
            self.assertLess((ref - ours).abs().max().item(), 1e-3)
            self.assertTrue(torch.equal(ref.argmax(-1), ours.argmax(-1)))

    def test_rejects_other_models(self):
        with open(os.path.join(MODEL, 'config.json')) as f:
            hf = json.load(f)
        self.assertEqual(E.train_config(hf), TR.CONFIGS['default'])
        with self.assertRaises(ValueError):
            E.train_config(dict(hf, tie_word_embeddings=False))
        with self.assertRaises(ValueError):
            E.train_config(dict(hf, rope_parameters={'rope_type': 'yarn', 'rope_theta': 1e6}))


class Average(unittest.TestCase):
    """average.py: the weighted average of two models of one shape, and its refusals."""

    def models(self, seed_a=1, seed_b=2, config='tiny'):
        import average as A
        c = dict(TR.CONFIGS[config])
        torch.manual_seed(seed_a)
        a = TR.LM(c)
        torch.manual_seed(seed_b)
        b = TR.LM(c)
        return A, c, a.state_dict(), b.state_dict()

    def test_weights(self):
        A, c, sa, sb = self.models()
        for w, want in ((0.0, sa), (1.0, sb)):
            got = A.average_states(c, sa, c, sb, w)
            self.assertTrue(all(torch.equal(got[k], want[k]) for k in sa), w)
        mid = A.average_states(c, sa, c, sb, 0.25)
        for k in sa:
            torch.testing.assert_close(mid[k], 0.75 * sa[k] + 0.25 * sb[k], rtol=0, atol=1e-6)
        self.assertTrue(any(not torch.equal(mid[k], sa[k]) for k in sa))

    def test_checkpoint_loads_into_train_py(self):
        A, c, sa, sb = self.models()
        with tempfile.TemporaryDirectory() as tmp:
            for name, sd in (('a.pt', sa), ('b.pt', sb)):
                torch.save({'model': sd, 'config': c}, os.path.join(tmp, name))
            ca, la = A.load_any(os.path.join(tmp, 'a.pt'))
            cb, lb = A.load_any(os.path.join(tmp, 'b.pt'))
            model = TR.LM(ca)
            model.load_state_dict(A.average_states(ca, la, cb, lb, 0.5))
            ids = torch.tensor([[1, 5, 100, 2000, 37]])
            with torch.no_grad():
                self.assertTrue(torch.isfinite(model(ids)).all())

    def test_refusals(self):
        A, c, sa, sb = self.models()
        with self.assertRaisesRegex(ValueError, 'from 0 to 1'):
            A.average_states(c, sa, c, sb, 1.5)
        _, cd, _, sd = self.models(config='default')
        with self.assertRaisesRegex(ValueError, r"different models: config differs in \['d', 'ffn', 'head_dim', 'layers'\]"):
            A.average_states(c, sa, cd, sd, 0.5)
        with self.assertRaisesRegex(ValueError, 'different parameters'):
            A.average_states(c, sa, c, {k: v for k, v in sb.items() if k != 'norm'}, 0.5)


class Recipes(unittest.TestCase):
    def test_curricula(self):
        for name, r in TR.RECIPES.items():
            starts = [s for s, _ in r['curriculum']]
            self.assertEqual(starts[0], 0.0, name)
            self.assertEqual(starts, sorted(starts), name)
            for _, t in r['curriculum']:
                self.assertAlmostEqual(sum(t.values()), 1.0, places=6, msg=name)
            self.assertEqual(set(r['task_weights']), set(TR.T.TASKS), name)
        self.assertEqual(TR.clamp_curriculum([(0.0, {512: 0.5, 4096: 0.25, 8192: 0.25})], 1024), [(0.0, {512: 0.5, 1024: 0.5})])
        long_main = TR.LONG_CURRICULUM[-1][1]
        self.assertEqual(max(long_main), 131072)

    @unittest.skipUnless(BATCHES, NO_BATCHES)
    def test_long_batches(self):
        progress = type('P', (), {'value': 0.5})()
        cur = TR.clamp_curriculum(TR.LONG_CURRICULUM, 512)
        ds = TR.Stream(DATA, progress, 2048, cur, seed=3, task_weights=TR.LONG_TASK_WEIGHTS, lm_share=0.1)
        it = iter(ds)
        answers = 0
        for _ in range(6):
            ids, kind = next(it)
            self.assertEqual(ids.shape[1], 513)
            self.assertEqual(ids.shape[0], 4)
            answers += int((kind == 2).any(1).sum())
            for row, k in zip(ids.tolist(), kind.tolist()):
                if 2 in k:  # the answer ends with <|end|> and follows the assistant turn
                    last = max(i for i, x in enumerate(k) if x == 2)
                    self.assertEqual(row[last], TR.END)
        self.assertGreater(answers, 12)


class WideTasks(unittest.TestCase):
    """tasks.make_task's wide variant (recipe 'lists3') and the standard ranges it must leave as they were."""
    words = [f'w{i}' for i in range(200)]

    def sizes(self, task, wide, n=400):
        out = []
        for seed in range(n):
            needles, q, a = TR.T.make_task(task, random.Random(seed), self.words, wide)
            out.append((needles, q, a))
        return out

    def test_multivalue_and_multiquery_ranges(self):
        for wide, hi in ((False, 4), (True, 8)):
            counts = {len(a.split(', ')) for _, _, a in self.sizes('niah_multivalue', wide)}
            self.assertEqual(counts, set(range(2, hi + 1)), wide)
        for wide, hi in ((False, 4), (True, 6)):
            counts = set()
            for needles, q, a in self.sizes('niah_multiquery', wide):
                self.assertEqual(len(needles), len(a.split(', ')))
                counts.add(len(needles))
            self.assertEqual(counts, set(range(2, hi + 1)), wide)

    def test_freq_margin(self):
        for wide, margin, words in ((False, 2, range(2, 6)), (True, 2, range(3, 7))):
            seen, closest = set(), 99
            for needles, q, a in self.sizes('freq', wide):
                n = {}
                for x in needles:
                    w = x.rsplit(' ', 1)[1].rstrip('.')
                    n[w] = n.get(w, 0) + 1
                top = n.pop(a)
                self.assertTrue(all(top - c >= margin for c in n.values()), (wide, top, n))
                closest = min([closest] + [top - c for c in n.values()])
                seen.add(len(n) + 1)
            self.assertEqual(seen, set(words), wide)
            self.assertEqual(closest, 2, wide)  # the wide variant reaches the close calls (and so does the eval's top 4)

    def test_standard_rows_unchanged(self):
        # the standard variant's rows, pinned: a digest of 50 seeds of every task, computed with tasks.py before the
        # wide variant existed (session 6, 9e3e4e2); older recipes (and their logs) keep their rows
        import hashlib
        rows = [TR.T.make_task(t, random.Random(s), self.words) for t in TR.T.TASKS for s in range(50)]
        self.assertEqual(hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16], 'de9906e10d5aba88')
        progress = type('P', (), {'value': 0.0})()
        self.assertEqual(TR.Stream('.', progress, 1024, [(0.0, {512: 1.0})], seed=1).wide_share, 0.0)
        self.assertEqual(TR.RECIPES['lists3']['wide_share'], 0.5)
        self.assertNotIn('wide_share', TR.RECIPES['lists2'])


class PseudoWords(unittest.TestCase):
    """Made-up key words (recipe 'lists4'): distinct, never a real training or evaluation key word."""

    def test_words(self):
        ev = TR.S.eval_words()
        self.assertGreater(len(ev), 1000)
        with open(os.path.join(HERE, 'words_train.txt')) as f:
            train = set(f.read().split())
        self.assertFalse(ev & train)  # the eval's key words are disjoint from training's (prepare_data.py)
        rng = random.Random(0)
        avoid = {TR.T.pseudo_word(random.Random(1))}
        seen = set()
        for _ in range(300):
            ws = TR.T.pseudo_words(rng, 12, avoid)
            self.assertEqual(len(set(ws)), 12)
            self.assertFalse(set(ws) & avoid)
            for w in ws:
                self.assertRegex(w, r'^[a-z]{4,16}$')
            seen.update(ws)
        self.assertGreater(len(seen), 3000)  # a large space: few repeats over 3600 draws
        self.assertLess(len(seen & (ev | train)), 5)  # real words come out rarely; the Stream passes them as `avoid`

    def test_recipe(self):
        self.assertEqual(TR.RECIPES['lists4']['pseudo_share'], 0.3)
        for name in ('lists2', 'lists3'):
            self.assertNotIn('pseudo_share', TR.RECIPES[name])

    @unittest.skipUnless(BATCHES, NO_BATCHES)
    def test_stream_rows(self):
        progress = type('P', (), {'value': 0.5})()
        ds = TR.Stream(DATA, progress, 4096, [(0.0, {1024: 1.0})], seed=5, task_weights={'freq': 1.0}, lm_share=0.0,
                       pseudo_share=1.0)
        ds._setup()
        real = ds.avoid
        for _ in range(20):
            ids, kind = ds.qa_row(random.Random(_), 1025)
            answer = ds.tok.decode([t for t, k in zip(ids, kind) if k == 2])
            self.assertNotIn(answer.strip(), real)
            self.assertIn(answer.strip(), ds.tok.decode(ids))  # the made-up word is in the document


def stub_stream(followup=None, **kw):
    """A Stream over generated text with a character-level tokenizer: its rows without `tokenizers` or .train-data."""
    class Tok:
        def encode(self, s, add_special_tokens=False):
            return type('E', (), {'ids': [ord(c) for c in s]})()

    progress = type('P', (), {'value': 0.0})()
    ds = TR.Stream('.', progress, 4096, [(0.0, {1024: 1.0})], seed=1, task_weights=kw.get('task_weights'), lm_share=0.0,
                   wide_share=kw.get('wide_share', 0.0), pseudo_share=kw.get('pseudo_share', 0.0), followup=followup)
    rng = random.Random(7)
    words = ['the', 'keeper', 'rowed', 'to', 'a', 'bay', 'lamp', 'stone']
    sent = lambda: ' '.join(rng.choice(words) for _ in range(rng.randint(4, 12))).capitalize() + '.'  # noqa: E731
    text = '\n'.join(' '.join(sent() for _ in range(5)) for _ in range(3000))
    ds.tok, ds.texts = Tok(), {n: text for n in TR.SOURCE_WEIGHTS}
    ds.words = [f'word{i}' for i in range(300)]
    ds.cpt = {n: 1.0 for n in ds.texts}
    ds.avoid = set(ds.words)
    return ds


def answer_from_needles(q, needles):
    """What a question asks, worked out from the document's needles alone (to check that tasks sharing a document
    do not change each other's answers)."""
    import re
    magic = [re.fullmatch(r'The special magic number for (\S+) is (\d+)\.', n) for n in needles]
    magic = [(m[1], m[2]) for m in magic if m]
    m = re.fullmatch(r'What are all the special magic numbers for (\S+)\?', q)
    if m:
        return ', '.join(v for k, v in magic if k == m[1])
    m = re.fullmatch(r'What are the special magic numbers for (.+)\?', q)
    if m:
        keys = re.split(r', | and ', m[1])
        return ', '.join(next(v for k, v in magic if k == key) for key in keys)
    m = re.fullmatch(r'What is the special magic number for (\S+)\?', q)
    if m:
        (v,) = [v for k, v in magic if k == m[1]]
        return v
    if q == 'What is the pass key?':
        (v,) = [re.match(r'The pass key is (\d+)', n)[1] for n in needles if n.startswith('The pass key')]
        return v
    if q == 'Which word of the day occurs most often?':
        words = [n[len('The word of the day is '):-1] for n in needles if n.startswith('The word of the day')]
        return max(set(words), key=words.count)
    m = re.fullmatch(r'What is the value of VAR (\S+)\?', q)
    if m:
        chain, name = [], m[1]
        defs = dict(re.fullmatch(r'VAR (\S+) = (.+)\.', n).groups() for n in needles if n.startswith('VAR '))
        while True:
            chain.append(f'VAR {name}')
            if not defs[name].startswith('VAR '):
                return ' = '.join(chain + [defs[name]])
            name = defs[name][4:]
    raise ValueError(q)


class Sessions(unittest.TestCase):
    """Several questions about one document (recipe 'long2q'): tasks.make_session and the Stream's chat rows."""

    def test_interleave(self):
        rng = random.Random(0)
        for _ in range(200):
            lists = [[(i, j) for j in range(rng.randint(0, 5))] for i in range(rng.randint(1, 4))]
            out = TR.T.interleave(rng, lists)
            self.assertEqual(sorted(out), sorted(x for lst in lists for x in lst))
            for i, lst in enumerate(lists):
                self.assertEqual([x for x in out if x[0] == i], lst)

    def test_answers_stand_alone(self):
        # every question's answer follows from the needles of the whole document, as if its task were alone
        rng = random.Random(1)
        words = [f'key{i}' for i in range(60)]
        for seed in range(300):
            tasks = [rng.choice(TR.T.TASKS) for _ in range(rng.randint(2, 6))]
            needles, qas = TR.T.make_session(tasks, random.Random(seed), words, wide=seed % 2 == 1)
            asked = [q for q, _ in qas]
            for q, a in qas:
                self.assertEqual(answer_from_needles(q, needles), a, (seed, tasks, q))
            self.assertLessEqual(asked.count('What is the pass key?'), 1)
            self.assertLessEqual(asked.count('Which word of the day occurs most often?'), 1)
            kept = [t for i, t in enumerate(tasks) if t not in TR.T.KEYLESS or t not in tasks[:i]]
            self.assertEqual(len(qas), len(kept))

    def test_rows_without_followup_unchanged(self):
        # the digests of qa_row's rows before the chat rows existed (train.py at a25ae6f), for the recipes before
        import hashlib

        def digest(**kw):
            ds = stub_stream(**kw)
            rows = [ds.qa_row(random.Random(s), n) for s in range(40) for n in (700, 3000)]
            return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]

        self.assertEqual(digest(), '4859a19b608ba20f')
        self.assertEqual(digest(wide_share=0.5, pseudo_share=0.3, task_weights=TR.LISTS2_TASK_WEIGHTS), '048fe261e2ef9d88')
        self.assertNotIn('followup', TR.RECIPES['long2'])
        self.assertEqual(TR.RECIPES['long2q']['followup'], TR.FOLLOWUP)
        # 'long3': 'long2q' with only its lengths and the word task's weight changed
        long3, long2q = TR.RECIPES['long3'], TR.RECIPES['long2q']
        self.assertEqual({k for k in long3 if long3[k] != long2q[k]}, {'curriculum', 'task_weights'})
        self.assertEqual({k for k, v in long3['task_weights'].items() if v != long2q['task_weights'][k]}, {'freq'})
        short = sum(v for L, v in long3['curriculum'][0][1].items() if L <= 4096)
        self.assertAlmostEqual(short, sum(v for L, v in TR.RECIPES['lists4']['curriculum'][0][1].items() if L <= 4096))

    def test_chat_rows(self):
        f = dict(TR.FOLLOWUP, share=1.0, min_len=2000)
        ds = stub_stream(followup=f, task_weights=TR.LONG2_TASK_WEIGHTS, wide_share=0.5, pseudo_share=0.3)
        counts = set()
        for seed in range(60):
            n = 12001  # room for four list tasks' needles at one token a character
            ids, kind = ds.qa_row(random.Random(seed), n)
            self.assertLessEqual(len(ids), n)
            self.assertEqual(len(ids), len(kind))
            spans, prev = [], 0
            for i, k in enumerate(kind):
                if k == 2 and prev != 2:
                    spans.append([i, i])
                if k == 2:
                    spans[-1][1] = i + 1
                prev = k
            self.assertTrue(spans, seed)  # not the plain-text fallback
            counts.add(len(spans))
            text = lambda a, b: ''.join(chr(t) for t in ids[a:b] if t != TR.END)  # noqa: E731
            self.assertTrue(text(0, spans[0][0]).endswith('<|end|>\n<|assistant|>\n'))
            self.assertIn('\n\nQuestion: ', text(0, spans[0][0]))
            for (a, b), (c, _) in zip(spans, spans[1:]):
                self.assertEqual(ids[b - 1], TR.END)  # each answer ends with <|end|>
                turn = text(b, c)  # a follow-up: the bare question in its own user turn, as the app sends it
                self.assertRegex(turn, r'^\n<\|user\|>\n[^\n]+\?<\|end\|>\n<\|assistant\|>\n$')
                self.assertNotIn('Question:', turn)
        self.assertEqual(counts, {1, 2, 3, 4})  # 2-4 questions; a second pass key or frequency question is dropped
        # rows shorter than min_len stay single questions
        ids, kind = ds.qa_row(random.Random(0), 1025)
        self.assertEqual(sum(1 for i, k in enumerate(kind) if k == 2 and (i == 0 or kind[i - 1] != 2)), 1)

    @unittest.skipUnless(BATCHES, NO_BATCHES)
    def test_chat_rows_tokenized(self):
        # with the real tokenizer: one <|user|> token per question (the follow-up turns' special tokens are parsed,
        # not spelt), every answer span ends with <|end|>, and the answers decode to what was asked
        f = dict(TR.FOLLOWUP, share=1.0, min_len=1024)
        progress = type('P', (), {'value': 0.5})()
        ds = TR.Stream(DATA, progress, 8192, [(0.0, {4096: 1.0})], seed=5, task_weights=TR.LONG2_TASK_WEIGHTS, lm_share=0.0,
                       wide_share=0.5, pseudo_share=0.3, followup=f)
        ds._setup()
        user = ds.tok.token_to_id('<|user|>')
        for seed in range(12):
            ids, kind = ds.qa_row(random.Random(seed), 4097)
            self.assertLessEqual(len(ids), 4097)
            spans = [[i, i + 1] for i, k in enumerate(kind) if k == 2 and (i == 0 or kind[i - 1] != 2)]
            for sp in spans:
                while sp[1] < len(kind) and kind[sp[1]] == 2:
                    sp[1] += 1
                self.assertEqual(ids[sp[1] - 1], TR.END)
                self.assertRegex(ds.tok.decode(ids[sp[0]:sp[1] - 1]).strip(), r'^\S')
            self.assertGreaterEqual(len(spans), 1)
            self.assertEqual(ids.count(user), len(spans), seed)


class ModelCard(unittest.TestCase):
    """model_card.py's Training section for a chain of runs, and its engine paragraphs."""

    def log(self, **kw):
        base = dict(steps=10, tokens=2_000_000, seconds=60, device='GPU', lr=1e-3, warmup=40, tokens_per_batch=131072,
                    curriculum=[[0.0, {'512': 1.0}]], task_weights={'vt': 1.0}, lm_share=0.05, recipe='lists3', log=[],
                    steps_by_len={'512': 10})
        return dict(base, **kw)

    def test_chain_said_once(self):
        import model_card as MC
        prior = ('4 runs in all, each after the first starting from the weights the one before exported. The first 2, ...:\n\n'
                 'Two runs.\n\n1 steps, 1M tokens\n\n2 steps, 1M tokens\n\nThen a run\n3 steps, 1M tokens\n\nThen a run\n4 steps, 1M tokens')
        text = MC.training_text([self.log(init_hf='x', prior_training=prior, wide_share=0.5), self.log(init_hf='y')], [600, 500])
        self.assertEqual(text.count('runs in all'), 1)
        self.assertTrue(text.startswith('6 runs in all'))
        self.assertEqual(text.count("harder 'wide' variant"), 1)  # only the run that had it
        self.assertIn('about 10 minutes', text)

    def test_average_paragraph(self):
        import model_card as MC
        text = MC.average_text(0.3, self.log(init_hf='x'))
        self.assertIn('0.7 x (the weights it started from) + 0.3 x (the weights it ended with)', text)
        with self.assertRaises(SystemExit):
            MC.average_text(1.0, self.log(init_hf='x'))
        with self.assertRaises(SystemExit):  # a run from scratch started from no weights
            MC.average_text(0.3, self.log())

    def test_engine_paragraphs(self):
        import model_card as MC
        items = [dict(task='vt', length=4096, correct=True), dict(task='vt', length=4096, correct=False)]
        ee = dict(items=items, perCell=30, lengths=[4096], suite='.train-data/suite30.json', adapter={'vendor': 'v'}, agreement=None)
        text = MC.engine_text(ee)
        self.assertIn('`npm run eval -- --suite suite30.json --per-cell 30 --lengths 4096`', text)
        self.assertIn('2 items, 4K 2', text)
        self.assertIn('50', text)
        self.assertIn('`npm run eval -- --per-cell 6', MC.engine_text(dict(ee, suite=None, perCell=6)))
        self.assertIn('--per-cell 14 --from-item 8 --lengths', MC.engine_text(dict(ee, perCell=14, fromItem=8)))
        self.assertIn('```\nTwo calls merged.\n', MC.engine_text(dict(ee, note='Two calls merged.')))
        calls = [dict(file='r/a.json', perCell=30, fromItem=0, lengths=[131072], tasks=list(MC.TASKS), itemsRun=12, note='Cut at 100 s.'),
                 dict(file='b.json', perCell=2, fromItem=1, lengths=[131072], tasks=['vt', 'freq'], itemsRun=2)]
        merged = MC.engine_text(dict(ee, perCell=None, fromItem=None, merged=calls, note='Filled the gaps.'))
        self.assertIn('`npm run eval -- --suite suite30.json` in 2 calls merged by `npm run cli -- eval-merge`: '
                      '`--per-cell 30 --lengths 131072` (12 items); `--per-cell 2 --from-item 1 --lengths 131072 --tasks vt,freq` (2 items)',
                      merged)
        self.assertIn('```\nFilled the gaps.\na.json: Cut at 100 s.\n', merged)

    def test_tf_engine_agreement(self):
        import model_card as MC
        tf = [dict(id='vt-4096-0', correct=True), dict(id='vt-131072-0', correct=False), dict(id='vt-131072-1', correct=True)]
        eng = [dict(id='vt-4096-0', length=4096, correct=True), dict(id='vt-131072-0', length=131072, correct=True),
               dict(id='freq-4096-0', length=4096, correct=True)]
        self.assertEqual(MC.tf_engine_agreement(tf, eng),
                         'On the 2 items both scored (4K, 128K), this check and the engine above gave the same verdict on 1.\n')
        self.assertEqual(MC.tf_engine_agreement(tf, []), '')


class Grow(unittest.TestCase):
    def test_plan(self):
        self.assertEqual(TR.grow_plan(8, 11), [0, 1, 1, 2, 3, 4, 4, 5, 6, 6, 7])
        self.assertEqual(TR.grow_plan(8, 8), list(range(8)))
        for old in range(1, 12):
            for new in range(old, 40):
                plan = TR.grow_plan(old, new)
                self.assertEqual(len(plan), new)
                self.assertEqual(plan, sorted(plan))
                self.assertEqual(set(plan), set(range(old)))
        with self.assertRaises(ValueError):
            TR.grow_plan(8, 7)

    def test_same_function(self):
        torch.manual_seed(0)
        model = TR.LM(dict(TR.CONFIGS['tiny']))
        before = {k: v.clone() for k, v in model.state_dict().items()}
        grown, plan = TR.grow_model(model, 7)
        self.assertEqual(grown.c['layers'], 7)
        self.assertEqual(len(grown.blocks), 7)
        for k, v in model.state_dict().items():  # the original is not touched
            self.assertTrue(torch.equal(v, before[k]), k)
        for i, src in enumerate(plan):
            b, o = grown.blocks[i], model.blocks[src]
            copy = i > 0 and plan[i - 1] == src
            self.assertTrue(torch.equal(b.q.weight, o.q.weight))
            self.assertEqual(bool((b.o.weight == 0).all()), copy)
            self.assertEqual(bool((b.down.weight == 0).all()), copy)
        ids = torch.randint(10, 4096, (2, 64), generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            self.assertLess((model(ids) - grown(ids)).abs().max().item(), 1e-5)

    def test_export_shipped_grown(self):
        c, _ = E.load_hf(MODEL)
        model = TR.LM(c)
        TR.init_from_hf(model, MODEL)
        grown, _ = TR.grow_checked(model, 11, seed=1)
        with self.assertRaises(SystemExit):
            TR.grow_checked(model, 8, seed=1)
        with self.assertRaises(SystemExit):  # 12 layers: ~21 MB of bf16 weights
            TR.grow_checked(model, 12, seed=1)
        with tempfile.TemporaryDirectory() as tmp:
            torch.save({'model': grown.state_dict(), 'config': grown.c}, os.path.join(tmp, 'ckpt.pt'))
            out = os.path.join(tmp, 'model')
            _, total = E.export(os.path.join(tmp, 'ckpt.pt'), os.path.join(MODEL, 'tokenizer.json'), out)
            self.assertLessEqual(total, TR.MAX_WEIGHT_BYTES)
            with open(os.path.join(out, 'config.json')) as f:
                self.assertEqual(json.load(f)['num_hidden_layers'], 11)
            again = TR.LM(grown.c)
            TR.init_from_hf(again, out)


class TeacherForced(unittest.TestCase):
    """eval_tf.py: one teacher-forced pass per row tells whether greedy decoding reproduces the answer."""

    def test_matches_greedy(self):
        import eval_tf as TF
        torch.manual_seed(2)
        model = TR.LM(dict(TR.CONFIGS['tiny'])).eval()
        rng = random.Random(4)
        rows = []
        for n in (40, 23, 57):  # prompts of different lengths share a padded batch
            prompt = [TR.BOS] + [rng.randrange(10, 4000) for _ in range(n)]
            ids = list(prompt)
            with torch.no_grad():
                for _ in range(6):  # greedy decoding, one full forward pass a token
                    ids.append(int(model(torch.tensor([ids]))[0, -1].argmax()))
            rows.append(({'id': f'x-{n}'}, prompt, ids[len(prompt):]))
        preds = TF.score_batch(model, rows, 'cpu', TR.EOS)
        for (_, _, greedy), pred in zip(rows, preds):
            self.assertEqual(pred, greedy)  # teacher forcing on the greedy answer predicts it exactly
            self.assertIsNone(TF.first_miss(pred, greedy))
        item, prompt, greedy = rows[1]
        wrong = greedy[:3] + [(greedy[3] + 1) % 4096] + greedy[4:]
        pred = TF.score_batch(model, [(item, prompt, wrong)], 'cpu', TR.EOS)[0]
        self.assertEqual(pred[:4], greedy[:4])  # the answer up to and including the changed token
        self.assertEqual(TF.first_miss(pred, wrong), 3)

    def test_batches_and_summary(self):
        import eval_tf as TF
        enc = [({'length': L, 'id': f't-{L}-{i}'}, [1], [2]) for L in (4096, 1024) for i in range(5)]
        groups = list(TF.batches(enc, 8192))
        self.assertEqual([len(g) for g in groups], [5, 2, 2, 1])  # 1K: 8 rows a batch; 4K: 2
        self.assertEqual([g[0][0]['length'] for g in groups], [1024, 4096, 4096, 4096])
        recs = [dict(task=t, length=L, exact=e, correct=c) for t, L, e, c in
                (('a', 4096, True, True), ('a', 4096, False, True), ('b', 4096, True, True), ('a', 16384, True, True),
                 ('b', 131072, False, False))]
        s = TF.summary(recs)
        self.assertEqual(s['average_tokens'], {'4096': 0.75, '16384': 1.0, '131072': 0.0})
        self.assertAlmostEqual(s['average_4k_32k_tokens'], 0.875)
        self.assertEqual(s['average'], {'4096': 1.0, '16384': 1.0, '131072': 0.0})
        self.assertAlmostEqual(s['average_4k_32k'], 1.0)

    def test_misses_decoded_greedily(self):
        """A word the model spells with other tokens than the expected answer's counts as the eval counts it;
        a wrong value does not, and is not decoded further."""
        import eval_tf as TF
        pieces = {10: ' spoken', 11: ' sp', 12: 'oken', 13: 'ort', 20: ' 1', 21: '2', 22: ',', 23: ' 3', 24: '4', 25: '5',
                  30: 'q', 31: 'r', 32: 's'}
        V = 64

        class Toy:  # decode: the pieces joined, special ids dropped, the first space stripped (as Metaspace)
            def decode(self, ids):
                return ''.join(pieces.get(i, '') for i in ids).lstrip(' ')

            def id_to_token(self, i):
                return pieces.get(i, f'<{i}>')

        class Bigram(torch.nn.Module):  # the argmax after token t is nxt[t]: hidden = one-hot(nxt[t]), embeddings = I
            def __init__(self, nxt):
                super().__init__()
                table = torch.arange(V)
                for k, v in nxt.items():
                    table[k] = v
                self.table = table
                self.embed = torch.nn.Embedding(V, V)
                self.embed.weight.data = torch.eye(V)
                self.calls = 0

            def hidden(self, ids):
                self.calls += 1
                return torch.nn.functional.one_hot(self.table[ids], V).float()

        tok = Toy()
        E_ = TR.END
        # q -> ' sp' -> 'oken' -> <|end|>: greedy says "spoken", the expected tokens are ' spoken' <|end|>
        # r -> ' 1' '2' ',' ' 3' '5' (a wrong digit) ...; s -> ' sp' 'ort' ... ("sport": departs from "spoken")
        model = Bigram({30: 11, 11: 12, 12: E_, 31: 20, 20: 21, 21: 22, 22: 23, 23: 25, 25: 24, 24: 25, 32: 11})
        model.table[11] = 12
        items = [
            ({'id': 'freq-4096-0', 'task': 'freq', 'length': 4096, 'answer': 'spoken'}, [1, 30], [10, E_]),
            ({'id': 'niah_multivalue-4096-0', 'task': 'niah_multivalue', 'length': 4096, 'answer': '12, 34'}, [1, 31],
             [20, 21, 22, 23, 24, E_]),
        ]
        recs = []
        for it, p, a in items:
            pred = TF.score_batch(model, [(it, p, a)], 'cpu', TR.EOS)[0]
            miss = TF.first_miss(pred, a)
            recs.append(dict(id=it['id'], task=it['task'], length=4096, exact=miss is None, firstMiss=miss, predictedId=pred[miss]))
        self.assertEqual([r['firstMiss'] for r in recs], [0, 4])
        calls = model.calls
        TF.resolve_misses(model, tok, recs, items, 'cpu')
        self.assertEqual([r['correct'] for r in recs], [True, False])
        self.assertEqual(recs[0]['answer'], 'spoken')
        self.assertNotIn('answer', recs[1])  # '12, 35' cannot become '12, 34': not decoded
        self.assertEqual(model.calls - calls, 2)  # ' sp' is known from the scoring pass: 'oken', then <|end|>
        # an answer that ends early is the matched prefix: <|end|> after ' 1' '2' is "12", not "12, 34"
        rec = dict(id=items[1][0]['id'], task='niah_multivalue', length=4096, exact=False, firstMiss=2, predictedId=E_)
        TF.resolve_misses(model, tok, [rec], items[1:], 'cpu')
        self.assertEqual((rec['answer'], rec['correct']), ('12', False))
        # departing text stops the decoding: ' sp' 'ort' is not a prefix of 'spoken'
        model.table[11] = 13
        model.table[13] = 30
        rec = dict(id='freq-4096-0', task='freq', length=4096, exact=False, firstMiss=0, predictedId=11)
        TF.resolve_misses(model, tok, [rec], items[:1], 'cpu')
        self.assertFalse(rec['correct'])
        self.assertEqual(rec['answer'], 'sport')
        # whitespace never departs from the answer under the normalisation: bounded at 2 x 2 + 4 answer tokens
        pieces[14] = ' '
        model.table[11] = 14
        model.table[14] = 14
        calls = model.calls
        TF.resolve_misses(model, tok, [rec], items[:1], 'cpu')
        self.assertEqual((rec['answer'], rec['correct']), ('sp' + ' ' * 7, False))
        self.assertEqual(model.calls - calls, 7)  # ' sp' known, 7 more tokens
        self.assertTrue(TF.can_still_match('Spoken.', 'spoken'))
        self.assertFalse(TF.can_still_match('spoken,', 'spoken'))


class EvalAttention(unittest.TestCase):
    def test_query_blocks(self):
        try:
            import eval_hf as EH
        except ImportError:
            self.skipTest('no transformers')
        g = torch.Generator().manual_seed(1)
        q, k, v = (torch.randn(1, 4, 300, 16, generator=g) for _ in range(3))
        ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        old = EH.PREFILL_BLOCK
        EH.PREFILL_BLOCK = 64
        try:  # the last 130 queries over all 300 keys (lower-right causal), in blocks of 64
            got = EH.causal_attention(q[:, :, 170:], k, v, 16 ** -0.5)
        finally:
            EH.PREFILL_BLOCK = old
        self.assertLess((got - ref[:, :, 170:]).abs().max().item(), 1e-5)

    def test_matches_sdpa(self):
        try:
            import eval_hf as EH
            from transformers import AutoModelForCausalLM
        except ImportError:
            self.skipTest('no transformers')
        EH.register_attention()
        rng = random.Random(0)
        ids = torch.tensor([[1] + [rng.randrange(10, 4000) for _ in range(300)]])
        outs = {}
        for impl in ('sdpa', EH.ATTN):
            m = AutoModelForCausalLM.from_pretrained(MODEL, dtype=torch.float32, attn_implementation=impl).eval()
            with torch.no_grad():
                full = m(ids).logits
                g = m.generate(ids, max_new_tokens=12, do_sample=False, eos_token_id=[6, 2], pad_token_id=2,
                               output_logits=True, return_dict_in_generate=True)
            outs[impl] = (full, g.sequences, torch.stack(g.logits))
        (fa, sa, la), (fb, sb, lb) = outs['sdpa'], outs[EH.ATTN]
        self.assertLess((fa - fb).abs().max().item(), 1e-4)
        self.assertTrue(torch.equal(sa, sb))
        self.assertLess((la - lb).abs().max().item(), 1e-4)


if __name__ == '__main__':
    unittest.main()
