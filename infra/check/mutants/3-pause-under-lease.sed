s|{ state: { status, error: null, specHash: hash, nextDueAt: live.until } },|{ state: { status, error: null, specHash: hash, nextDueAt: status === 'paused' ? null : live.until } },|
s|    if (!changed \&\& state.status === status \&\& state.nextDueAt === live.until) {|    if (!changed \&\& state.status === status \&\& state.nextDueAt === (status === 'paused' ? null : live.until)) {|
/^function runnableUnder(/,/^}/ s|^  if (!validation.spec.enabled) {$|  if (!validation.spec.enabled \&\& lease.attempt < 0) {|
