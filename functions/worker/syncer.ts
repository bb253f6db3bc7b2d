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
      return (await handler(context)) ?? {};
    }
  }
}
