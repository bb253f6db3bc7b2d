/**
 * The small decisions `infra/deploy.sh` leaves to Node, so that names and numbers come from
 * the topology and JSON is read by a JSON parser (node is required anyway; jq may not be
 * installed). Each subcommand reads files and prints lines; it never talks to Google Cloud.
 *
 *   plan                               the deploy plan as key=value lines (settings from env)
 *   env-file PROJECT                   the functions' --env-vars-file YAML
 *   secret SPEC                        NAME=SECRET[:VERSION] → PACER_SECRET_NAME=SECRET:VERSION
 *   monitoring DIR                     metrics|policies<TAB>file<TAB>name, one file a line
 *   missing-indexes INDEXES [LISTED]   gcloud flags, tab-separated, one index a line
 *   field-overrides INDEXES            collectionGroup<TAB>fieldPath, one a line
 *   field-actions INDEXES GROUP FIELD [DESCRIBED]   what the field still needs
 *   get FILE KEY                       a top-level value of a YAML or JSON file
 *   contains FILE ACTUAL               exit 0 when ACTUAL (JSON) holds everything FILE says
 *   ruleset-body RULES                 the Firebase Rules API ruleset body
 *   ruleset-holds RULES RULESET        exit 0 when RULESET (JSON) holds exactly RULES
 *   has-binding POLICY ROLE MEMBER [EXPRESSION]   exit 0 when the IAM policy (JSON) has it
 *   source-hash ROOT [EXTRA...]        a label value for the functions' sources and settings
 *   function-labels LISTED LABEL       name<TAB>label value<TAB>state<TAB>URL, one function a line
 *   job-label DESCRIBED LABEL          a label of the Cloud Run job (JSON), or -
 *   dashboards DIR                     file<TAB>displayName, one dashboard file a line
 *   dashboard-find LISTED DISPLAY      the names of the listed dashboards with that displayName
 *   dashboard-current LISTED NAME      the listed dashboard NAME, as JSON
 *   dashboard-file FILE LISTED NAME    FILE's dashboard as an update of NAME (name, etag)
 *   iam-merge POLICY CHANGES OUT       writes OUT, POLICY (JSON, or '') with the CHANGES (lines
 *                                      of add|remove<TAB>ROLE<TAB>MEMBER[<TAB>EXPRESSION<TAB>TITLE
 *                                      <TAB>DESCRIPTION]); prints each change made, none: no write
 *   metric-actions DIR [LISTED]        create|update|unchanged<TAB>file<TAB>name, one metric a line
 *   policy-actions DIR CHANNELS OUT [LISTED]   create|update|unchanged|duplicate<TAB>file
 *                                      <TAB>displayName<TAB>name or count, one policy a line;
 *                                      the file to send (in directory OUT) for a create or update
 *
 * Optional file arguments are left out in a dry run (nothing was described). Only plan,
 * env-file and secret load pacer's settings and topology (slow to load); the rest stay light,
 * as the script calls them once per resource.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { errorMessage, PacerError } from '../../functions/errors.js';
import {
  containsAll,
  DeployInputError,
  fieldActions,
  hasBinding,
  indexCreateArgs,
  missingIndexes,
  rulesetBody,
  rulesetHolds,
  type IndexFile,
} from './resources.js';
import { mergeBindings, parseBindingChanges } from './iam.js';
import { metricActions, policyActions } from './monitoring.js';

const read = (path: string): string => readFileSync(path, 'utf8');
const readJson = (path: string): unknown => JSON.parse(read(path));
/** YAML 1.2 reads JSON too. */
const readData = (path: string): unknown => parseYaml(read(path)) as unknown;
const optionalJson = (path: string | undefined): unknown =>
  path === undefined || path === '' ? null : readJson(path);

function required(args: readonly string[], count: number, usage: string): string[] {
  if (args.length < count) throw new DeployInputError(`usage: helper ${usage}`);
  return args as string[];
}

/** The YAML files of DIR, sorted, with the top-level `key` each names. */
function monitoringFiles(dir: string, key: string) {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => {
      const file = join(dir, f);
      return { file, name: topLevel(file, key), body: readData(file) as Record<string, unknown> };
    });
}

function topLevel(file: string, key: string): string {
  const value = (readData(file) as Record<string, unknown> | null)?.[key];
  if (typeof value !== 'string' || value === '') throw new DeployInputError(`${file}: no ${key}`);
  return value;
}

