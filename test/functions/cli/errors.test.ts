import { describe, expect, it } from 'vitest';
import { describeFailure, OperationError, UsageError } from '../../../functions/cli/errors.js';
import { PacerError } from '../../../functions/errors.js';

describe('how a failed command ends', () => {
  it('ends bad usage with exit 2 and lists its problems under the message', () => {
    expect(describeFailure(new UsageError('file.yaml: 2 problems', ['a: x', 'b: y']))).toEqual({
      exitCode: 2,
      lines: ['file.yaml: 2 problems', '  a: x', '  b: y'],
    });
  });

  it('treats a bad setting in the environment as bad usage', () => {
    const error = new PacerError(
      'invalid_config',
      'invalid settings:\n  PACER_CAP_HIGH: expected …',
    );
    expect(describeFailure(error)).toEqual({
      exitCode: 2,
      lines: ['invalid settings:', '  PACER_CAP_HIGH: expected …'],
    });
  });

  it('ends a failed operation, and any error pacer did not raise itself, with exit 1', () => {
    expect(describeFailure(new OperationError('no schedule "x"'))).toEqual({
      exitCode: 1,
      lines: ['no schedule "x"'],
    });
    const grpc = Object.assign(
      new Error('7 PERMISSION_DENIED: Missing or insufficient permissions.'),
      {
        code: 7,
      },
    );
    expect(describeFailure(grpc)).toEqual({
      exitCode: 1,
      lines: ['7 PERMISSION_DENIED: Missing or insufficient permissions.'],
    });
  });
});
