// Tiled matrix-matrix product for prefill (one weight part per dispatch):
//   out[r, col_base + n] (= or +=) sum_k x[r, k] * W[n, k] (+ bias[bias_base + n])
//   for r < step.rows, n < params.n (the rows of this part of W).
// CPU reference: src/ref/linear.ts (linearRef).
// Grid: (ceil(n / BN), ceil(rows / BM), 1); workgroup (WG_N, WG_M). BM = 8 * WG_M, BN = 8 * WG_N.
// Bindings: 0 out (rows, out_stride) f32 · 1 x as vec4 · 2 x (rows, k) f32 · 3 w as vec4<u32> ·
//   4 w (n, row_words) packed DTYPE · 5 bias (>= bias_base + n) f32 (read when FLAG_BIAS) · 6 params · 7 step.
//   x and w are each bound twice (the same buffer): VEC4 reads the vec4 views, else the scalar ones.
//
// Each invocation owns an 8x8 register tile: rows {4*ty + i, 4*(ty + WG_M) + i} and columns
// {4*tx + j, 4*(tx + WG_N) + j} (i, j < 4), so the workgroup-memory reads of one k step are two
// vec4 per operand, contiguous across neighbouring invocations (no bank conflicts). K is staged
// through workgroup memory TILE_K at a time, transposed to [k][m] and [k][n]; weights are widened
// to f32 as they are staged. With VEC4 (K % 4 == 0 for f32, K % 8 == 0 for 16-bit weights) the
// next K tile is fetched into registers with 16-byte loads while the current one is multiplied.

override WG_M: u32 = 8u; // invocations along rows of x
override WG_N: u32 = 8u; // invocations along output features
override TILE_K: u32 = 16u; // multiple of 8
override DTYPE: u32 = 0u;
override VEC4: bool = true;

override WG: u32 = WG_M * WG_N;
override BM: u32 = 8u * WG_M;
override BN: u32 = 8u * WG_N;
// Row strides of the staged tiles in vec4s, padded by one vec4 so transposed stores spread over banks.
override AS: u32 = 2u * WG_M + 1u;
override BS: u32 = 2u * WG_N + 1u;
override A_TILE_LEN: u32 = TILE_K * AS;
override B_TILE_LEN: u32 = TILE_K * BS;
// 16-byte loads per invocation per K tile (the wrapper checks these are whole and at most MAX_LOADS).
override A_LOADS: u32 = BM * TILE_K / 4u / WG;
override B_LOADS: u32 = select(BN * TILE_K / 8u / WG, BN * TILE_K / 4u / WG, DTYPE == DTYPE_F32);
const MAX_LOADS: u32 = 4u;

struct Params {
  k: u32,
  n: u32,
  out_stride: u32,
  col_base: u32,
  row_words: u32,
  bias_base: u32,
  flags: u32, // FLAG_BIAS | FLAG_ACCUMULATE
}

const FLAG_BIAS: u32 = 1u;
const FLAG_ACCUMULATE: u32 = 2u;

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> x1: array<f32>;
@group(0) @binding(3) var<storage, read> w4: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read> w1: array<u32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;
@group(0) @binding(7) var<uniform> step: Step;

var<workgroup> a_tile: array<vec4<f32>, A_TILE_LEN>; // [k][m / 4]
var<workgroup> b_tile: array<vec4<f32>, B_TILE_LEN>; // [k][n / 4]

var<private> a_reg: array<vec4<f32>, MAX_LOADS>;
var<private> b_reg: array<vec4<u32>, MAX_LOADS>;

fn put_a(k: u32, m: u32, v: f32) {
  a_tile[k * AS + m / 4u][m % 4u] = v;
}

fn put_b(k: u32, n: u32, v: f32) {
  b_tile[k * BS + n / 4u][n % 4u] = v;
}

