/**
 * Named TypeScript handlers: targets of the form `{ type: "handler", name }`. To add one, write
 * a module like ./example.ts and register it here; the name must be stable (schedules refer to
 * it).
 */
import type { SyncContext, SyncResult } from '../context.js';
import { echo } from './example.js';

export type Handler = (context: SyncContext) => Promise<SyncResult | undefined>;

export const HANDLERS: Readonly<Record<string, Handler>> = {
  'example.echo': echo,
};
