/** RDKV policy side and CPU reference (pure TypeScript: no WebGPU, no DOM). */
export * from './allocate';
export * from './budget';
export * from './bytes';
export * from './cache';
export * from './epsilon';
export * from './layout';
export * from './policies';
export * from './quantize';
export * from './report';
export * from './scoring';
