"""Export a train.py checkpoint as a Hugging Face Llama folder (bf16, sharded safetensors).

  python tools/train/export.py --ckpt OUT/ckpt.pt --tokenizer .train-data/tokenizer.json --out public/models/default

Writes config.json, model-0000N-of-0000M.safetensors (each <= 16 MiB) + model.safetensors.index.json,
tokenizer.json, tokenizer_config.json (with the chat template), generation_config.json. The model
card (README.md) is written separately (tools/train/model_card.py).
"""
import argparse
import json
import os
import shutil

import torch
from safetensors.torch import save_file

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)
MAX_SHARD = 16 * 1024 * 1024


def name_map(c):
    """train.py parameter name -> Hugging Face Llama name (tied embeddings: no lm_head)."""
    out = {'embed.weight': 'model.embed_tokens.weight', 'norm': 'model.norm.weight'}
    names = {'q': 'self_attn.q_proj', 'k': 'self_attn.k_proj', 'v': 'self_attn.v_proj', 'o': 'self_attn.o_proj',
             'gate': 'mlp.gate_proj', 'up': 'mlp.up_proj', 'down': 'mlp.down_proj'}
    for i in range(c['layers']):
        p = f'model.layers.{i}.'
        out[f'blocks.{i}.attn_norm'] = p + 'input_layernorm.weight'
        out[f'blocks.{i}.mlp_norm'] = p + 'post_attention_layernorm.weight'
        for ours, theirs in names.items():
            out[f'blocks.{i}.{ours}.weight'] = p + theirs + '.weight'
    return out


def hf_state(sd, c):
    return {theirs: sd[ours] for ours, theirs in name_map(c).items()}


def train_config(hf):
    """train.py's config dict from a Hugging Face config.json (the inverse of config_json)."""
    rope = hf.get('rope_parameters') or {}
    theta = hf.get('rope_theta', rope.get('rope_theta'))
    bad = [k for k, want in (('model_type', 'llama'), ('hidden_act', 'silu'), ('tie_word_embeddings', True),
                             ('attention_bias', False), ('mlp_bias', False)) if hf.get(k, want) != want]
    if rope.get('rope_type', 'default') != 'default' or hf.get('rope_scaling'):
        bad.append('rope scaling')
    if abs(hf.get('rms_norm_eps', 1e-5) - 1e-5) > 1e-12:
        bad.append('rms_norm_eps')
    if bad:
        raise ValueError(f'not a train.py model: {bad}')
    return dict(vocab=hf['vocab_size'], d=hf['hidden_size'], layers=hf['num_hidden_layers'],
                heads=hf['num_attention_heads'], kv_heads=hf['num_key_value_heads'],
                head_dim=hf.get('head_dim') or hf['hidden_size'] // hf['num_attention_heads'],
                ffn=hf['intermediate_size'], rope_theta=float(theta), max_pos=hf['max_position_embeddings'])


def load_ckpt(path):
    """(config, fp32 state dict) of a train.py checkpoint ({'model', 'config'})."""
    ck = torch.load(path, map_location='cpu')
    return ck['config'], {k: v.float() for k, v in ck['model'].items()}


def load_hf(folder):
    """(config, fp32 state dict in train.py names) of an exported folder (single or sharded safetensors)."""
    from safetensors.torch import load_file
    with open(os.path.join(folder, 'config.json')) as f:
        c = train_config(json.load(f))
    index = os.path.join(folder, 'model.safetensors.index.json')
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)['weight_map'].values()))
    else:
        files = ['model.safetensors']
    hf = {}
    for name in files:
        hf.update(load_file(os.path.join(folder, name)))
    names = name_map(c)
    tied = hf.pop('lm_head.weight', None)
    if tied is not None and not torch.equal(tied, hf['model.embed_tokens.weight']):
        raise ValueError('lm_head.weight differs from the embeddings (train.py ties them)')
    missing = sorted(set(names.values()) - set(hf))
    extra = sorted(set(hf) - set(names.values()))
    if missing or extra:
        raise ValueError(f'{folder}: missing {missing[:4]}, unexpected {extra[:4]}')
    return c, {ours: hf[theirs].float() for ours, theirs in names.items()}


