/** Every failure → a titled message with what to do next (the page never goes blank). */
import { formatBytes } from './format';

export type ErrorKind = 'no-webgpu' | 'device-lost' | 'oom' | 'model' | 'document' | 'storage' | 'aborted' | 'generic';

export interface Explained {
  kind: ErrorKind;
  title: string;
  message: string;
  hints: string[];
}

interface ErrorLike {
  name?: string;
  message?: string;
  requestedBytes?: number;
  availableBytes?: number;
  usage?: number | null;
  quota?: number | null;
}

/** `suggestBudget`: a smaller budget to propose after an out-of-memory error. */
export function explainError(e: unknown, context: { budgetTokens?: number } = {}): Explained {
  const x: ErrorLike = typeof e === 'object' && e !== null ? (e as ErrorLike) : { message: String(e) };
  const name = x.name ?? 'Error';
  const message = x.message ?? String(e);
  if (name === 'NoWebGpuError' || /navigator\.gpu|no (webgpu )?adapter/i.test(message)) {
    return {
      kind: 'no-webgpu',
      title: 'WebGPU is not available',
      message,
      hints: [
        'Use a recent Chrome, Edge or another Chromium browser (version 113 or later) on a device with a GPU.',
        'Check that hardware acceleration is on (chrome://settings/system) and that the GPU is not blocklisted (chrome://gpu).',
        'On Linux, start Chromium with --enable-unsafe-webgpu (and --enable-features=Vulkan).',
      ],
    };
  }
  if (name === 'DeviceLostError' || /device (was )?lost/i.test(message)) {
    return { kind: 'device-lost', title: 'The GPU device was lost', message, hints: ['The model is being reloaded; your conversation is kept. Ask again when it is ready.'] };
  }
  if (name === 'OutOfMemoryError' || /out of memory|OOM|allocation failed/i.test(message)) {
    const nums =
      x.requestedBytes !== undefined ? ` It asked for ${formatBytes(x.requestedBytes)}${x.availableBytes !== undefined ? ` with ${formatBytes(x.availableBytes)} available` : ''}.` : '';
    const B = context.budgetTokens;
    return {
      kind: 'oom',
      title: 'The GPU ran out of memory',
      message: message + nums,
      hints: [
        B ? `Try a smaller budget: ${Math.max(64, Math.floor(B / 2))} tokens per head instead of ${B}.` : 'Try a smaller cache budget.',
        'Use a shorter document or a smaller model, and close other tabs that use the GPU.',
      ],
    };
  }
  if (name === 'ModelLoadError' || name === 'ChatTemplateError' || /safetensors|config\.json|tokenizer/i.test(message)) {
    return {
      kind: 'model',
      title: 'This model cannot be loaded',
      message,
      hints: ['Pick a Hugging Face model folder with config.json, tokenizer.json and model.safetensors (Llama, Qwen2 or Mistral).', 'A partly downloaded or corrupt file must be downloaded again.'],
    };
  }
  if (name === 'DocumentError') return { kind: 'document', title: 'This document cannot be used', message, hints: ['Open a .txt, .md, .html or .pdf file, or paste the text.'] };
  if (name === 'StorageFullError' || name === 'QuotaExceededError') {
    const used = x.usage != null && x.quota != null ? ` (${formatBytes(x.usage)} of ${formatBytes(x.quota)} used)` : '';
    return {
      kind: 'storage',
      title: 'Browser storage is full',
      message: message + used,
      hints: ['Your conversation is still open in this tab.', 'Delete stored models or old conversations, or allow persistent storage, then try again.'],
    };
  }
  if (name === 'AbortError') return { kind: 'aborted', title: 'Stopped', message: 'Stopped by request.', hints: [] };
  return { kind: 'generic', title: 'Something went wrong', message, hints: ['The engine is still running; try again, or reload the model.'] };
}
