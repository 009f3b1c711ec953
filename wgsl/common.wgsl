// Shared declarations, prepended to every kernel by src/gpu/kernel.ts (WGSL has no include).
//
// Step: the per-submission parameters every kernel may read (one small uniform, written once per
// prefill chunk or decode step). rows = tokens in this batch, pos = absolute position of the first
// row, kv_len = valid cache entries once this batch is written (pos + rows for a plain cache).
struct Step {
  rows: u32,
  pos: u32,
  kv_len: u32,
  flags: u32,
}

// Weight storage: every tensor is an array<u32>. DTYPE codes: 0 = f32 (one word per value),
// 1 = f16 and 2 = bf16 (two values per word, element 2i in the low half).
const DTYPE_F32: u32 = 0u;
const DTYPE_F16: u32 = 1u;
const DTYPE_BF16: u32 = 2u;

// Widens element `lane` (0 = low half, 1 = high half) of a packed 16-bit word, or reinterprets an f32 word.
fn widen(word: u32, lane: u32, dtype: u32) -> f32 {
  if (dtype == DTYPE_F32) {
    return bitcast<f32>(word);
  }
  if (dtype == DTYPE_F16) {
    return unpack2x16float(word)[lane];
  }
  return bitcast<f32>(select(word << 16u, word & 0xffff0000u, lane == 1u));
}

// Both elements of a packed 16-bit word as f32.
fn widen2(word: u32, dtype: u32) -> vec2<f32> {
  if (dtype == DTYPE_F16) {
    return unpack2x16float(word);
  }
  return vec2<f32>(bitcast<f32>(word << 16u), bitcast<f32>(word & 0xffff0000u));
}
