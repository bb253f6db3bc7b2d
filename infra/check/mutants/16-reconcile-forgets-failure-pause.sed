/^export function plannedValidation(/,/^}/ s|^  return validation.ok \&\& pausedByFailures(state)$|  return validation.ok \&\& pausedByFailures(state) \&\& state.status === 'finished'|
