s|{ state: { status, error: null, specHash: hash, nextDueAt: live.until, ...noteFields } },|{ state: { status, error: null, specHash: hash, nextDueAt: status === 'paused' ? null : live.until, ...noteFields } },|
s|    if (!changed \&\& !staleNote \&\& state.status === status \&\& state.nextDueAt === live.until) {|    if (!changed \&\& !staleNote \&\& state.status === status \&\& state.nextDueAt === (status === 'paused' ? null : live.until)) {|
/^function runnableUnder(/,/^}/ s|^  if (!validation.spec.enabled) {$|  if (!validation.spec.enabled \&\& lease.attempt < 0) {|
