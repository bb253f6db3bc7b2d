/**
 * Every deployed function, registered with functions-framework on import. Deploy one function
 * per entry point from this package (`--entry-point planTick`, `syncHigh`, ...); locally,
 * `functions-framework --target=planTick` serves one of them.
 */
import './planner/planTick.js';
import './worker/sync.js';
import './deadletter/recordDeadLetter.js';
import './reconciler/reconcileSchedule.js';