// Loads the K tile starting at k0 into a_reg / b_reg (VEC4 only); out-of-range elements are zero.
fn fetch(lid: u32, row0: u32, col0: u32, k0: u32) {
  let k = params.k;
  for (var j = 0u; j < A_LOADS; j++) {
    let i = lid + j * WG;
    let r = row0 + i / (TILE_K / 4u);
    let kk = k0 + 4u * (i % (TILE_K / 4u));
    var v = vec4<f32>(0.0);
    if (r < step.rows && kk < k) {
      v = x4[(r * k + kk) / 4u];
    }
    a_reg[j] = v;
  }
  let per = select(TILE_K / 8u, TILE_K / 4u, DTYPE == DTYPE_F32); // vec4s per row per tile
  let kpv = select(8u, 4u, DTYPE == DTYPE_F32); // k values per vec4
  for (var j = 0u; j < B_LOADS; j++) {
    let i = lid + j * WG;
    let n = col0 + i / per;
    let kk = k0 + kpv * (i % per);
    var v = vec4<u32>(0u);
    if (n < params.n && kk < k) {
      v = w4[(n * params.row_words) / 4u + kk / kpv];
    }
    b_reg[j] = v;
  }
}

// Writes the fetched registers into the workgroup tiles, transposed and widened.
fn stash(lid: u32) {
  for (var j = 0u; j < A_LOADS; j++) {
    let i = lid + j * WG;
    let m = i / (TILE_K / 4u);
    let kk = 4u * (i % (TILE_K / 4u));
    let v = a_reg[j];
    put_a(kk, m, v.x);
    put_a(kk + 1u, m, v.y);
    put_a(kk + 2u, m, v.z);
    put_a(kk + 3u, m, v.w);
  }
  for (var j = 0u; j < B_LOADS; j++) {
    let i = lid + j * WG;
    let v = b_reg[j];
    if (DTYPE == DTYPE_F32) {
      let n = i / (TILE_K / 4u);
      let kk = 4u * (i % (TILE_K / 4u));
      let f = bitcast<vec4<f32>>(v);
      put_b(kk, n, f.x);
      put_b(kk + 1u, n, f.y);
      put_b(kk + 2u, n, f.z);
      put_b(kk + 3u, n, f.w);
    } else {
      let n = i / (TILE_K / 8u);
      let kk = 8u * (i % (TILE_K / 8u));
      let p0 = widen2(v.x, DTYPE);
      let p1 = widen2(v.y, DTYPE);
      let p2 = widen2(v.z, DTYPE);
      let p3 = widen2(v.w, DTYPE);
      put_b(kk, n, p0.x);
      put_b(kk + 1u, n, p0.y);
      put_b(kk + 2u, n, p1.x);
      put_b(kk + 3u, n, p1.y);
      put_b(kk + 4u, n, p2.x);
      put_b(kk + 5u, n, p2.y);
      put_b(kk + 6u, n, p3.x);
      put_b(kk + 7u, n, p3.y);
    }
  }
}

// Scalar staging for shapes the vec4 views cannot address: loads straight into the tiles.
fn stage_scalar(lid: u32, row0: u32, col0: u32, k0: u32) {
  let k = params.k;
  for (var i = lid; i < BM * TILE_K; i += WG) {
    let m = i / TILE_K;
    let kk = i % TILE_K;
    var v = 0.0;
    if (row0 + m < step.rows && k0 + kk < k) {
      v = x1[(row0 + m) * k + k0 + kk];
    }
    put_a(kk, m, v);
  }
  if (DTYPE == DTYPE_F32) {
    for (var i = lid; i < BN * TILE_K; i += WG) {
      let n = i / TILE_K;
      let kk = i % TILE_K;
      var v = 0.0;
      if (col0 + n < params.n && k0 + kk < k) {
        v = bitcast<f32>(w1[(col0 + n) * params.row_words + k0 + kk]);
      }
      put_b(kk, n, v);
    }
  } else {
    for (var i = lid; i < BN * TILE_K / 2u; i += WG) {
      let n = i / (TILE_K / 2u);
      let kw = i % (TILE_K / 2u);
      var v = vec2<f32>(0.0);
      if (col0 + n < params.n && k0 + 2u * kw < k) {
        v = widen2(w1[(col0 + n) * params.row_words + k0 / 2u + kw], DTYPE);
      }
      put_b(2u * kw, n, v.x);
      put_b(2u * kw + 1u, n, v.y);
    }
  }
}

