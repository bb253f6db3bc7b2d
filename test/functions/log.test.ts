import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, traceFields, traceparentFrom } from '../../functions/log.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { lines, destination };
}

describe('the Cloud Logging logger', () => {
  it('writes JSON with severity, message, the event name and trace correlation', () => {
    const { lines, destination } = capture();
    const logger = createLogger({
      level: 'info',
      pretty: false,
      service: 'planTick',
      projectId: 'race-timing',
      destination,
    });
    logger
      .child({
        scheduleId: 's1',
        ...traceFields('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'race-timing'),
      })
      .warn({ event: 'alert.high_deferred', deferred: 12 }, 'high lane deferred 12');
    logger.debug({ event: 'tick.summary' }, 'below the level');

    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      severity: 'WARNING',
      message: 'high lane deferred 12',
      event: 'alert.high_deferred',
      deferred: 12,
      fn: 'planTick',
      scheduleId: 's1',
      'logging.googleapis.com/trace':
        'projects/race-timing/traces/0af7651916cd43dd8448eb211c80319c',
      'logging.googleapis.com/spanId': 'b7ad6b7169203331',
      'logging.googleapis.com/trace_sampled': true,
      serviceContext: { service: 'planTick' },
    });
  });

  it('ignores a malformed traceparent', () => {
    expect(traceFields('garbage', 'p')).toEqual({});
    expect(traceFields(undefined, 'p')).toEqual({});
  });
});

describe('the caller’s trace', () => {
  it('is taken from traceparent, else from X-Cloud-Trace-Context', () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    expect(traceparentFrom({ traceparent, cloudTraceContext: 'ignored/1;o=1' })).toBe(traceparent);
    expect(
      traceparentFrom({
        cloudTraceContext: '0af7651916cd43dd8448eb211c80319c/13235353014750950193;o=1',
      }),
    ).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    expect(traceparentFrom({ cloudTraceContext: '0af7651916cd43dd8448eb211c80319c/1' })).toBe(
      '00-0af7651916cd43dd8448eb211c80319c-0000000000000001-00',
    );
    expect(traceparentFrom({ traceparent: 'nonsense' })).toBeUndefined();
  });
});
