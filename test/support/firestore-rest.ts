/**
 * Writing documents through the Firestore REST API with plain JSON values, as the Firebase
 * console or an operator's own code does: strings, numbers, booleans, maps, lists, and
 * timestamps marked `{ $timestamp: "..." }`.
 */

export type RestValue = Record<string, unknown>;

/** A plain JSON value → a Firestore REST value. */
export function restValue(value: unknown): RestValue {
  if (value === null || value === undefined) return { nullValue: null };
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { booleanValue: value };
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { integerValue: String(value) } : { doubleValue: value };
  }
  if (Array.isArray(value)) return { arrayValue: { values: value.map(restValue) } };
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if (typeof record.$timestamp === 'string') return { timestampValue: record.$timestamp };
    return { mapValue: { fields: restFields(record) } };
  }
  throw new Error(`no REST value for ${typeof value}`);
}

export function restFields(fields: Record<string, unknown>): Record<string, RestValue> {
  return Object.fromEntries(Object.entries(fields).map(([key, value]) => [key, restValue(value)]));
}

export interface RestTarget {
  host: string;
  projectId: string;
  /** `Bearer owner` is the emulator's admin; omit for an unauthenticated client. */
  authorization?: string;
}

function documentsUrl(target: RestTarget, path: string): string {
  return `http://${target.host}/v1/projects/${target.projectId}/databases/(default)/documents/${path}`;
}

function headers(target: RestTarget): Record<string, string> {
  return {
    'content-type': 'application/json',
    ...(target.authorization ? { authorization: target.authorization } : {}),
  };
}

/** Creates `collection/id` with `fields`. */
export async function restCreate(
  target: RestTarget,
  collection: string,
  id: string,
  fields: Record<string, unknown>,
): Promise<Response> {
  return fetch(`${documentsUrl(target, collection)}?documentId=${encodeURIComponent(id)}`, {
    method: 'POST',
    headers: headers(target),
    body: JSON.stringify({ fields: restFields(fields) }),
  });
}

/** Sets the given top-level fields of `path` (an update mask of exactly those fields). */
export async function restPatch(
  target: RestTarget,
  path: string,
  fields: Record<string, unknown>,
): Promise<Response> {
  const mask = Object.keys(fields)
    .map((field) => `updateMask.fieldPaths=${encodeURIComponent(field)}`)
    .join('&');
  return fetch(`${documentsUrl(target, path)}?${mask}`, {
    method: 'PATCH',
    headers: headers(target),
    body: JSON.stringify({ fields: restFields(fields) }),
  });
}

export async function restGet(target: RestTarget, path: string): Promise<Response> {
  return fetch(documentsUrl(target, path), { headers: headers(target) });
}
