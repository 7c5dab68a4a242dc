// The w2s command line. Each command lives in src/commands; this file wires them into commander.
import { Command, CommanderError } from 'commander';
import { generateCommand } from './commands/generate.js';

const program = new Command()
  .name('w2s')
  .description('Weak-to-strong generalization experiments on a native transformer engine')
  .showHelpAfterError()
  .exitOverride();
program.addCommand(generateCommand());

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  process.stderr.write(`w2s: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
