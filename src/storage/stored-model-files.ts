/** A model in IndexedDB as ModelFiles, for the engine's loader (works in the Worker). */
import { ModelLoadError } from '../model/errors';
import type { ModelFiles } from '../model/model-files';
import type { ByteSource } from '../model/safetensors';
import { getModel, isFileComplete, readStored } from './model-store';

export async function storedModelFiles(id: string): Promise<ModelFiles> {
  const m = await getModel(id);
  if (!m) throw new ModelLoadError(id, 'is not in browser storage (it may have been deleted)');
  const byName = new Map(m.files.map((f) => [f.name, f]));
  return {
    name: m.name,
    async get(fileName) {
      const f = byName.get(fileName);
      if (!f) return undefined;
      if (!isFileComplete(f)) throw new ModelLoadError(fileName, `was only partly downloaded; resume the download of ${m.name} first`);
      const src: ByteSource = { name: fileName, size: f.size, read: (offset, length) => readStored(m, f, offset, length) };
      return src;
    },
    list: () => [...byName.keys()].sort(),
  };
}
