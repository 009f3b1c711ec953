"""Seeded long-document question-answering tasks (the training side).

Every task is a haystack of corpus text with inserted sentences, and a question at the end. The same
families, with the same sentence and question formats, are generated for evaluation by
src/eval/tasks.ts, from other seeds, other key words and held-out haystack text.

A task is (document, question, answer); the model sees
  <s><|user|>\n{document}\n\nQuestion: {question}<|end|>\n<|assistant|>\n{answer}<|end|>
"""
import random
import re

_SENT_END = re.compile(r'[.!?](?=[ \n])')
_SPACE = re.compile(r'[ \n]')

TASKS = ['niah_single', 'niah_multikey', 'niah_multivalue', 'niah_multiquery', 'passkey', 'vt', 'freq']


def user_content(document: str, question: str) -> str:
    return f'{document}\n\nQuestion: {question}'


def user_turn(content: str) -> str:
    """A user turn and the assistant's opening, as the model's chat template renders them."""
    return f'<|user|>\n{content}<|end|>\n<|assistant|>\n'


def render_prompt(document: str, question: str) -> str:
    return '<s>' + user_turn(user_content(document, question))


def magic(k: str, v: str) -> str:
    return f'The special magic number for {k} is {v}.'


def number(rng: random.Random) -> str:
    return str(rng.randint(1_000_000, 9_999_999))


def var_name(rng: random.Random) -> str:
    return ''.join(rng.choice('ABCDEFGHIJKLMNOPQRSTUVWXYZ') for _ in range(4))


def join_and(items):
    return items[0] if len(items) == 1 else ', '.join(items[:-1]) + ' and ' + items[-1]


# The list tasks' sizes: (standard: the eval's ranges, src/eval/tasks.ts) and (wide: a harder training variant,
# more values or keys, closer word counts, so that the eval's ranges are not the edge of what was seen)
MULTIVALUE_VALUES = {False: (2, 4), True: (2, 8)}
MULTIQUERY_KEYS = {False: (2, 4), True: (2, 6)}
FREQ_WORDS = {False: (2, 5), True: (3, 6)}


def freq_counts(rng: random.Random, n: int, wide: bool) -> list:
    """The most frequent word's count first, then the others': standard top 4-8, the others at most half of it;
    wide top 4-9, the others at most top - 2 (every other word within 2 of the top for a close call)."""
    top = rng.randint(4, 9) if wide else rng.randint(4, 8)
    hi = top - 2 if wide else top // 2
    return [top] + [rng.randint(1, hi) for _ in range(n - 1)]


# Made-up key words (recipe 'lists4'): pronounceable, 2-3 syllables, split by the tokenizer into several pieces
# that the text prior cannot complete, so answering (the frequency task's word) is copying, token by token. The
# engine's frequency misses were the right word finished wrongly (`eagerly` -> `eager`, bench/NOTES.md session 7).
_ONSETS = ('b', 'c', 'd', 'f', 'g', 'h', 'j', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'w', 'z',
           'br', 'cr', 'dr', 'fl', 'gr', 'pl', 'st', 'tr', 'sk', 'ch', 'sh', 'th')
_VOWELS = ('a', 'e', 'i', 'o', 'u') * 3 + ('ai', 'ea', 'ou', 'io')
_CODAS = ('',) * 8 + ('n', 'r', 's', 'l', 'm', 't', 'nd', 'st')


def pseudo_word(rng: random.Random) -> str:
    """2-3 syllables (onset, vowel, mostly no coda): 4-16 letters, most 5-11, like the eval's key words."""
    return ''.join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(rng.randint(2, 3)))


def pseudo_words(rng: random.Random, n: int, avoid=frozenset()) -> list:
    """n distinct made-up words, none in `avoid` (the real key words of training and evaluation)."""
    out = []
    while len(out) < n:
        w = pseudo_word(rng)
        if w not in avoid and w not in out:
            out.append(w)
    return out


