/**
 * Indexing that the type checker can trust: with `noUncheckedIndexedAccess`, `items[i]` may be
 * `undefined`; where an index is known to be in range, this says so and fails loudly if not.
 */
export function itemAt<T>(items: readonly T[], index: number): T {
  const item = items[index];
  if (item === undefined) throw new RangeError(`no item at ${index} of ${items.length}`);
  return item;
}
