/**
 * Node entry: `npm run cli -- <command> [flags]`. The commands and the options each takes: commands.ts
 * (`npm run cli -- <command> --help` lists them). An option a command does not take is an error.
 */
import { closestName, parseArgs } from './args';
import { commandHelp, COMMANDS } from './commands';

const USAGE = `usage: npm run cli -- <command> [options]   (npm run cli -- <command> --help: its options)
commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(13)}${c.about}`)
  .join('\n')}`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help') {
    console.error(USAGE);
    return 0;
  }
  const cmd = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!cmd) {
    const near = closestName(command, Object.keys(COMMANDS));
    console.error(`error: unknown command '${command}'${near ? ` (did you mean ${near}?)` : ''}\n${USAGE}`);
    return 2;
  }
  const args = parseArgs(rest, command, cmd.flags);
  if (args.help === true) {
    console.log(commandHelp(command));
    return 0;
  }
  return cmd.run(args);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
