import { existsSync } from 'node:fs';

/** Node's WebGPU (Dawn) needs a Vulkan driver; on machines without a GPU that is Chromium's SwiftShader. */
export function useSwiftShaderWhenNoDriverSet() {
  const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';
  if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES && existsSync(swiftshader)) {
    process.env.VK_ICD_FILENAMES = swiftshader;
  }
}
