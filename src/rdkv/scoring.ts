/**
 * Observation-window scores, CPU reference (rdkv.md §1). Accumulates in f64, returns f32.
 *
 * Inputs (all post-RoPE, row-major):
 *   q: (W, Hq, d)    the window queries; window query i sits at prompt position qPositions[i]
 *                    (default T - W + i; the window is the last W prompt positions)
 *   k: (Hkv, T, d)   the prompt keys; key t sits at prompt position t
 * GQA: query head hq belongs to KV head floor(hq / g), g = Hq / Hkv (the usual repeat_kv order).
 *
 * Per KV head h:
 *   A[i, g', t] = softmax over t <= qPositions[i] of (q_{i,g'} · k_t · scale)   (scale = 1/sqrt(d))
 *   w_V[t]  = Σ_{i,g'} A[i,g',t] / visible(t),  visible(t) = #{i : qPositions[i] >= t}
 *             (tokens no window query sees get 0)
 *   w_V     = avgpool1d(w_V, kernel 5, stride 1, reflect padding)
 *   w_K[c]  'squared' (default, the authors' code):  mean_{i,g'}(q_{i,g',c}²) · mean_t(k_{t,c}²)
 *           'norm'    (the paper):  ||Q[:,c]||·||K[:,c]|| / sqrt(d), Q[:,c] over the W·g window
 *                     queries of the head and K[:,c] over its T keys
 * Outputs: wV (Hkv, T) row-major, wK (Hkv, d) row-major.
 */

export interface WindowInputs {
  /** (W, Hq, d) row-major, post-RoPE. */
  q: Float32Array;
  /** (Hkv, T, d) row-major, post-RoPE. */
  k: Float32Array;
  W: number;
  Hq: number;
  Hkv: number;
  T: number;
  d: number;
  /** (W) prompt position of each window query, each in [0, T); default T - W + i. */
  qPositions?: ArrayLike<number>;
}

export interface ScoreOptions {
  /** Pooling kernel (odd, >= 1; 1 = no pooling). Default 5. */
  poolKernel?: number;
  /** K channel weight form. Default 'squared'. */
  kForm?: 'squared' | 'norm';
  /** Logit scale. Default 1/sqrt(d). */
  scale?: number;
}

export interface WindowScores {
  /** (Hkv, T) row-major pooled V token weights. */
  wV: Float32Array;
  /** (Hkv, d) row-major K channel weights. */
  wK: Float32Array;
}

export const OBSERVATION_WINDOW = 32;
export const POOL_KERNEL = 5;

/** (W) default window positions: the last W prompt positions. */
export function defaultWindowPositions(T: number, W: number): Int32Array {
  if (W > T) throw new Error(`rdkv: window W=${W} longer than the prompt T=${T}`);
  return Int32Array.from({ length: W }, (_, i) => T - W + i);
}

/** (T) number of window queries that can see each token: visible(t) = #{i : qPositions[i] >= t}. */
export function visibleCounts(T: number, qPositions: ArrayLike<number>): Int32Array {
  const vis = new Int32Array(T);
  for (let i = 0; i < qPositions.length; i++) {
    const p = Math.min(qPositions[i], T - 1);
    for (let t = 0; t <= p; t++) vis[t]++;
  }
  return vis;
}

/**
 * 1-D average pooling, stride 1, odd kernel, reflect padding (mirror without repeating the edge:
 * x[-1] = x[1], x[n] = x[n-2]; applied repeatedly when the pad exceeds n - 1; n = 1 returns x).
 * x: (n). Returns (n).
 */
export function avgPoolReflect(x: Float32Array | Float64Array, kernel: number): Float64Array {
  if (!(kernel >= 1) || kernel % 2 !== 1) throw new Error(`rdkv: pooling kernel must be odd and >= 1, got ${kernel}`);
  const n = x.length;
  const out = new Float64Array(n);
  const half = (kernel - 1) / 2;
  const reflect = (i: number): number => {
    if (n === 1) return 0;
    const period = 2 * (n - 1);
    let m = ((i % period) + period) % period;
    if (m >= n) m = period - m;
    return m;
  };
  for (let t = 0; t < n; t++) {
    let s = 0;
    for (let o = -half; o <= half; o++) s += x[reflect(t + o)];
    out[t] = s / kernel;
  }
  return out;
}

/**
 * The un-normalised window sums a scoring kernel produces (f64 here, f32 from the GPU):
 *   attn (Hkv, T): Σ_{i,g'} A[i,g',t]        (before / visible(t) and pooling)
 *   qSq  (Hkv, d): Σ_{i,g'} q_{i,g',c}²      over the W·g window queries of the head
 *   kSq  (Hkv, d): Σ_t k_{t,c}²              over the T keys
 */
export interface WindowSums {
  attn: Float32Array | Float64Array;
  qSq: Float32Array | Float64Array;
  kSq: Float32Array | Float64Array;
}

