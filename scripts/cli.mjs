// `npm run cli -- <command> ...`: builds the CLI bundle, then runs it in this process.
import { pathToFileURL } from 'node:url';
import { buildCli } from './build-cli.mjs';
import { useSwiftShaderWhenNoDriverSet } from './vulkan-env.mjs';

useSwiftShaderWhenNoDriverSet();
const out = await buildCli();
await import(pathToFileURL(out).href);
