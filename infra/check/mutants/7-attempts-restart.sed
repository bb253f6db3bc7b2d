s|  const carried = state.lease?.kind === 'planned' ? state.lease.attempt : 0;|  const carried = state.lease?.kind === 'planned' ? 0 : 0;|
