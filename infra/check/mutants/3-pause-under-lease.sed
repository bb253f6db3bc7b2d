s|{ state: { status, error: null, specHash: hash, nextDueAt: live.until } },|{ state: { status, error: null, specHash: hash, nextDueAt: status === 'paused' ? null : live.until } },|
s|    if (!changed \&\& state.status === status \&\& state.nextDueAt === live.until) {|    if (!changed \&\& state.status === status \&\& state.nextDueAt === (status === 'paused' ? null : live.until)) {|
/^export function start(/,/^}/ s|^  if (!spec.enabled) {$|  if (!spec.enabled \&\& request.leaseMs < 0) {|
