/**
 * Runs a schedule's target: an http endpoint or a registered handler.
 */
import { PacerError } from '../errors.js';
import type { Target } from '../schedule/spec.js';
import type { SyncContext, SyncResult } from './context.js';
import { HANDLERS, type Handler } from './handlers/index.js';
import { syncHttp, type HttpSyncOptions } from './http-target.js';

export interface SyncerOptions extends HttpSyncOptions {
  handlers?: Readonly<Record<string, Handler>>;
}

export async function runSyncer(
  target: Target,
  context: SyncContext,
  options: SyncerOptions,
): Promise<SyncResult> {
  switch (target.type) {
    case 'http':
      return syncHttp(target, context, options);
    case 'handler': {
      const handlers = options.handlers ?? HANDLERS;
      const handler = Object.hasOwn(handlers, target.name) ? handlers[target.name] : undefined;
      if (handler === undefined) {
        throw new PacerError(
          'handler_unknown',
          `no handler is registered as "${target.name}" (known: ${Object.keys(handlers).join(', ') || 'none'})`,
          { handler: target.name },
        );
      }
      // A handler that ignores its signal still stops counting at the run time or the lease's
      // loss: the worker moves on (its promise is left to settle on its own).
      return (await untilAborted(handler(context), context.signal, target.name)) ?? {};
    }
  }
}

function untilAborted<T>(work: Promise<T>, signal: AbortSignal, name: string): Promise<T> {
  const reason = (): Error => {
    const cause: unknown = signal.reason;
    if (cause instanceof PacerError) return cause;
    return new PacerError('target_timeout', `handler "${name}" did not finish within its run time`);
  };
  if (signal.aborted) return Promise.reject(reason());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      reject(reason());
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
