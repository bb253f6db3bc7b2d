/**
 * The decisions infra/deploy.sh leaves to Node about single resources: which composite indexes
 * and field overrides are missing, whether a described resource holds what its file says, the
 * alert policy to send, the Firestore ruleset. Pure, and light to load: the helper calls these
 * once per resource.
 */

/** A bad option or file given to the deploy: worded for the operator, exit 2. */
export class DeployInputError extends Error {
  override readonly name = 'DeployInputError';
}

// ---------------------------------------------------------------------------------------------
// Firestore indexes and field overrides (infra/firestore.indexes.json)

export interface IndexField {
  fieldPath: string;
  order?: 'ASCENDING' | 'DESCENDING';
  arrayConfig?: 'CONTAINS';
}

export interface CompositeIndex {
  collectionGroup: string;
  queryScope: 'COLLECTION' | 'COLLECTION_GROUP';
  fields: IndexField[];
}

export interface FieldOverride {
  collectionGroup: string;
  fieldPath: string;
  ttl?: boolean;
  indexes?: unknown[];
}

export interface IndexFile {
  indexes: CompositeIndex[];
  fieldOverrides?: FieldOverride[];
}

/** An index as `gcloud firestore indexes composite list --format=json` shows it. */
interface ListedIndex {
  name?: string;
  queryScope?: string;
  fields?: IndexField[];
}

function sameFields(wanted: IndexField[], listed: IndexField[]): boolean {
  // Firestore appends `__name__` to every composite index it reports.
  const trimmed =
    listed.at(-1)?.fieldPath === '__name__' && wanted.at(-1)?.fieldPath !== '__name__'
      ? listed.slice(0, -1)
      : listed;
  return (
    trimmed.length === wanted.length &&
    wanted.every((field, i) => {
      const other = trimmed[i];
      if (other === undefined) return false;
      return (
        other.fieldPath === field.fieldPath &&
        (other.order ?? null) === (field.order ?? null) &&
        (other.arrayConfig ?? null) === (field.arrayConfig ?? null)
      );
    })
  );
}

/** The composite indexes of `file` that `listed` does not have. */
export function missingIndexes(file: IndexFile, listed: readonly ListedIndex[]): CompositeIndex[] {
  return file.indexes.filter(
    (index) =>
      !listed.some(
        (existing) =>
          /\/collectionGroups\/([^/]+)\//.exec(existing.name ?? '')?.[1] ===
            index.collectionGroup &&
          existing.queryScope === index.queryScope &&
          sameFields(index.fields, existing.fields ?? []),
      ),
  );
}

/** `gcloud firestore indexes composite create` flags for one index. */
export function indexCreateArgs(index: CompositeIndex): string[] {
  return [
    `--collection-group=${index.collectionGroup}`,
    `--query-scope=${index.queryScope === 'COLLECTION' ? 'collection' : 'collection-group'}`,
    ...index.fields.map((field) =>
      field.arrayConfig === undefined
        ? `--field-config=field-path=${field.fieldPath},order=${(field.order ?? 'ASCENDING').toLowerCase()}`
        : `--field-config=field-path=${field.fieldPath},array-config=${field.arrayConfig.toLowerCase()}`,
    ),
  ];
}

/** A field as `gcloud firestore indexes fields describe --format=json` shows it. */
interface DescribedField {
  indexConfig?: { indexes?: unknown[]; usesAncestorConfig?: boolean };
  ttlConfig?: { state?: string };
}

export type FieldAction = 'disable-indexes' | 'enable-ttl';

/**
 * What a field override still needs, given the field as described (`null`: not described,
 * as in a dry run). An override with `indexes: []` exempts the field from single-field
 * indexing (a TTL timestamp need not be indexed); `ttl: true` is Firestore's TTL policy.
 */
