s|  const keepsOwed = next.status === 'active' && owed !== null && owed <= now;|  const keepsOwed = next.status === 'active' \&\& owed !== null \&\& owed <= now \&\& options.force === true;|
