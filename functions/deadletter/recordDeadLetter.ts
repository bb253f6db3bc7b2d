/**
 * `recordDeadLetter`: fed by the dead-letter topic's push subscription. Records each dead
 * letter once and releases its lease if it is still the one that failed.
 */
import { cloudEvent, type CloudEvent } from '@google-cloud/functions-framework';
import { systemClock } from '../clock.js';
import { runtime } from '../runtime.js';
import { validationFor } from '../schedule/spec.js';
import { FirestoreStore } from '../store/firestore.js';
import { DEAD_LETTER_FUNCTION } from '../topology.js';
import { recordDeadLetter, type DeadLetterDeps } from './record.js';

let deps: DeadLetterDeps | undefined;

cloudEvent(DEAD_LETTER_FUNCTION, async (event: CloudEvent<unknown>) => {
  if (deps === undefined) {
    const { firestore, settings, logger } = runtime(DEAD_LETTER_FUNCTION);
    deps = {
      store: new FirestoreStore(firestore, validationFor(settings)),
      settings,
      logger,
      clock: systemClock,
    };
  }
  await recordDeadLetter(deps, event);
});
