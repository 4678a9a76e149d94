// The `pochtamt` command line. Every command acts on one instance (--data DIR or
// POCHTAMT_DATA, default ./data). Expected errors print one line and exit non-zero
// (1 for a refused action, 2 for bad usage); anything else is a bug and shows its stack.
import './threadpool.js';
import 'reflect-metadata';
import { Command, CommanderError } from 'commander';
import { describeError } from './context.js';
import { register as account } from './commands/account.js';
import { register as acl } from './commands/acl.js';
import { register as alias } from './commands/alias.js';
import { register as directory } from './commands/directory.js';
import { register as domain } from './commands/domain.js';
import { register as group } from './commands/group.js';
import { register as instance } from './commands/instance.js';
import { register as quarantine } from './commands/quarantine.js';
import { register as queue } from './commands/queue.js';
import { register as security } from './commands/security.js';
import { register as trace } from './commands/trace.js';

const program = new Command('pochtamt')
  .description('Pochtamt mail and groupware server')
  .option('--data <dir>', 'data folder of the instance (env POCHTAMT_DATA; default ./data)')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();
for (const r of [instance, domain, account, acl, alias, group, queue, trace, directory, security, quarantine]) r(program);
program.commands.forEach(function inherit(c: Command) {
  c.exitOverride();
  c.commands.forEach(inherit);
});

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // commander already printed the message (or the help text).
    process.exitCode = e.exitCode === 0 ? 0 : 2;
  } else {
    const known = describeError(e);
    if (!known) throw e;
    process.stderr.write(`pochtamt: ${known.message}\n`);
    process.exitCode = known.code;
  }
}