fn store4(r: u32, n: u32, v: vec4<f32>) {
  if (r >= step.rows) {
    return;
  }
  for (var c = 0u; c < 4u; c++) {
    if (n + c < params.n) {
      let at = r * params.out_stride + params.col_base + n + c;
      var y = v[c];
      if ((params.flags & FLAG_BIAS) != 0u) {
        y += bias[params.bias_base + n + c];
      }
      if ((params.flags & FLAG_ACCUMULATE) != 0u) {
        y += out[at];
      }
      out[at] = y;
    }
  }
}

fn store_row(r: u32, c0: u32, c1: u32, lo: vec4<f32>, hi: vec4<f32>) {
  store4(r, c0, lo);
  store4(r, c1, hi);
}

@compute @workgroup_size(WG_N, WG_M)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) loc: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let tx = loc.x;
  let ty = loc.y;
  let col0 = wid.x * BN;
  let row0 = wid.y * BM;
  // acc[2 * i + h]: row 4 * ty + i (i < 4) or 4 * (ty + WG_M) + i - 4 (i >= 4), columns 4 * (tx + h * WG_N) + 0..3.
  var acc: array<vec4<f32>, 16>;
  let tiles = (params.k + TILE_K - 1u) / TILE_K;
  if (VEC4) {
    fetch(lid, row0, col0, 0u);
  }
  for (var t = 0u; t < tiles; t++) {
    if (VEC4) {
      stash(lid);
    } else {
      stage_scalar(lid, row0, col0, t * TILE_K);
    }
    workgroupBarrier();
    if (VEC4 && t + 1u < tiles) {
      fetch(lid, row0, col0, (t + 1u) * TILE_K);
    }
    for (var k = 0u; k < TILE_K; k++) {
      let a0 = a_tile[k * AS + ty];
      let a1 = a_tile[k * AS + ty + WG_M];
      let b0 = b_tile[k * BS + tx];
      let b1 = b_tile[k * BS + tx + WG_N];
      acc[0] += a0.x * b0;
      acc[1] += a0.x * b1;
      acc[2] += a0.y * b0;
      acc[3] += a0.y * b1;
      acc[4] += a0.z * b0;
      acc[5] += a0.z * b1;
      acc[6] += a0.w * b0;
      acc[7] += a0.w * b1;
      acc[8] += a1.x * b0;
      acc[9] += a1.x * b1;
      acc[10] += a1.y * b0;
      acc[11] += a1.y * b1;
      acc[12] += a1.z * b0;
      acc[13] += a1.z * b1;
      acc[14] += a1.w * b0;
      acc[15] += a1.w * b1;
    }
    workgroupBarrier();
  }
  // Written out (not looped) so acc is only ever indexed by constants and stays in registers.
  let c0 = col0 + 4u * tx;
  let c1 = col0 + 4u * (tx + WG_N);
  let r0 = row0 + 4u * ty;
  let r1 = row0 + 4u * (ty + WG_M);
  store_row(r0, c0, c1, acc[0], acc[1]);
  store_row(r0 + 1u, c0, c1, acc[2], acc[3]);
  store_row(r0 + 2u, c0, c1, acc[4], acc[5]);
  store_row(r0 + 3u, c0, c1, acc[6], acc[7]);
  store_row(r1, c0, c1, acc[8], acc[9]);
  store_row(r1 + 1u, c0, c1, acc[10], acc[11]);
  store_row(r1 + 2u, c0, c1, acc[12], acc[13]);
  store_row(r1 + 3u, c0, c1, acc[14], acc[15]);
}
