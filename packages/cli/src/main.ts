// The w2s command line. Each command lives in src/commands; this file wires them into commander.
import { Command, CommanderError } from 'commander';
import { dataCommand } from './commands/data.js';
import { demoCommand } from './commands/demo.js';
import { generateCommand } from './commands/generate.js';
import { pretrainCommand } from './commands/pretrain.js';
import { reportCommand } from './commands/report.js';
import { runCommand } from './commands/run.js';
import { sweepCommand, sweepWorkerCommand } from './commands/sweep.js';
import { shrinkTokenizerCommand } from './commands/shrink-tokenizer.js';
import { tokenizeCommand } from './commands/tokenize.js';
import { workerCommand } from './commands/worker.js';

const program = new Command()
  .name('w2s')
  .description('Weak-to-strong generalization experiments on a native transformer engine')
  .showHelpAfterError()
  .exitOverride();
for (const command of [demoCommand(), runCommand(), sweepCommand(), workerCommand(), reportCommand(), dataCommand(), pretrainCommand(), generateCommand(), tokenizeCommand(), shrinkTokenizerCommand()]) program.addCommand(command);
program.addCommand(sweepWorkerCommand(), { hidden: true });
// Subcommands report errors the same way (exitOverride and the help after an error do not inherit).
// Commander prints the errors it finds while parsing; an InvalidArgumentError thrown later by a
// command's own checks is printed below (it used to end the process silently with status 1).
let commanderPrinted = false;
const output = { writeErr: (text: string) => ((commanderPrinted = true), process.stderr.write(text)) };
program.configureOutput(output);
for (const command of program.commands) command.exitOverride().showHelpAfterError().configureOutput(output);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError && (commanderPrinted || error.exitCode === 0)) process.exit(error.exitCode);
  process.stderr.write(`w2s: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
