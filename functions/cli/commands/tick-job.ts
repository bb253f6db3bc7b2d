/**
 * `pacer tick-job ensure|pause|resume|status`.
 */
import type { Command } from 'commander';
import { ensureCommand, renderEnsure } from '../tick-job.js';
import { pauseCommand, renderPauseResult, renderStatus, statusCommand } from '../tick-job-fleet.js';
import { url, type CommandKit } from './kit.js';

export function tickJobCommands(program: Command, { execute }: CommandKit): void {
  const tickJob = program
    .command('tick-job')
    .description('the Cloud Scheduler job that calls the planner every minute')
    .addHelpText(
      'after',
      `
The job is projects/PROJECT/locations/REGION/jobs/pacer-tick (REGION: --region or $PACER_REGION).
infra/deploy.sh runs "tick-job ensure" for you; pause and resume are for maintenance.
With PACER_SHARDS=N there is one job per planner shard (pacer-tick, pacer-tick-1 ...); ensure
deletes the pacer-tick-K jobs with K >= N, one shard included. Until it does, status shows them
as stale, pause pauses them too and resume leaves them as they are.`,
    );

  tickJob
    .command('ensure')
    .description('create the job, update what differs, or leave it as it is (never resumes it)')
    .requiredOption(
      '--planner-url <url>',
      "the planner's URL (gcloud functions describe planTick)",
      url,
    )
    .option(
      '--service-account <email>',
      'identity of the OIDC token (default: pacer-tick@PROJECT.iam.gserviceaccount.com)',
    )
    .action(async (options: { plannerUrl: string; serviceAccount?: string }, command: Command) => {
      await execute(command, (context) => ensureCommand(context, options), renderEnsure);
    });

  tickJob
    .command('pause')
    .description('stop calling the planner (maintenance); schedules wait, nothing is lost')
    .action(async (_options: unknown, command: Command) => {
      await execute(command, (context) => pauseCommand(context, true), renderPauseResult);
    });

  tickJob
    .command('resume')
    .description(
      'call the planner again; what fell due meanwhile is dispatched, most overdue first',
    )
    .action(async (_options: unknown, command: Command) => {
      await execute(command, (context) => pauseCommand(context, false), renderPauseResult);
    });

  tickJob
    .command('status')
    .description(
      "the job's state, schedule, target, last attempt and next run (every shard's, stale ones marked)",
    )
    .action(async (_options: unknown, command: Command) => {
      await execute(command, statusCommand, renderStatus);
    });
}
