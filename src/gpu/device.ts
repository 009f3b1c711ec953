/**
 * Device acquisition: the browser's `navigator.gpu`, or Dawn for Node through the npm `webgpu` package.
 * Requests the adapter's full storage limits, because model weights and KV caches need them.
 */

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
}

export interface Gpu {
  device: GPUDevice;
  adapter: AdapterSummary;
  limits: GPUSupportedLimits;
  hasSubgroups: boolean;
  hasTimestamps: boolean;
  /** The largest buffer one binding may hold here, capped at 512 MiB (SwiftShader fails above it). */
  maxBindingBytes: number;
  /** GPU buffer bytes this device holds now, and the most it ever held (every createBuffer counts). */
  memory: { currentBytes: number; peakBytes: number; resetPeak(): void };
  /** Held so the instance outlives the device: Dawn for Node crashes when the GPU object is collected first. */
  readonly instance: GPU;
}

export class NoWebGpuError extends Error {
  override name = 'NoWebGpuError';
}

const BINDING_CAP = 512 * 1024 * 1024;

async function nodeGpu(): Promise<GPU> {
  const specifier = 'webgpu';
  const mod = (await import(/* @vite-ignore */ specifier)) as {
    create: (flags: string[]) => GPU;
    globals: Record<string, unknown>;
  };
  Object.assign(globalThis, mod.globals);
  // Kernels initialise every workgroup variable they read, so Dawn's zero-fill is pure cost (on
  // SwiftShader it dominates shader compile time: ~0.17 s per KiB of workgroup memory). Timestamps are
  // quantised by default (to 2^16 ns on the H200), too coarse for per-kernel benchmark figures.
  return mod.create(['enable-dawn-features=disable_workgroup_init', 'disable-dawn-features=timestamp_quantization']);
}

async function findGpu(): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (isNode) return nodeGpu();
  throw new NoWebGpuError(
    'This browser does not expose WebGPU (navigator.gpu is missing). Use a recent Chrome or Edge, ' +
      'or start Chromium with --enable-unsafe-webgpu.',
  );
}

export async function acquireGpu(options: { powerPreference?: GPUPowerPreference } = {}): Promise<Gpu> {
  const gpu = await findGpu();
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new NoWebGpuError(
      'WebGPU is present but no adapter was found. Check that hardware acceleration is enabled, ' +
        'or that a Vulkan driver is installed (Node: set VK_ICD_FILENAMES).',
    );
  }
  const want = [
    'maxStorageBufferBindingSize',
    'maxBufferSize',
    'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup',
    'maxComputeWorkgroupSizeX',
    'maxComputeWorkgroupSizeY',
    'maxStorageBuffersPerShaderStage',
    'maxComputeWorkgroupsPerDimension',
  ] as const;
  const requiredLimits: Record<string, number> = {};
  for (const k of want) requiredLimits[k] = adapter.limits[k];
  const features: GPUFeatureName[] = [];
  const hasSubgroups = adapter.features.has('subgroups');
  const hasTimestamps = adapter.features.has('timestamp-query');
  if (hasSubgroups) features.push('subgroups');
  if (hasTimestamps) features.push('timestamp-query');
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures: features });
  const memory = trackMemory(device);
  const info = adapter.info;
  const summary: AdapterSummary = {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
    isFallbackAdapter: (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter ?? false,
  };
  return {
    device,
    adapter: summary,
    limits: device.limits,
    hasSubgroups,
    hasTimestamps,
    instance: gpu,
    memory,
    maxBindingBytes: Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize, BINDING_CAP),
  };
}

/** Counts the bytes of every buffer the device creates until it is destroyed: current and peak. */
function trackMemory(device: GPUDevice): Gpu['memory'] {
  const memory = {
    currentBytes: 0,
    peakBytes: 0,
    resetPeak() {
      memory.peakBytes = memory.currentBytes;
    },
  };
  const create = device.createBuffer.bind(device);
  device.createBuffer = (desc: GPUBufferDescriptor): GPUBuffer => {
    const buffer = create(desc);
    const size = buffer.size;
    memory.currentBytes += size;
    memory.peakBytes = Math.max(memory.peakBytes, memory.currentBytes);
    const destroy = buffer.destroy.bind(buffer);
    let alive = true;
    buffer.destroy = () => {
      if (alive) memory.currentBytes -= size;
      alive = false;
      destroy();
    };
    return buffer;
  };
  return memory;
}
