import { describe, expect, it } from 'vitest';
import { mergeBindings, parseBindingChanges } from '../../../infra/deploy/iam.js';

const A = 'serviceAccount:a@p.iam.gserviceaccount.com';
const B = 'serviceAccount:b@p.iam.gserviceaccount.com';
const ONLY_DB = { expression: 'resource.name == "projects/p/databases/(default)"', title: 't' };

describe('one IAM write for every missing binding', () => {
  it('adds what is missing to a policy, keeping its etag and other bindings', () => {
    const current = {
      version: 1,
      etag: 'BwX1',
      bindings: [{ role: 'roles/owner', members: ['user:me@example.com'] }],
    };
    const merged = mergeBindings(current, [
      { kind: 'add', role: 'roles/eventarc.eventReceiver', member: A },
      { kind: 'add', role: 'roles/eventarc.eventReceiver', member: B },
      { kind: 'add', role: 'roles/owner', member: A },
    ]);
    expect(merged.policy).toEqual({
      version: 1,
      etag: 'BwX1',
      bindings: [
        { role: 'roles/owner', members: ['user:me@example.com', A] },
        { role: 'roles/eventarc.eventReceiver', members: [A, B] },
      ],
    });
    expect(merged.changed).toEqual([
      `+ roles/eventarc.eventReceiver ${A}`,
      `+ roles/eventarc.eventReceiver ${B}`,
      `+ roles/owner ${A}`,
    ]);
    // The policy read is not changed in place.
    expect(current.bindings).toEqual([{ role: 'roles/owner', members: ['user:me@example.com'] }]);
  });

  it('changes nothing when every binding is there: no write', () => {
    const current = {
      etag: 'e',
      bindings: [
        { role: 'roles/datastore.user', members: [A], condition: ONLY_DB },
        { role: 'roles/run.invoker', members: [B] },
      ],
    };
    const merged = mergeBindings(current, [
      { kind: 'add', role: 'roles/datastore.user', member: A, condition: ONLY_DB },
      { kind: 'add', role: 'roles/run.invoker', member: B },
      { kind: 'remove', role: 'roles/datastore.user', member: A },
    ]);
    expect(merged.changed).toEqual([]);
  });

  it('keeps a conditional grant apart from an unconditional one, and makes the policy version 3', () => {
    const merged = mergeBindings({ bindings: [{ role: 'roles/datastore.user', members: [A] }] }, [
      { kind: 'add', role: 'roles/datastore.user', member: A, condition: ONLY_DB },
      { kind: 'remove', role: 'roles/datastore.user', member: A },
    ]);
    expect(merged.policy).toEqual({
      version: 3,
      bindings: [{ role: 'roles/datastore.user', members: [A], condition: ONLY_DB }],
    });
    expect(merged.changed).toEqual([
      `+ roles/datastore.user ${A} if ${ONLY_DB.expression}`,
      `- roles/datastore.user ${A}`,
    ]);
  });

  it('removes grants with their condition, dropping bindings left empty', () => {
    const current = {
      bindings: [
        { role: 'roles/datastore.user', members: [A, B], condition: ONLY_DB },
        { role: 'roles/eventarc.eventReceiver', members: [A] },
      ],
    };
    const merged = mergeBindings(current, [
      { kind: 'remove', role: 'roles/datastore.user', member: A, condition: ONLY_DB },
      { kind: 'remove', role: 'roles/eventarc.eventReceiver', member: A },
      { kind: 'remove', role: 'roles/eventarc.eventReceiver', member: B },
    ]);
    expect(merged.policy.bindings).toEqual([
      { role: 'roles/datastore.user', members: [B], condition: ONLY_DB },
    ]);
    expect(merged.changed).toHaveLength(2);
  });

  it('starts from an empty policy when there is none (a new resource, a dry run)', () => {
    const merged = mergeBindings(null, [{ kind: 'add', role: 'roles/run.invoker', member: A }]);
    expect(merged.policy).toEqual({ bindings: [{ role: 'roles/run.invoker', members: [A] }] });
  });

  it('reads the changes the deploy script writes, and refuses a malformed line', () => {
    const text = [
      `add\troles/run.invoker\t${A}`,
      `add\troles/datastore.user\t${A}\t${ONLY_DB.expression}\tt\tonly pacer's database`,
      `remove\troles/datastore.user\t${A}`,
      '',
    ].join('\n');
    expect(parseBindingChanges(text)).toEqual([
      { kind: 'add', role: 'roles/run.invoker', member: A },
      {
        kind: 'add',
        role: 'roles/datastore.user',
        member: A,
        condition: { ...ONLY_DB, description: "only pacer's database" },
      },
      { kind: 'remove', role: 'roles/datastore.user', member: A },
    ]);
    expect(() => parseBindingChanges(`grant\troles/x\t${A}`)).toThrow(
      /binding change 1: expected add\|remove/,
    );
    expect(() => parseBindingChanges('add\troles/x')).toThrow(/binding change 1/);
  });
});