def make_task(task: str, rng: random.Random, words, wide: bool = False) -> tuple:
    """Returns (needles in document order, question, answer). wide: the harder variant of the list tasks
    (MULTIVALUE_VALUES, MULTIQUERY_KEYS, FREQ_WORDS, freq_counts); the other tasks ignore it."""
    if task == 'niah_single':
        k, v = rng.choice(words), number(rng)
        return [magic(k, v)], f'What is the special magic number for {k}?', v
    if task == 'niah_multikey':
        keys = rng.sample(words, rng.randint(2, 8))
        vals = [number(rng) for _ in keys]
        i = rng.randrange(len(keys))
        return [magic(k, v) for k, v in zip(keys, vals)], f'What is the special magic number for {keys[i]}?', vals[i]
    if task == 'niah_multivalue':
        k = rng.choice(words)
        vals = [number(rng) for _ in range(rng.randint(*MULTIVALUE_VALUES[wide]))]
        return [magic(k, v) for v in vals], f'What are all the special magic numbers for {k}?', ', '.join(vals)
    if task == 'niah_multiquery':
        keys = rng.sample(words, rng.randint(*MULTIQUERY_KEYS[wide]))
        vals = [number(rng) for _ in keys]
        order = list(range(len(keys)))
        rng.shuffle(order)
        asked = [keys[i] for i in order]
        return ([magic(k, v) for k, v in zip(keys, vals)],
                f'What are the special magic numbers for {join_and(asked)}?', ', '.join(vals[i] for i in order))
    if task == 'passkey':
        v = str(rng.randint(10_000, 9_999_999))
        return [f'The pass key is {v}. Remember it. {v} is the pass key.'], 'What is the pass key?', v
    if task == 'vt':
        hops = rng.randint(1, 4)
        names = []
        while len(names) < 2 * (hops + 1):
            n = var_name(rng)
            if n not in names:
                names.append(n)
        chain, other = names[:hops + 1], names[hops + 1:]
        v, w = number(rng), number(rng)
        needles = []
        # the asked chain and a distractor chain, interleaved in document order
        a = [f'VAR {chain[0]} = {v}.'] + [f'VAR {chain[j]} = VAR {chain[j - 1]}.' for j in range(1, len(chain))]
        b = [f'VAR {other[0]} = {w}.'] + [f'VAR {other[j]} = VAR {other[j - 1]}.' for j in range(1, len(other))]
        ia = ib = 0
        while ia < len(a) or ib < len(b):
            if ib >= len(b) or (ia < len(a) and rng.random() < 0.5):
                needles.append(a[ia]); ia += 1
            else:
                needles.append(b[ib]); ib += 1
        answer = ' = '.join(f'VAR {n}' for n in reversed(chain)) + f' = {v}'
        return needles, f'What is the value of VAR {chain[-1]}?', answer
    if task == 'freq':
        cands = rng.sample(words, rng.randint(*FREQ_WORDS[wide]))
        counts = freq_counts(rng, len(cands), wide)
        needles = [f'The word of the day is {w}.' for w, c in zip(cands, counts) for _ in range(c)]
        rng.shuffle(needles)
        return needles, 'Which word of the day occurs most often?', cands[0]
    raise ValueError(task)


# Tasks whose question names no key word: at most one of each in a document (a second would make it ambiguous).
KEYLESS = ('passkey', 'freq')


def interleave(rng: random.Random, lists) -> list:
    """Every item of `lists` in one list, each list's own order kept, the lists mixed at random."""
    pools = [list(x) for x in lists if x]
    out = []
    while pools:
        i = rng.choices(range(len(pools)), weights=[len(p) for p in pools])[0]
        out.append(pools[i].pop(0))
        pools = [p for p in pools if p]
    return out


def make_session(tasks, rng: random.Random, words, wide: bool = False) -> tuple:
    """Several tasks over one document, asked one after another in a chat: (needles in document order,
    [(question, answer), ...] in asking order). Each task draws its key words from those no task before it
    used, so no answer depends on another task's needles (another task's magic numbers are distractors, as in
    multi-key); pass key and frequency (KEYLESS) may appear once each."""
    used, needle_lists, qas, seen = set(), [], [], set()
    for task in tasks:
        if task in KEYLESS and task in seen:
            continue
        seen.add(task)
        free = [w for w in words if w not in used]
        needles, q, a = make_task(task, rng, free, wide)
        used.update(re.findall(r'\w+', ' '.join(needles)))  # its key words (and the template's words and numbers)
        needle_lists.append(needles)
        qas.append((q, a))
    return interleave(rng, needle_lists), qas


def followup_turn(question: str) -> str:
    """A later question in the chat, after an answer's <|end|>: the app sends it as the bare question
    (src/ui/prompt.ts puts the document only in front of the first)."""
    return '\n' + user_turn(question)


def boundaries(text: str):
    """Sentence ends: positions p with text[p-1] in '.!?' and text[p] whitespace."""
    out = [m.end() for m in _SENT_END.finditer(text)]
    return out if len(out) >= 8 else [m.start() for m in _SPACE.finditer(text) if m.start() > 0]


def insert(text: str, needles, rng: random.Random) -> str:
    """Inserts ' ' + needle after sentence ends, at increasing random depths, in the given order."""
    cands = boundaries(text)
    if not cands:
        cands = [len(text)]
    picks = sorted(rng.choice(cands) for _ in needles)
    parts, last = [], 0
    for p, n in zip(picks, needles):
        parts.append(text[last:p])
        parts.append(' ' + n)
        last = p
    parts.append(text[last:])
    return ''.join(parts)


def haystack_slice(hay: str, start: int, n_chars: int) -> str:
    """n_chars of `hay` from the line start at or after `start`, ending at a sentence or line end."""
    s = hay.find('\n', start)
    s = 0 if s < 0 or s + n_chars >= len(hay) else s + 1
    chunk = hay[s:s + n_chars]
    e = max(chunk.rfind('. '), chunk.rfind('.\n'), chunk.rfind('\n'))
    return (chunk[:e + 1] if e > len(chunk) // 2 else chunk).strip()
