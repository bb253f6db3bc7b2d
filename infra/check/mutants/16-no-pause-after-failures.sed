s|  const pauses = limit !== undefined \&\& deadLetters >= limit \&\& after.status === 'active';|  const pauses = limit !== undefined \&\& deadLetters >= limit \&\& after.status === 'finished';|
