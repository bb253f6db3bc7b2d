import { describe, expect, it } from 'vitest';
import { ERROR_CODES, isRetryable, PacerError, type ErrorCode } from '../../functions/errors.js';

describe('isRetryable', () => {
  it.each<[ErrorCode, boolean]>([
    ['target_network', true],
    ['target_timeout', true],
    ['target_unavailable', true],
    ['backend_unavailable', true],
    ['target_rejected', false],
    ['target_forbidden', false],
    ['target_secret_missing', false],
    ['handler_unknown', false],
    ['handler_rejected', false],
    ['invalid_message', false],
    ['invalid_schedule', false],
  ])('%s → %s', (code, retryable) => {
    expect(isRetryable(new PacerError(code, 'x'))).toBe(retryable);
  });

  it('retries what pacer did not classify: plain errors and thrown values', () => {
    expect(isRetryable(new Error('socket hang up'))).toBe(true);
    expect(isRetryable('boom')).toBe(true);
  });

  it('knows every code it can be given', () => {
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      expect(typeof isRetryable(new PacerError(code, 'x'))).toBe('boolean');
    }
  });
});