async function run(argv: readonly string[]): Promise<number> {
  const [command, ...args] = argv;
  const out = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  switch (command) {
    case 'plan': {
      const { planFromEnv, planLines } = await import('./plan.js');
      out(planLines(planFromEnv(process.env)).join('\n'));
      return 0;
    }
    case 'env-file': {
      const [project = ''] = required(args, 1, 'env-file PROJECT');
      const { functionEnvYaml } = await import('./plan.js');
      process.stdout.write(functionEnvYaml(process.env, project));
      return 0;
    }
    case 'secret': {
      const [spec = ''] = required(args, 1, 'secret NAME=SECRET[:VERSION]');
      const { secretRef } = await import('./plan.js');
      out(secretRef(spec));
      return 0;
    }
    case 'monitoring': {
      const [dir = ''] = required(args, 1, 'monitoring DIR');
      for (const [kind, key] of [
        ['metrics', 'name'],
        ['policies', 'displayName'],
      ] as const) {
        for (const file of readdirSync(join(dir, kind))
          .filter((f) => f.endsWith('.yaml'))
          .sort()) {
          const path = join(dir, kind, file);
          out(`${kind}\t${path}\t${topLevel(path, key)}`);
        }
      }
      return 0;
    }
    case 'missing-indexes': {
      const [file = '', listed] = required(args, 1, 'missing-indexes INDEXES [LISTED]');
      const wanted = readJson(file) as IndexFile;
      const existing = (optionalJson(listed) ?? []) as Parameters<typeof missingIndexes>[1];
      for (const index of missingIndexes(wanted, existing)) out(indexCreateArgs(index).join('\t'));
      return 0;
    }
    case 'field-overrides': {
      const [file = ''] = required(args, 1, 'field-overrides INDEXES');
      for (const override of (readJson(file) as IndexFile).fieldOverrides ?? []) {
        out(`${override.collectionGroup}\t${override.fieldPath}`);
      }
      return 0;
    }
    case 'field-actions': {
      const [file = '', group = '', field = '', described] = required(
        args,
        3,
        'field-actions INDEXES GROUP FIELD [DESCRIBED]',
      );
      const override = ((readJson(file) as IndexFile).fieldOverrides ?? []).find(
        (candidate) => candidate.collectionGroup === group && candidate.fieldPath === field,
      );
      if (override === undefined) {
        throw new DeployInputError(`${file} has no override for ${group}.${field}`);
      }
      out(
        fieldActions(override, optionalJson(described) as Parameters<typeof fieldActions>[1]).join(
          ' ',
        ),
      );
      return 0;
    }
    case 'get': {
      const [file = '', key = ''] = required(args, 2, 'get FILE KEY');
      out(topLevel(file, key));
      return 0;
    }
    case 'contains': {
      const [file = '', actual = ''] = required(args, 2, 'contains FILE ACTUAL');
      return containsAll(readJson(actual), readData(file)) ? 0 : 1;
    }
    case 'ruleset-body': {
      const [file = ''] = required(args, 1, 'ruleset-body RULES');
      out(JSON.stringify(rulesetBody(read(file))));
      return 0;
    }
    case 'ruleset-holds': {
      const [file = '', ruleset = ''] = required(args, 2, 'ruleset-holds RULES RULESET');
      return rulesetHolds(readJson(ruleset), read(file)) ? 0 : 1;
    }
    case 'has-binding': {
      const [file = '', role = '', member = '', expression = ''] = required(
        args,
        3,
        'has-binding POLICY ROLE MEMBER [EXPRESSION]',
      );
      return hasBinding(readJson(file), role, member, expression) ? 0 : 1;
    }
    case 'source-hash': {
      const [root = '', ...extra] = required(args, 1, 'source-hash ROOT [EXTRA...]');
      const { sourceHash } = await import('./sources.js');
      out(sourceHash(root, extra));
      return 0;
    }
    case 'function-labels': {
      const [file = '', label = ''] = required(args, 2, 'function-labels LISTED LABEL');
      const listed = readJson(file) as {
        name?: string;
        state?: string;
        labels?: Record<string, string>;
        serviceConfig?: { uri?: string };
      }[];
      for (const fn of listed) {
        const url = fn.serviceConfig?.uri ?? '-';
        out(
          `${fn.name?.split('/').pop() ?? ''}\t${fn.labels?.[label] ?? '-'}\t${fn.state ?? '-'}\t${url}`,
        );
      }
      return 0;
    }
    case 'job-label': {
      const [file = '', label = ''] = required(args, 2, 'job-label DESCRIBED LABEL');
      const job = readJson(file) as { metadata?: { labels?: Record<string, string> } };
      out(job.metadata?.labels?.[label] ?? '-');
      return 0;
    }
    case 'dashboards': {
      const [dir = ''] = required(args, 1, 'dashboards DIR');
      let files: string[];
      try {
        files = readdirSync(dir).filter((f) => f.endsWith('.json'));
      } catch {
        files = []; // no dashboards directory: no dashboards
      }
      for (const file of files.sort()) {
        const path = join(dir, file);
        out(`${path}\t${topLevel(path, 'displayName')}`);
      }
      return 0;
    }
    case 'dashboard-find': {
      const [listed = '', display = ''] = required(args, 2, 'dashboard-find LISTED DISPLAY_NAME');
      const all = (readJson(listed) ?? []) as { name?: string; displayName?: string }[];
      for (const dashboard of all.filter((d) => d.displayName === display)) {
        out(dashboard.name ?? '');
      }
      return 0;
    }
    case 'dashboard-file': {
      const [file = '', listed = '', name = ''] = required(
        args,
        3,
        'dashboard-file FILE LISTED NAME',
      );
      const all = readJson(listed) as { name?: string; etag?: string }[];
      const existing = all.find((d) => d.name === name);
      out(JSON.stringify({ ...(readJson(file) as object), name, etag: existing?.etag }, null, 2));
      return 0;
    }
    case 'dashboard-current': {
      const [listed = '', name = ''] = required(args, 2, 'dashboard-current LISTED NAME');
      const all = readJson(listed) as { name?: string }[];
      out(JSON.stringify(all.find((d) => d.name === name) ?? {}));
      return 0;
    }
    case 'iam-merge': {
      const [policy = '', changes = '', output = ''] = required(
        args,
        3,
        'iam-merge POLICY CHANGES OUT',
      );
      const merged = mergeBindings(
        optionalJson(policy) as Parameters<typeof mergeBindings>[0],
        parseBindingChanges(read(changes)),
      );
      writeFileSync(output, `${JSON.stringify(merged.policy, null, 2)}\n`);
      for (const line of merged.changed) out(line);
      return 0;
    }
    case 'metric-actions': {
      const [dir = '', listed] = required(args, 1, 'metric-actions DIR [LISTED]');
      const files = monitoringFiles(join(dir, 'metrics'), 'name');
      const existing = optionalJson(listed) as Record<string, unknown>[] | null;
      for (const { action, file, name } of metricActions(files, existing)) {
        out(`${action}\t${file}\t${name}`);
      }
      return 0;
    }
    case 'policy-actions': {
      const [dir = '', channels = '', output = '', listed] = required(
        args,
        3,
        'policy-actions DIR CHANNELS OUT [LISTED]',
      );
      const files = monitoringFiles(join(dir, 'policies'), 'displayName');
      const existing = optionalJson(listed) as Record<string, unknown>[] | null;
      const actions = policyActions(
        files,
        existing,
        channels.split(',').filter((channel) => channel !== ''),
      );
      for (const [i, action] of actions.entries()) {
        const sent = join(output, basename(files[i]?.file ?? '', '.yaml') + '.json');
        if (action.action === 'create' || action.action === 'update') {
          writeFileSync(sent, `${JSON.stringify(action.policy, null, 2)}\n`);
        }
        const detail =
          action.action === 'duplicate'
            ? String(action.count)
            : action.action === 'create'
              ? ''
              : action.existing;
        out(`${action.action}\t${sent}\t${action.name}\t${detail}`);
      }
      return 0;
    }
    default:
      throw new DeployInputError(`unknown helper command ${JSON.stringify(command ?? '')}`);
  }
}

try {
  process.exitCode = await run(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`deploy: ${errorMessage(error)}\n`);
  // Bad input (an option, a file, a pacer setting) is the operator's to fix: exit 2.
  const badInput =
    error instanceof DeployInputError ||
    (error instanceof PacerError && error.code === 'invalid_config');
  process.exitCode = badInput ? 2 : 1;
}
