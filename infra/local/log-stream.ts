/**
 * The local stack's single log stream: every line from every process, tagged with the process.
 * In a terminal it is made readable (time, process, severity, event, message); piped, each line
 * is JSON with a `process` field, ready for `jq`.
 *
 * pacer's functions always log JSON for Cloud Logging; this is the only place that renders it
 * for people.
 */
import type { Writable } from 'node:stream';

export interface LogStreamOptions {
  out: Writable;
  /** Human-readable output (a terminal); JSON lines otherwise. */
  pretty: boolean;
  /** Also show the emulators' and functions-framework's own chatter. */
  verbose: boolean;
}

export interface LogStream {
  /** A line of output from `process` (JSON from pacer's functions, text from anything else). */
  line(process: string, text: string): void;
  /** A message from the stack itself. */
  say(message: string, fields?: Record<string, unknown>, severity?: Severity): void;
}

type Severity = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';

const COLOURS = {
  reset: '\u001b[0m',
  dim: '\u001b[2m',
  bold: '\u001b[1m',
  red: '\u001b[31m',
  green: '\u001b[32m',
  yellow: '\u001b[33m',
  cyan: '\u001b[36m',
  magenta: '\u001b[35m',
} as const;

const SEVERITY_COLOUR: Record<string, string> = {
  DEBUG: COLOURS.dim,
  INFO: COLOURS.green,
  NOTICE: COLOURS.green,
  WARNING: COLOURS.yellow,
  ERROR: COLOURS.red,
  CRITICAL: COLOURS.red,
};

/** Fields shown after the message in a terminal, when present. */
const SHOWN_FIELDS = ['scheduleId', 'lane', 'attempt', 'code', 'reason', 'durationMs', 'nextDueAt'];

/** Lines from the emulators and functions-framework worth showing without --verbose. */
const NOTEWORTHY = /error|exception|severe|warn|failed|refused|address already in use/i;

export function createLogStream(options: LogStreamOptions): LogStream {
  const write = (text: string) => options.out.write(`${text}\n`);
  const pretty = (process: string, severity: string, message: string) => {
    const time = new Date().toTimeString().slice(0, 8);
    const colour = SEVERITY_COLOUR[severity] ?? '';
    write(
      `${COLOURS.dim}${time}${COLOURS.reset} ${COLOURS.cyan}${process.padEnd(18)}${COLOURS.reset} ` +
        `${colour}${severity.padEnd(7)}${COLOURS.reset} ${message}`,
    );
  };

  return {
    line(process, text) {
      const parsed = parseJson(text);
      if (parsed === null) {
        if (!options.verbose && !NOTEWORTHY.test(text)) return;
        if (options.pretty)
          pretty(
            process,
            NOTEWORTHY.test(text) ? 'WARNING' : 'DEBUG',
            `${COLOURS.dim}${text}${COLOURS.reset}`,
          );
        else write(JSON.stringify({ process, message: text }));
        return;
      }
      if (!options.pretty) {
        write(JSON.stringify({ process, ...parsed }));
        return;
      }
      const severity = typeof parsed.severity === 'string' ? parsed.severity : 'INFO';
      const event =
        typeof parsed.event === 'string'
          ? `${COLOURS.magenta}${parsed.event}${COLOURS.reset} `
          : '';
      const extras = SHOWN_FIELDS.filter(
        (field) => parsed[field] !== undefined && parsed[field] !== null,
      )
        .map(
          (field) =>
            `${COLOURS.dim}${field}=${String(parsed[field] as string | number)}${COLOURS.reset}`,
        )
        .join(' ');
      const message = typeof parsed.message === 'string' ? parsed.message : '';
      pretty(process, severity, `${event}${message}${extras ? ` ${extras}` : ''}`);
    },
    say(message, fields = {}, severity = 'INFO') {
      if (options.pretty)
        pretty('pacer-local', severity, `${COLOURS.bold}${message}${COLOURS.reset}`);
      else write(JSON.stringify({ process: 'pacer-local', severity, message, ...fields }));
    },
  };
}

function parseJson(text: string): Record<string, unknown> | null {
  if (!text.startsWith('{')) return null;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : null;
  } catch {
    return null; // a line that only looks like JSON: shown as text
  }
}
