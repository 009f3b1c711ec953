"""Prepare training data for the embedded default model (runs on a CPU machine, once).

Reads ../shared/corpus/*.txt.gz, makes every text ASCII, splits each source into a training part and a
held-out tail, trains the byte-fallback BPE tokenizer on the training parts, and writes:

  OUT/tokenizer.json           the tokenizer (special tokens, Metaspace + single digits, BPE with byte fallback)
  OUT/train/<source>.txt.gz    training text (what the GPU machine generates batches from)
  OUT/heldout.txt.gz           held-out text of every source (perplexity)
  OUT/words_train.txt          key words for the training task generator (also tools/train/words_train.txt)
  src/eval/haystack.txt.gz     held-out prose (the evaluation suite's haystack; never trained on)
  src/eval/words.ts            key words for the evaluation suite (disjoint from words_train.txt)

Usage: python tools/train/prepare_data.py --corpus ../shared/corpus --out .train-data
       ... --tokenizer public/models/default/tokenizer.json   reuses a shipped tokenizer instead of training one
                                                               (continuing a model; needs no `tokenizers` here)
"""
import argparse
import gzip
import hashlib
import os
import re
import unicodedata
from collections import Counter

import shutil

SPECIAL = ['<unk>', '<s>', '</s>', '<|system|>', '<|user|>', '<|assistant|>', '<|end|>']
VOCAB = 4096
# Share held out from the end of each source, and how much of each source is used at all.
HELDOUT = {'austen': 0.06, 'brown': 0.06, 'fortunes': 0.03, 'wn_gloss': 0.03, 'linuxdoc': 0.02, 'gcide': 0.01}
USE = {'gcide': 0.25}  # the dictionary is large and repetitive: a quarter of it is enough
EVAL_HAYSTACK = ['austen', 'brown', 'wn_gloss', 'linuxdoc', 'fortunes']  # held-out tails, in this order


def to_ascii(text: str) -> str:
    text = unicodedata.normalize('NFKD', text)
    text = text.replace('\r\n', '\n').replace('\r', '\n').replace('\t', '    ')
    text = text.encode('ascii', 'ignore').decode('ascii')
    text = re.sub(r'[\x00-\x08\x0b-\x1f\x7f]', '', text)
    return re.sub(r'\n{3,}', '\n\n', text)


def clean_brown(text: str) -> str:
    # Brown Corpus: tokens are space-separated; join punctuation back for prose-like text.
    text = re.sub(r' ([.,;:!?\')])', r'\1', text)
    text = text.replace('`` ', '"').replace(" ''", '"').replace('( ', '(')
    return re.sub(r'\n\s*\n\s*', '\n', text).replace('\n ', '\n')


def build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    tok = Tokenizer(models.BPE(unk_token='<unk>', byte_fallback=True, fuse_unk=True))
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement='\u2581', prepend_scheme='first', split=True),
        pre_tokenizers.Digits(individual_digits=True),
    ])
    tok.decoder = decoders.Sequence([
        decoders.Replace('\u2581', ' '), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(' ', 1, 0),
    ])
    return tok


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('--corpus', default='../shared/corpus')
    ap.add_argument('--out', default='.train-data')
    ap.add_argument('--eval-dir', default='src/eval')
    ap.add_argument('--tokenizer', default=None, help='copy this tokenizer.json instead of training a new one')
    a = ap.parse_args()
    os.makedirs(os.path.join(a.out, 'train'), exist_ok=True)
    train_parts, held = {}, {}
    for name in HELDOUT:
        with gzip.open(os.path.join(a.corpus, f'{name}.txt.gz'), 'rt', encoding='utf-8', errors='replace') as f:
            text = to_ascii(f.read())
        if name == 'brown':
            text = clean_brown(text)
        text = text[: int(len(text) * USE.get(name, 1.0))] if name not in USE else text[-int(len(text) * USE[name]):]
        cut = text.rfind('\n', 0, int(len(text) * (1 - HELDOUT[name])))
        train_parts[name], held[name] = text[:cut], text[cut + 1:]
        print(f'{name}: {len(train_parts[name]):,} train chars, {len(held[name]):,} held out')
        with gzip.open(os.path.join(a.out, 'train', f'{name}.txt.gz'), 'wt', encoding='ascii', compresslevel=9) as f:
            f.write(train_parts[name])
    with gzip.open(os.path.join(a.out, 'heldout.txt.gz'), 'wt', encoding='ascii', compresslevel=9) as f:
        for name in HELDOUT:
            f.write(held[name].strip() + '\n\n')
    os.makedirs(a.eval_dir, exist_ok=True)
    with gzip.open(os.path.join(a.eval_dir, 'haystack.txt.gz'), 'wt', encoding='ascii', compresslevel=9) as f:
        f.write('\n\n'.join(held[n].strip() for n in EVAL_HAYSTACK) + '\n')

    if a.tokenizer:
        shutil.copyfile(a.tokenizer, os.path.join(a.out, 'tokenizer.json'))
        print('tokenizer copied from', a.tokenizer)
    else:
        train_tokenizer(train_parts, a.out)
    write_words(train_parts, a.out, a.eval_dir)


def train_tokenizer(train_parts, out) -> None:
    """The byte-fallback BPE tokenizer, trained on (a sample of) the training text."""
    from tokenizers import trainers
    tok = build_tokenizer()
    alphabet = [chr(c) for c in range(32, 127)] + ['\n']
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=SPECIAL + [f'<0x{b:02X}>' for b in range(256)],
                                  initial_alphabet=alphabet, min_frequency=2, show_progress=False)

    def lines():
        for name, text in train_parts.items():
            step = 1 if len(text) < 12_000_000 else 2
            for i, para in enumerate(text.split('\n')):
                if i % step == 0:
                    yield para
    tok.train_from_iterator(lines(), trainer=trainer)
    tok.add_special_tokens(SPECIAL)
    tok.save(os.path.join(out, 'tokenizer.json'))
    print('vocab', tok.get_vocab_size())


def write_words(train_parts, out, eval_dir) -> None:
    # Key words: frequent lowercase words, split into training and evaluation sets by a hash.
    counts = Counter(re.findall(r'\b[a-z]{4,9}\b', train_parts['austen'] + train_parts['brown']))
    common = [w for w, c in counts.most_common(6000) if c >= 5][600:]  # skip the very commonest
    train_w = [w for w in common if hashlib.md5(w.encode()).digest()[0] % 4 != 0]
    eval_w = [w for w in common if hashlib.md5(w.encode()).digest()[0] % 4 == 0]
    for path in (os.path.join(out, 'words_train.txt'), os.path.join(os.path.dirname(__file__), 'words_train.txt')):
        with open(path, 'w') as f:
            f.write('\n'.join(train_w) + '\n')
    with open(os.path.join(eval_dir, 'words.ts'), 'w') as f:
        f.write('/** Key words for the evaluation suite (generated by tools/train/prepare_data.py; disjoint from the training words). */\n')
        f.write('export const EVAL_WORDS: readonly string[] = [\n')
        for i in range(0, len(eval_w), 12):
            f.write('  ' + ' '.join(f"'{w}'," for w in eval_w[i:i + 12]) + '\n')
        f.write('];\n')
    print(f'{len(train_w)} training words, {len(eval_w)} evaluation words')


if __name__ == '__main__':
    main()
