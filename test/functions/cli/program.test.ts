/**
 * The command line itself, run in-process: usage mistakes end with exit 2 and a message before
 * anything talks to a project, and help is not a failure. Commands that reach a project are
 * tested against the emulators in the *.int.test.ts files beside this one.
 */
import { describe, expect, it } from 'vitest';
import { runCli, type CliIo } from '../../../functions/cli/program.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const files: Record<string, string> = {
  'nightly.yaml': [
    'id: nightly',
    'name: nightly export',
    'cadence: { kind: cron, expression: "0 2 * * *", timezone: Europe/Berlin }',
    'target: { type: handler, name: example.echo }',
  ].join('\n'),
  'typo.yaml': [
    'id: typo',
    'name: echo with a typo',
    'cadence: { kind: interval, every: 5m }',
    'target: { type: handler, name: exampel.echo }',
  ].join('\n'),
  'leaky.json': JSON.stringify({
    id: 'leaky',
    name: 'sends the CRM token elsewhere',
    cadence: { kind: 'interval', every: '5m' },
    target: {
      type: 'http',
      url: 'https://collector.example.net/in',
      headers: { authorization: { secretEnv: 'PACER_SECRET_CRM' } },
    },
  }),
  'broken.json': JSON.stringify({
    id: 'broken',
    name: '',
    cadence: { kind: 'interval', every: '5 min' },
    target: { type: 'http', url: 'ftp://x' },
  }),
};

/**
 * Runs the CLI in-process. `openContext` refuses by default: these invocations must fail or
 * finish before reaching a project. `realContext` uses the real one for the checks it makes
 * before building any client (settings, project).
 */
async function pacer(
  args: string[],
  env: Record<string, string> = {},
  options: { realContext?: boolean } = {},
): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    readFile: (path) => {
      const text = files[path];
      if (text === undefined) {
        return Promise.reject(
          Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), {
            code: 'ENOENT',
          }),
        );
      }
      return Promise.resolve(text);
    },
    readStdin: () => Promise.resolve(files['nightly.yaml'] ?? ''),
    env: { GOOGLE_CLOUD_PROJECT: 'unit', ...env },
    clock: () => Date.parse('2026-06-20T08:30:00Z'),
    ...(options.realContext === true
      ? {}
      : {
          openContext: () => {
            throw new Error('this invocation should not have reached a project');
          },
        }),
  };
  const code = await runCli(args, io);
  return { code, stdout, stderr };
}

describe('bad usage', () => {
  it.each([
    [['nonsense'], "pacer: unknown command 'nonsense'"],
    [['schedules', 'list', '--bogus'], "pacer: unknown option '--bogus'"],
    [['schedules', 'list', '--limit', '0'], 'expected a whole number from 1 to 10000'],
    [['schedules', 'list', '--lane', 'urgent'], 'Allowed choices are high, medium, low'],
    [['schedules', 'show'], "missing required argument 'id'"],
    [['schedules', 'delete', 'nightly'], 'add --yes to confirm'],
    [['schedules', 'add'], 'give --file FILE, or the schedule as flags'],
    [
      ['schedules', 'add', '--file', 'nightly.yaml', '--every', '5m'],
      '--file cannot be combined with schedule flags (--every)',
    ],
    [['schedules', 'add', '--file', 'missing.yaml'], 'pacer: cannot read missing.yaml: ENOENT'],
    [['schedules', 'reconcile'], 'give a schedule id or --all (not both)'],
    [['schedules', 'reconcile', 'nightly', '--all'], 'give a schedule id or --all (not both)'],
  ])('pacer %j exits 2 with a message', async (args, message) => {
    const { code, stdout, stderr } = await pacer(args);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(message);
    expect(stderr).toMatch(/^pacer: /);
    expect(stderr).not.toMatch(/^\s+at /m);
  });

  it('points to the command’s help after a parse error', async () => {
    const { stderr } = await pacer(['schedules', 'list', '--bogus']);
    expect(stderr).toContain('(run "pacer schedules list --help" for usage)');
  });

  it('shows the help on stderr and exits 2 when no command is given', async () => {
    const { code, stderr } = await pacer([]);
    expect(code).toBe(2);
    expect(stderr).toContain('Usage: pacer [options] [command]');
  });

  it('exits 2 naming the variable when a setting in the environment is bad', async () => {
    const { code, stderr } = await pacer(
      ['status'],
      { PACER_CAP_HIGH: 'lots' },
      { realContext: true },
    );
    expect(code).toBe(2);
    expect(stderr).toContain('PACER_CAP_HIGH: expected a whole number from 0 to 10000, got "lots"');
  });

  it('exits 2 when no project is named', async () => {
    const { code, stderr } = await pacer(
      ['status'],
      { GOOGLE_CLOUD_PROJECT: '' },
      { realContext: true },
    );
    expect(code).toBe(2);
    expect(stderr).toBe(
      'pacer: no project: pass --project PROJECT_ID or set GOOGLE_CLOUD_PROJECT\n',
    );
  });

  it('prints every problem of an invalid schedule with its field path and writes nothing', async () => {
    const { code, stderr } = await pacer(['schedules', 'add', '--file', 'broken.json']);
    expect(code).toBe(2);
    expect(stderr.split('\n')).toEqual([
      'pacer: broken.json: 3 problems; nothing was written',
      '  cadence.every: "5 min" is not a duration (use 90s, 5m, 4h, 1d)',
      '  name: must not be empty',
      '  target.url: "ftp://x" is not an http or https URL',
      '',
    ]);
  });
});

