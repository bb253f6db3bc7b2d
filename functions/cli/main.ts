#!/usr/bin/env node
/**
 * The `pacer` executable (package.json `bin`): runs the CLI with this process's arguments,
 * streams and environment, and exits with its code.
 */
import { readFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { isEmulatorMode } from '../clients.js';
import { errorMessage } from '../errors.js';
import { EXIT_FAILED, EXIT_OK } from './errors.js';
import { runCli } from './program.js';

// The Google client libraries can reject promises nobody awaits (without credentials, every
// pending call does, besides the call the command awaits). Node would crash on them with a stack
// trace; instead they are kept, and one that is not already part of a failed command fails it.
const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => {
  unhandled.push(reason);
});

// `pacer schedules list | head`: once the reader has gone, the rest of the output has nowhere
// to go. Stop quietly, as command-line tools do.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? EXIT_OK);
  process.stderr.write(`pacer: cannot write the output: ${error.message}\n`);
  process.exit(EXIT_FAILED);
});

// Against the emulators, or a stand-in for Cloud Scheduler, there is no metadata server to
// find: the auth library must not probe for one (functions/clients.ts gives the emulator
// clients credentials of their own; a stand-in's client signs with the key it is given).
if (
  (isEmulatorMode(process.env) || process.env.PACER_SCHEDULER_ENDPOINT?.trim()) &&
  process.env.METADATA_SERVER_DETECTION === undefined
) {
  process.env.METADATA_SERVER_DETECTION = 'none';
}

const exitCode = await runCli(process.argv.slice(2), {
  stdout: (output) => process.stdout.write(output),
  stderr: (output) => process.stderr.write(output),
  readFile: (path) => readFile(path, 'utf8'),
  readStdin: () => text(process.stdin),
  env: process.env,
  clock: Date.now,
});

const [firstUnhandled] = unhandled;
if (exitCode === EXIT_OK && firstUnhandled !== undefined) {
  process.stderr.write(`pacer: ${errorMessage(firstUnhandled)}\n`);
  process.exitCode = EXIT_FAILED;
} else {
  process.exitCode = exitCode;
}
if (process.env.PACER_DEBUG === '1') {
  for (const reason of unhandled) {
    process.stderr.write(
      `unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : errorMessage(reason)}\n`,
    );
  }
}
