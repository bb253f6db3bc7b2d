/**
 * IAM policies the deploy writes whole: one `get-iam-policy`, then (only when a binding is
 * missing or one must go) one `set-iam-policy` with every change, instead of one
 * `add-iam-policy-binding` per binding (each a read and a write of the whole policy). Pure: the
 * policy read and the changes in, the policy to set and what changed out.
 */

/** A binding's IAM condition. */
export interface IamCondition {
  expression: string;
  title?: string;
  description?: string;
}

/** One binding of an IAM policy, as `get-iam-policy --format=json` prints it. */
export interface IamBinding {
  role: string;
  members: string[];
  condition?: IamCondition;
}

/** An IAM policy, as `get-iam-policy --format=json` prints it. */
export interface IamPolicy {
  version?: number;
  etag?: string;
  bindings?: IamBinding[];
  [field: string]: unknown;
}

/**
 * A change to a policy: grant `role` to `member`, or take the grant away, with exactly
 * `condition` (its expression), or without a condition when there is none.
 */
export interface BindingChange {
  kind: 'add' | 'remove';
  role: string;
  member: string;
  condition?: IamCondition;
}

/** What `mergeBindings` decided: the policy to set, and the changes it holds (none: no write). */
export interface MergedPolicy {
  policy: IamPolicy;
  changed: string[];
}

const sameCondition = (a: IamCondition | undefined, b: IamCondition | undefined): boolean =>
  (a?.expression ?? '') === (b?.expression ?? '');

/**
 * Applies `changes` to `current` (null: a resource with no policy yet, or a dry run). A grant
 * already there and a removal of what is not there change nothing; `changed` says, one line a
 * change, what the write would do. The etag read is kept (a concurrent change makes the write
 * fail rather than be lost); a policy with a condition is version 3, as IAM requires.
 */
export function mergeBindings(
  current: IamPolicy | null,
  changes: readonly BindingChange[],
): MergedPolicy {
  const bindings: IamBinding[] = (current?.bindings ?? []).map((binding) => ({
    ...binding,
    members: [...binding.members],
  }));
  const changed: string[] = [];
  for (const change of changes) {
    if (change.kind === 'add') {
      const holder = bindings.find(
        (binding) =>
          binding.role === change.role && sameCondition(binding.condition, change.condition),
      );
      if (holder?.members.includes(change.member)) continue;
      if (holder) holder.members.push(change.member);
      else {
        bindings.push({
          role: change.role,
          members: [change.member],
          ...(change.condition ? { condition: { ...change.condition } } : {}),
        });
      }
      const on = change.condition ? ` if ${change.condition.expression}` : '';
      changed.push(`+ ${change.role} ${change.member}${on}`);
    } else {
      const holder = bindings.find(
        (binding) =>
          binding.role === change.role && sameCondition(binding.condition, change.condition),
      );
      if (!holder?.members.includes(change.member)) continue;
      holder.members = holder.members.filter((member) => member !== change.member);
      const on = change.condition ? ` if ${change.condition.expression}` : '';
      changed.push(`- ${change.role} ${change.member}${on}`);
    }
  }
  const kept = bindings.filter((binding) => binding.members.length > 0);
  const conditional = kept.some((binding) => binding.condition !== undefined);
  const policy: IamPolicy = { ...(current ?? {}), bindings: kept };
  if (conditional) policy.version = 3;
  return { policy, changed };
}

/**
 * Reads the changes the deploy script writes, one a line, tab-separated:
 * `add|remove ROLE MEMBER [EXPRESSION TITLE DESCRIPTION]`.
 */
export function parseBindingChanges(text: string): BindingChange[] {
  const changes: BindingChange[] = [];
  for (const [number, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const [kind = '', role = '', member = '', expression = '', title = '', description = ''] =
      line.split('\t');
    if (role === '' || member === '' || (kind !== 'add' && kind !== 'remove')) {
      throw new Error(
        `binding change ${number + 1}: expected add|remove<TAB>ROLE<TAB>MEMBER, got ${JSON.stringify(line)}`,
      );
    }
    if (expression === '') changes.push({ kind, role, member });
    else {
      changes.push({
        kind,
        role,
        member,
        condition: {
          expression,
          ...(title ? { title } : {}),
          ...(description ? { description } : {}),
        },
      });
    }
  }
  return changes;
}