function checkInputs(inp: WindowInputs): ArrayLike<number> {
  const { q, k, W, Hq, Hkv, T, d } = inp;
  if (!(W >= 1) || !(T >= 1) || !(d >= 1) || !(Hkv >= 1)) throw new Error(`rdkv: need W, T, d, Hkv >= 1 (W=${W}, T=${T}, d=${d}, Hkv=${Hkv})`);
  if (Hq % Hkv !== 0) throw new Error(`rdkv: Hq=${Hq} is not a multiple of Hkv=${Hkv}`);
  if (q.length !== W * Hq * d) throw new Error(`rdkv: q has ${q.length} entries, expected W·Hq·d = ${W * Hq * d}`);
  if (k.length !== Hkv * T * d) throw new Error(`rdkv: k has ${k.length} entries, expected Hkv·T·d = ${Hkv * T * d}`);
  const pos = inp.qPositions ?? defaultWindowPositions(T, W);
  if (pos.length !== W) throw new Error(`rdkv: qPositions has ${pos.length} entries, expected W=${W}`);
  for (let i = 0; i < W; i++) {
    if (!Number.isInteger(pos[i]) || pos[i] < 0 || pos[i] >= T) throw new Error(`rdkv: window position ${pos[i]} outside [0, ${T})`);
  }
  return pos;
}

/** The WindowSums of one layer (CPU reference of wgsl/rdkv_scores.wgsl). */
export function windowSums(inp: WindowInputs, opts: Pick<ScoreOptions, 'scale'> = {}): WindowSums {
  const { q, k, W, Hq, Hkv, T, d } = inp;
  const pos = checkInputs(inp);
  const g = Hq / Hkv;
  const scale = opts.scale ?? 1 / Math.sqrt(d);
  const attn = new Float64Array(Hkv * T);
  const qSq = new Float64Array(Hkv * d);
  const kSq = new Float64Array(Hkv * d);
  const logits = new Float64Array(T); // (T) one query's logits, then its unnormalised probabilities
  for (let h = 0; h < Hkv; h++) {
    const acc = attn.subarray(h * T, (h + 1) * T);
    const kBase = h * T * d;
    for (let i = 0; i < W; i++) {
      const n = pos[i] + 1; // keys 0..pos[i]
      for (let gi = 0; gi < g; gi++) {
        const qBase = (i * Hq + h * g + gi) * d;
        let mx = -Infinity;
        for (let t = 0; t < n; t++) {
          let s = 0;
          for (let c = 0; c < d; c++) s += q[qBase + c] * k[kBase + t * d + c];
          s *= scale;
          logits[t] = s;
          if (s > mx) mx = s;
        }
        let sum = 0;
        for (let t = 0; t < n; t++) {
          const e = Math.exp(logits[t] - mx);
          logits[t] = e;
          sum += e;
        }
        for (let t = 0; t < n; t++) acc[t] += logits[t] / sum;
      }
    }
    for (let c = 0; c < d; c++) {
      let qq = 0;
      for (let i = 0; i < W; i++) {
        for (let gi = 0; gi < g; gi++) qq += q[(i * Hq + h * g + gi) * d + c] ** 2;
      }
      let kk = 0;
      for (let t = 0; t < T; t++) kk += k[kBase + t * d + c] ** 2;
      qSq[h * d + c] = qq;
      kSq[h * d + c] = kk;
    }
  }
  return { attn, qSq, kSq };
}

export interface WindowShape {
  W: number;
  Hq: number;
  Hkv: number;
  T: number;
  d: number;
  qPositions?: ArrayLike<number>;
}

/** Visibility normalisation, pooling and the w_K form: WindowSums → WindowScores. */
export function finishWindowScores(sums: WindowSums, shape: WindowShape, opts: ScoreOptions = {}): WindowScores {
  const { W, Hq, Hkv, T, d } = shape;
  const g = Hq / Hkv;
  const kernel = opts.poolKernel ?? POOL_KERNEL;
  const kForm = opts.kForm ?? 'squared';
  const pos = shape.qPositions ?? defaultWindowPositions(T, W);
  const vis = visibleCounts(T, pos);
  const wV = new Float32Array(Hkv * T);
  const wK = new Float32Array(Hkv * d);
  const acc = new Float64Array(T);
  for (let h = 0; h < Hkv; h++) {
    for (let t = 0; t < T; t++) acc[t] = vis[t] > 0 ? sums.attn[h * T + t] / vis[t] : 0;
    const pooled = avgPoolReflect(acc, kernel);
    for (let t = 0; t < T; t++) wV[h * T + t] = pooled[t];
    for (let c = 0; c < d; c++) {
      const qq = sums.qSq[h * d + c];
      const kk = sums.kSq[h * d + c];
      wK[h * d + c] = kForm === 'squared' ? (qq / (W * g)) * (kk / T) : (Math.sqrt(qq) * Math.sqrt(kk)) / Math.sqrt(d);
    }
  }
  return { wV, wK };
}

/** Scores of every KV head of one layer. */
export function scoreWindow(inp: WindowInputs, opts: ScoreOptions = {}): WindowScores {
  return finishWindowScores(windowSums(inp, opts), inp, opts);
}
