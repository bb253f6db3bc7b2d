import { describe, expect, it } from 'vitest';
import { metricActions, policyActions } from '../../../infra/deploy/monitoring.js';

const metric = (name: string, filter: string) => ({
  file: `metrics/${name}.yaml`,
  name,
  body: { name, filter, metricDescriptor: { metricKind: 'DELTA', valueType: 'INT64' } },
});

describe('the monitoring part, decided from one list of each kind', () => {
  it('creates a metric not listed, updates one that differs, leaves an equal one alone', () => {
    const files = [metric('a', 'x'), metric('b', 'y'), metric('c', 'z')];
    const listed = [
      // As the API returns them: server fields added, defaults left out.
      { name: 'a', filter: 'x', metricDescriptor: { metricKind: 'DELTA', valueType: 'INT64' } },
      { name: 'b', filter: 'changed', metricDescriptor: { metricKind: 'DELTA' } },
      { name: 'other', filter: 'z' },
    ];
    expect(metricActions(files, listed).map((a) => `${a.action} ${a.name}`)).toEqual([
      'unchanged a',
      'update b',
      'create c',
    ]);
    expect(metricActions(files, null).map((a) => a.action)).toEqual(['create', 'create', 'create']);
  });

  it('knows a policy by its displayName, keeping its channels unless others are given', () => {
    const file = (name: string, threshold: number) => ({
      file: `policies/${name}.yaml`,
      name,
      body: {
        displayName: name,
        conditions: [{ conditionThreshold: { thresholdValue: threshold } }],
      },
    });
    const channel = 'projects/p/notificationChannels/1';
    const listed = [
      {
        name: 'projects/p/alertPolicies/1',
        displayName: 'same',
        notificationChannels: [channel],
        // thresholdValue 0 is left out by the API.
        conditions: [{ name: 'projects/p/alertPolicies/1/conditions/2', conditionThreshold: {} }],
      },
      {
        name: 'projects/p/alertPolicies/3',
        displayName: 'drifted',
        conditions: [{ conditionThreshold: { thresholdValue: 12345 } }],
      },
      { name: 'projects/p/alertPolicies/4', displayName: 'twice' },
      { name: 'projects/p/alertPolicies/5', displayName: 'twice' },
    ];
    const files = [file('same', 0), file('drifted', 5), file('new', 1), file('twice', 1)];
    const actions = policyActions(files, listed, []);
    expect(actions.map((a) => `${a.action} ${a.name}`)).toEqual([
      'unchanged same',
      'update drifted',
      'create new',
      'duplicate twice',
    ]);
    expect(actions[1]).toMatchObject({
      existing: 'projects/p/alertPolicies/3',
      policy: file('drifted', 5).body,
    });
    expect(actions[3]).toMatchObject({ count: 2 });
    // New channels are a change; the ones kept are not.
    expect(policyActions([file('same', 0)], listed, ['projects/p/notificationChannels/9'])).toEqual(
      [
        {
          action: 'update',
          name: 'same',
          existing: 'projects/p/alertPolicies/1',
          policy: {
            ...file('same', 0).body,
            notificationChannels: ['projects/p/notificationChannels/9'],
          },
        },
      ],
    );
    expect(policyActions(files, null, []).map((a) => a.action)).toEqual([
      'create',
      'create',
      'create',
      'create',
    ]);
  });
});
