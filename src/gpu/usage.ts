/**
 * WebGPU's buffer usage and map mode flags as plain numbers (values fixed by the spec), so modules can
 * use them before Node's `webgpu` globals are installed.
 */
export const Usage = {
  MAP_READ: 0x1,
  COPY_SRC: 0x4,
  COPY_DST: 0x8,
  UNIFORM: 0x40,
  STORAGE: 0x80,
  QUERY_RESOLVE: 0x200,
} as const;

export const MAP_READ_MODE = 0x1;