describe('help and validate need no project', () => {
  it('prints help on stdout and exits 0', async () => {
    const { code, stdout } = await pacer(['schedules', 'add', '--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('--event-starts-at <time>');
  });

  it('validates a good file and describes each schedule', async () => {
    const { code, stdout } = await pacer(['schedules', 'validate', 'nightly.yaml']);
    expect(code).toBe(0);
    expect(stdout).toContain('nightly.yaml: 1 valid schedule');
    expect(stdout).toContain('nightly: cron "0 2 * * *" in Europe/Berlin');
  });

  it('validates stdin', async () => {
    const { code, stdout } = await pacer(['schedules', 'validate', '-', '--json']);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      valid: true,
      schedules: [{ id: 'nightly', cadence: expect.stringContaining('cron') as string }],
    });
  });

  it('refuses a handler that is not registered, at validate and at add, before any write', async () => {
    const problem = 'target.name: "exampel.echo" is not a registered handler (known: example.echo)';
    const validated = await pacer(['schedules', 'validate', 'typo.yaml']);
    expect(validated.code).toBe(2);
    expect(validated.stdout + validated.stderr).toContain(problem);
    const added = await pacer(['schedules', 'add', '--file', 'typo.yaml']);
    expect(added.code).toBe(2);
    expect(added.stdout + added.stderr).toContain(problem);
    const flags = await pacer([
      'schedules',
      'add',
      '--id',
      'typo',
      '--name',
      'typo',
      '--every',
      '5m',
      '--handler',
      'exampel.echo',
    ]);
    expect(flags.code).toBe(2);
    expect(flags.stdout + flags.stderr).toContain(problem);
  });

  it('refuses a secret sent to a host PACER_SECRET_HOSTS does not bind it to', async () => {
    const bound = { PACER_SECRET_HOSTS: 'PACER_SECRET_CRM:api.crm.example' };
    const { code, stdout, stderr } = await pacer(['schedules', 'validate', 'leaky.json'], bound);
    expect(code).toBe(2);
    expect(stdout + stderr).toContain(
      'target.headers.authorization: PACER_SECRET_CRM may only be sent to api.crm.example (PACER_SECRET_HOSTS), not collector.example.net',
    );
    // Unbound, the same file is valid; a malformed binding is a usage error of its own.
    expect((await pacer(['schedules', 'validate', 'leaky.json'])).code).toBe(0);
    const malformed = await pacer(['schedules', 'validate', 'leaky.json'], {
      PACER_SECRET_HOSTS: 'CRM:api.crm.example',
    });
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain(
      'PACER_SECRET_HOSTS: "CRM" is not a secret variable name (PACER_SECRET_…)',
    );
  });

  it('answers an invalid file with its problems as JSON and exit 2', async () => {
    const { code, stdout, stderr } = await pacer([
      '--json',
      'schedules',
      'validate',
      'broken.json',
    ]);
    expect(code).toBe(2);
    expect(stderr).toBe('');
    expect(JSON.parse(stdout)).toEqual({
      valid: false,
      problems: [
        'cadence.every: "5 min" is not a duration (use 90s, 5m, 4h, 1d)',
        'name: must not be empty',
        'target.url: "ftp://x" is not an http or https URL',
      ],
    });
  });
});
