s|^  if (lease.kind === 'planned' \&\& now < lease.dueAt) {$|  if (lease.kind === 'planned' \&\& now < lease.dueAt \&\& lease.attempt < 0) {|
