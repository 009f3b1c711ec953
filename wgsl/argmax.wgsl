// Argmax of n f32 logits: the first index of the largest value; NaN never wins (all NaN gives 0).
// Two dispatches of this kernel:
//   STAGE 0: workgroup g reduces logits [g * CHUNK, (g + 1) * CHUNK) (CHUNK = WG * ITEMS) to one
//            (key, index) pair, written to out[2g], out[2g + 1] (the scratch buffer).
//   STAGE 1: one workgroup reduces the `count` pairs to the index, written to out[0].
// Values are compared as order-preserving u32 keys (exact, and immune to NaN or fast-math folding);
// ties go to the smaller index.
// CPU reference: src/ref/argmax.ts (argmaxRef).
// Grid: STAGE 0: (ceil(n / CHUNK), 1, 1); STAGE 1: (1, 1, 1).
// Bindings: 0 out u32 (STAGE 0: scratch (2 * groups); STAGE 1: (1) result) ·
//   1 src u32 (STAGE 0: logits as f32 bits, from offset; STAGE 1: the scratch pairs) · 2 params.

override WG: u32 = 256u;
override ITEMS: u32 = 16u;
override STAGE: u32 = 0u;

const NONE: u32 = 0xffffffffu;

struct Params {
  count: u32, // STAGE 0: n logits; STAGE 1: pairs
  offset: u32, // STAGE 0: index of the first logit in src
}

@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

var<workgroup> keys: array<u32, WG>;
var<workgroup> idxs: array<u32, WG>;

// Monotone map from non-NaN f32 bits to u32 (-0 folded onto +0); 0 is below every non-NaN key.
fn order_key(bits: u32) -> u32 {
  if ((bits & 0x7fffffffu) > 0x7f800000u) {
    return 0u;
  }
  let b = select(bits, 0u, bits == 0x80000000u);
  return select(b | 0x80000000u, ~b, (b >> 31u) == 1u);
}

fn better(k: u32, i: u32, best_k: u32, best_i: u32) -> bool {
  return k > best_k || (k == best_k && i < best_i);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  var key = 0u;
  var idx = NONE;
  if (STAGE == 0u) {
    let base = wid.x * WG * ITEMS;
    for (var j = 0u; j < ITEMS; j++) {
      let i = base + j * WG + lid;
      if (i < params.count) {
        let k = order_key(src[params.offset + i]);
        if (k > key) { // indices rise, so strict > keeps the first of equal values
          key = k;
          idx = i;
        }
      }
    }
  } else {
    for (var i = lid; i < params.count; i += WG) {
      let k = src[2u * i];
      let x = src[2u * i + 1u];
      if (better(k, x, key, idx)) {
        key = k;
        idx = x;
      }
    }
  }
  keys[lid] = key;
  idxs[lid] = idx;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half >>= 1u) {
    if (lid < half && better(keys[lid + half], idxs[lid + half], keys[lid], idxs[lid])) {
      keys[lid] = keys[lid + half];
      idxs[lid] = idxs[lid + half];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    if (STAGE == 0u) {
      out[2u * wid.x] = keys[0];
      out[2u * wid.x + 1u] = idxs[0];
    } else {
      out[0] = select(idxs[0], 0u, idxs[0] == NONE);
    }
  }
}
