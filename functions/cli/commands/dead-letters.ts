/**
 * `pacer dead-letters list|replay`.
 */
import type { Command } from 'commander';
import {
  DEFAULT_REPLAY_LIMIT,
  DEFAULT_REPLAY_RATE,
  MAX_REPLAY_RATE,
  listDeadLetters,
  renderDeadLetters,
  renderReplayed,
  renderReplayedAll,
  replay,
  replayAll,
} from '../dead-letters.js';
import { UsageError } from '../errors.js';
import { TIME_HINT, parseTime } from '../../schedule/time.js';
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
    .description(
      "dispatch a dead letter's schedule again with a fresh lease; --all: every open dead letter",
    )
    .argument('[id]', 'dead letter id')
    .option('--all', 'replay every open (never replayed) dead letter, newest first')
    .option('--schedule <id>', "with --all: only this schedule's dead letters")
    .option(
      '--since <time>',
      'with --all: only those recorded at or after this time (ISO-8601 with offset)',
    )
    .option(
      '--rate <n>',
      `with --all: replays started per second (default ${DEFAULT_REPLAY_RATE})`,
      wholeNumber(1, MAX_REPLAY_RATE),
      DEFAULT_REPLAY_RATE,
    )
    .option(
      '--limit <n>',
      `with --all: at most this many (default ${DEFAULT_REPLAY_LIMIT})`,
      wholeNumber(1, 100_000),
      DEFAULT_REPLAY_LIMIT,
    )
    .action(async (id: string | undefined, options: ReplayOptions, command: Command) => {
      if ((id === undefined) === (options.all !== true)) {
        throw new UsageError('give a dead letter id or --all (not both)');
      }
      if (id !== undefined) {
        if (options.schedule !== undefined || options.since !== undefined) {
          throw new UsageError('--schedule and --since go with --all');
        }
        await execute(command, (context) => replay(context, id), renderReplayed);
        return;
      }
      let since: number | undefined;
      if (options.since !== undefined) {
        const parsed = parseTime(options.since);
        if (!parsed.ok) {
          throw new UsageError(`--since: "${options.since}" is not a time (${TIME_HINT})`);
        }
        since = parsed.ms;
      }
      await execute(
        command,
        (context) =>
          replayAll(context, {
            ...(options.schedule === undefined ? {} : { scheduleId: options.schedule }),
            ...(since === undefined ? {} : { since }),
            rate: options.rate,
            limit: options.limit,
          }),
        (data) => {
          if (data.more) notes.note(`more dead letters match than --limit ${options.limit}`);
          return renderReplayedAll(data);
        },
      );
    });
}

interface ReplayOptions {
  all?: boolean;
  schedule?: string;
  since?: string;
  rate: number;
  limit: number;
}