export function fieldActions(override: FieldOverride, field: DescribedField | null): FieldAction[] {
  const actions: FieldAction[] = [];
  const exempt = Array.isArray(override.indexes) && override.indexes.length === 0;
  if (
    exempt &&
    (field === null ||
      field.indexConfig?.usesAncestorConfig === true ||
      (field.indexConfig?.indexes?.length ?? 0) > 0)
  ) {
    actions.push('disable-indexes');
  }
  const ttlState = field?.ttlConfig?.state;
  if (override.ttl === true && ttlState !== 'ACTIVE' && ttlState !== 'CREATING') {
    actions.push('enable-ttl');
  }
  return actions;
}

// ---------------------------------------------------------------------------------------------
// Comparing a resource as described with the file it is deployed from

/**
 * Whether `actual` holds everything `wanted` says: every key of an object (recursively), arrays
 * element by element with the same length, scalars equal (numbers compared as numbers, since
 * the APIs return some as strings). Keys only `actual` has (server-set fields) don't matter.
 */
export function containsAll(actual: unknown, wanted: unknown, key = ''): boolean {
  // The APIs leave fields at their defaults out (proto3 JSON): `thresholdValue: 0`, a label's
  // `valueType: STRING`, `false`, `""`, `[]`. Absent is what the file says then.
  if (actual === undefined && isDefault(wanted, key)) return true;
  if (Array.isArray(wanted)) {
    return (
      Array.isArray(actual) &&
      actual.length === wanted.length &&
      wanted.every((item, i) => containsAll(actual[i], item, key))
    );
  }
  if (typeof wanted === 'object' && wanted !== null) {
    if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return false;
    return Object.entries(wanted).every(([field, value]) =>
      containsAll((actual as Record<string, unknown>)[field], value, field),
    );
  }
  if (typeof wanted === 'number' && typeof actual === 'string') return Number(actual) === wanted;
  return actual === wanted;
}

/** Whether `value` is what proto3 JSON leaves out (field `key`'s default). */
function isDefault(value: unknown, key: string): boolean {
  if (value === 0 || value === false || value === '' || value === null) return true;
  if (Array.isArray(value) && value.length === 0) return true;
  return key === 'valueType' && value === 'STRING';
}

/** An IAM policy as `get-iam-policy --format=json` prints it. */
interface IamPolicy {
  bindings?: { role?: string; members?: string[]; condition?: { expression?: string } }[];
}

/**
 * Whether `policy` grants `role` to `member`: with exactly the condition `expression`, or
 * without a condition when `expression` is empty. (gcloud's add-iam-policy-binding always
 * writes the policy, even when the binding is there: the deploy reads it first.)
 */
export function hasBinding(
  policy: unknown,
  role: string,
  member: string,
  expression = '',
): boolean {
  return ((policy as IamPolicy | null)?.bindings ?? []).some(
    (binding) =>
      binding.role === role &&
      (binding.members ?? []).includes(member) &&
      (binding.condition?.expression ?? '') === expression,
  );
}

/**
 * An alert policy file ready for `policies create|update --policy-from-file`: the file's
 * policy with the notification channels given, or (when none are given) the channels the
 * existing policy has, so that an update never drops channels added in the console.
 */
export function policyWithChannels(
  policy: Record<string, unknown>,
  channels: readonly string[],
  existing: { notificationChannels?: string[] } | null,
): Record<string, unknown> {
  const kept = channels.length > 0 ? [...channels] : (existing?.notificationChannels ?? []);
  return kept.length > 0 ? { ...policy, notificationChannels: kept } : { ...policy };
}

// ---------------------------------------------------------------------------------------------
// Firestore rules (Firebase Rules API)

/** The ruleset body for `POST v1/projects/P/rulesets`. */
export function rulesetBody(rules: string): {
  source: { files: { name: string; content: string }[] };
} {
  return { source: { files: [{ name: 'firestore.rules', content: rules }] } };
}

/** Whether a ruleset as the API returns it holds exactly `rules`. */
export function rulesetHolds(ruleset: unknown, rules: string): boolean {
  const files = (ruleset as { source?: { files?: { content?: unknown }[] } }).source?.files ?? [];
  return files.length === 1 && files[0]?.content === rules;
}
