/**
 * `pacer dead-letters list|replay`.
 */
import type { Command } from 'commander';
import { listDeadLetters, renderDeadLetters, renderReplayed, replay } from '../dead-letters.js';
import { wholeNumber, type CommandKit } from './kit.js';

export function deadLetterCommands(program: Command, { notes, execute }: CommandKit): void {
  const deadLetters = program.command('dead-letters').description('list and replay dead letters');

  deadLetters
    .command('list')
    .description('dead letters, newest first')
    .option('--open', 'only those not replayed')
    .option('--limit <n>', 'at most this many', wholeNumber(1, 10_000), 50)
    .action(async (options: { open?: boolean; limit: number }, command: Command) => {
      await execute(
        command,
        (context) =>
          listDeadLetters(context, { open: options.open === true, limit: options.limit }),
        (data) => {
          if (data.more)
            notes.note(`more dead letters; showing the newest ${options.limit} (raise --limit)`);
          return renderDeadLetters(data);
        },
      );
    });

  deadLetters
    .command('replay')
    .description("dispatch a dead letter's schedule again with a fresh lease")
    .argument('<id>', 'dead letter id')
    .action(async (id: string, _options: unknown, command: Command) => {
      await execute(command, (context) => replay(context, id), renderReplayed);
    });
}
