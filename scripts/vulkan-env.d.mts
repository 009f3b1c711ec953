/** Points Node's WebGPU (Dawn) at Chromium's SwiftShader Vulkan driver when no driver is set. */
export function useSwiftShaderWhenNoDriverSet(): void;
