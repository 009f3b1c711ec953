// `npm run cli -- <command> ...`: builds the CLI bundle, then runs it in this process.
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { buildCli } from './build-cli.mjs';

const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES && existsSync(swiftshader)) {
  process.env.VK_ICD_FILENAMES = swiftshader;
}
const out = await buildCli();
await import(pathToFileURL(out).href);
