// WGSL files are imported as their source text (vite plugin in vite.config.ts, esbuild text loader for the CLI).
declare module '*.wgsl' {
  const source: string;
  export default source;
}
