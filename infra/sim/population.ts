/**
 * The schedules of a scenario: the inline ones as written, the generated ones drawn from their
 * distributions. Every one is validated by pacer's own `validateSchedule`, so the simulator
 * runs exactly the cadences pacer would accept. Pure and seeded.
 */
import {
  DEPLOYED,
  validateSchedule,
  type ScheduleSpec,
  type ValidationContext,
} from '../../functions/schedule/spec.js';
import { stream, standardNormal, uniform, type Rng } from './random.js';
import {
  PROVIDER_KEY,
  type Scenario,
  type ScheduleGroup,
  type TimeDistribution,
} from './scenario.js';

/** A schedule in the simulation. */
export interface SimSchedule {
  id: string;
  spec: ScheduleSpec;
  /** The document as an operator writes it (`schedules/{id}` without `state`). */
  document: Record<string, unknown>;
  /** When the schedule was written: its first due point follows from this. */
  createdAt: number;
  /** The `generate` group it came from, or `null` for an inline schedule. */
  group: string | null;
}

/** The target every generated schedule names: a handler only the simulator registers. */
export const SIMULATED_TARGET = { type: 'handler', name: 'simulated' } as const;

/** Schedules in a simulation are validated against the simulator's handlers. */
export const SIMULATED: ValidationContext = {
  ...DEPLOYED,
  handlers: new Set([...DEPLOYED.handlers, SIMULATED_TARGET.name]),
};

export type Population = { ok: true; schedules: SimSchedule[] } | { ok: false; problems: string[] };

/**
 * Builds the scenario's schedules. Each is created at a time drawn uniformly from the warm-up
 * (`[start - warmUp, start)`), or at `start` without a warm-up, so that schedules created
 * together do not all fall due in the same second.
 */
export function buildPopulation(scenario: Scenario): Population {
  const rng = stream(scenario.seed, 'population');
  const begin = scenario.start - scenario.warmUpMs;
  const createdAt = () =>
    scenario.warmUpMs > 0 ? Math.floor(uniform(rng, begin, scenario.start)) : scenario.start;
  const problems: string[] = [];
  const schedules: SimSchedule[] = [];

  scenario.schedules.forEach((inline, index) => {
    const document = { target: SIMULATED_TARGET, ...inline.document, ...providerKey(scenario) };
    const validation = validateSchedule(document, SIMULATED, inline.id);
    if (!validation.ok) {
      problems.push(...validation.problems.map((problem) => `schedules[${index}].${problem}`));
      return;
    }
    schedules.push({
      id: inline.id,
      spec: validation.spec,
      document,
      createdAt: createdAt(),
      group: null,
    });
  });

  scenario.generate.forEach((group, index) => {
    const made = generateGroup(group, rng);
    const first = made[0];
    if (first === undefined) return;
    const validation = validateSchedule(first.document, SIMULATED);
    if (!validation.ok) {
      problems.push(...validation.problems.map((problem) => `generate[${index}].${problem}`));
      return;
    }
    for (const { id, document: generated } of made) {
      const document = { ...generated, ...providerKey(scenario) };
      const spec = validateSchedule(document, SIMULATED, id);
      if (!spec.ok) throw new Error(`generated schedule ${id} is invalid: ${spec.problems[0]}`);
      schedules.push({ id, spec: spec.spec, document, createdAt: createdAt(), group: group.id });
    }
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, schedules };
}

function generateGroup(group: ScheduleGroup, rng: Rng) {
  const distribution = group.startsAt;
  const startTimes =
    distribution === null
      ? null
      : Array.from({ length: group.count }, (_, i) =>
          drawTime(distribution, i, group.count, rng),
        ).sort((a, b) => a - b);
  const width = String(group.count).length;
  return Array.from({ length: group.count }, (_, i) => {
    const startsAt = startTimes?.[i];
    return {
      id: `${group.id}-${String(i + 1).padStart(width, '0')}`,
      document: {
        name: `${group.id} ${i + 1}`,
        cadence:
          startsAt === undefined
            ? group.cadence
            : { ...group.cadence, startsAt: new Date(startsAt).toISOString() },
        target: SIMULATED_TARGET,
        ...(group.lane === null ? {} : { lane: group.lane }),
        ...(group.maxRunSeconds === null ? {} : { maxRunSeconds: group.maxRunSeconds }),
      },
    };
  });
}

/** The `index`-th of `count` times drawn from `distribution`. */
export function drawTime(
  distribution: TimeDistribution,
  index: number,
  count: number,
  rng: Rng,
): number {
  let time: number;
  switch (distribution.distribution) {
    case 'uniform':
      time = uniform(rng, distribution.from, distribution.to);
      break;
    case 'even':
      time = distribution.from + ((index + 0.5) * (distribution.to - distribution.from)) / count;
      break;
    case 'normal': {
      // Draws outside [from, to) are drawn again; a distribution almost wholly outside is clamped.
      time = Number.NaN;
      for (let tries = 0; tries < 100; tries++) {
        const drawn = distribution.mean + distribution.sdMs * standardNormal(rng);
        if (drawn >= distribution.from && drawn < distribution.to) {
          time = drawn;
          break;
        }
      }
      if (Number.isNaN(time)) {
        time = Math.min(distribution.to - 1, Math.max(distribution.from, distribution.mean));
      }
      break;
    }
  }
  const step = distribution.roundToMs;
  return step === null ? Math.floor(time) : Math.round(time / step) * step;
}

/** The provider key every schedule names when the scenario's provider limits its rate. */
function providerKey(scenario: Scenario): { rateLimitKey?: string } {
  return scenario.rateLimit === null ? {} : { rateLimitKey: PROVIDER_KEY };
}