def config_json(c, dtype):
    return {
        'architectures': ['LlamaForCausalLM'], 'model_type': 'llama',
        'vocab_size': c['vocab'], 'hidden_size': c['d'], 'intermediate_size': c['ffn'],
        'num_hidden_layers': c['layers'], 'num_attention_heads': c['heads'], 'num_key_value_heads': c['kv_heads'],
        'head_dim': c['head_dim'], 'hidden_act': 'silu', 'max_position_embeddings': c['max_pos'],
        'rms_norm_eps': 1e-5, 'rope_theta': c['rope_theta'],
        'rope_parameters': {'rope_type': 'default', 'rope_theta': c['rope_theta']},
        'attention_bias': False, 'mlp_bias': False, 'tie_word_embeddings': True,
        'bos_token_id': 1, 'eos_token_id': [6, 2], 'pad_token_id': 2, 'torch_dtype': dtype,
        'initializer_range': 0.02, 'use_cache': True,
    }


def export(ckpt_path, tokenizer_path, out, dtype='bfloat16', n_shards=2):
    ck = torch.load(ckpt_path, map_location='cpu')
    c = ck['config']
    tdt = {'bfloat16': torch.bfloat16, 'float32': torch.float32, 'float16': torch.float16}[dtype]
    state = {k: v.to(tdt).contiguous() for k, v in hf_state(ck['model'], c).items()}
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        if f.endswith('.safetensors') or f == 'model.safetensors.index.json':
            os.remove(os.path.join(out, f))
    # shards: embeddings + first half of the layers, then the rest (split further if a shard is too big)
    keys = list(state)
    total = sum(v.numel() * v.element_size() for v in state.values())
    n = max(n_shards, -(-total // (MAX_SHARD - 65536)))
    groups, cur, size, target = [], [], 0, total / n
    for k in keys:
        b = state[k].numel() * state[k].element_size()
        if cur and (size + b > MAX_SHARD - 65536 or (size >= target and len(groups) < n - 1)):
            groups.append(cur); cur, size = [], 0
        cur.append(k); size += b
    groups.append(cur)
    weight_map = {}
    for i, g in enumerate(groups):
        name = f'model-{i + 1:05d}-of-{len(groups):05d}.safetensors'
        save_file({k: state[k] for k in g}, os.path.join(out, name), metadata={'format': 'pt'})
        assert os.path.getsize(os.path.join(out, name)) <= MAX_SHARD
        weight_map.update({k: name for k in g})
    with open(os.path.join(out, 'model.safetensors.index.json'), 'w') as f:
        json.dump({'metadata': {'total_size': total}, 'weight_map': weight_map}, f, indent=2)
    with open(os.path.join(out, 'config.json'), 'w') as f:
        json.dump(config_json(c, dtype), f, indent=2)
    shutil.copy(tokenizer_path, os.path.join(out, 'tokenizer.json'))
    with open(os.path.join(out, 'tokenizer_config.json'), 'w') as f:
        json.dump({
            'tokenizer_class': 'PreTrainedTokenizerFast', 'bos_token': '<s>', 'eos_token': '<|end|>',
            'unk_token': '<unk>', 'pad_token': '</s>', 'add_bos_token': True, 'add_eos_token': False,
            'model_max_length': c['max_pos'], 'clean_up_tokenization_spaces': False,
            'chat_template': CHAT_TEMPLATE,
        }, f, indent=2)
    with open(os.path.join(out, 'generation_config.json'), 'w') as f:
        json.dump({'bos_token_id': 1, 'eos_token_id': [6, 2], 'pad_token_id': 2, 'do_sample': False,
                   'max_new_tokens': 64}, f, indent=2)
    return c, total


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--ckpt', required=True)
    ap.add_argument('--tokenizer', default='.train-data/tokenizer.json')
    ap.add_argument('--out', required=True)
    ap.add_argument('--dtype', default='bfloat16')
    a = ap.parse_args()
    c, total = export(a.ckpt, a.tokenizer, a.out, a.dtype)
    print(f'exported {total / 1e6:.1f} MB of weights to {a.out}')
