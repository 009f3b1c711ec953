// Embedding lookup from one part of a row-split table (one dispatch per part):
//   out[r, :] = widen(table[ids[r] - row_start, :]) for r < step.rows with ids[r] in
//   [row_start, row_start + row_count); other rows are left as they are (another part writes them).
// CPU reference: src/ref/embedding.ts (embeddingRef).
// Grid: (ceil(row_words / WG), rows, 1); one invocation per u32 word of the row.
// Bindings: 0 out (rows, dim) f32 · 1 ids (rows) u32 · 2 table (row_count, row_words) packed DTYPE ·
//   3 params · 4 step.

override WG: u32 = 256u;
override DTYPE: u32 = 0u;

struct Params {
  dim: u32,
  row_words: u32, // dim for f32, dim / 2 for 16-bit types
  row_start: u32,
  row_count: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;
@group(0) @binding(4) var<uniform> step: Step;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = wid.y;
  let q = wid.x * WG + lid;
  if (r >= step.rows || q >= params.row_words) {
    return;
  }
  let id = ids[r];
  if (id < params.row_start || id - params.row_start >= params.row_count) {
    return;
  }
  let word = table[(id - params.row_start) * params.row_words + q];
  if (DTYPE == DTYPE_F32) {
    out[r * params.dim + q] = bitcast<f32>(word);
  } else {
    let v = widen2(word, DTYPE);
    out[r * params.dim + 2u * q] = v.x;
    out[r * params.dim + 2u * q + 1u] = v.y;
  }
}
