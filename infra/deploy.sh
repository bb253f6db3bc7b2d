#!/usr/bin/env bash
# Deploys pacer to a Google Cloud project with gcloud, from the same topology description as the
# local stack (functions/topology.ts, read through dist/infra/deploy/helper.js). Idempotent:
# what is missing is created, what differs is updated, the rest is left alone. --dry-run prints
# every command in order and changes nothing. docs/operations.md is the reference.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: infra/deploy.sh --project PROJECT --region REGION [options]

Deploys pacer: APIs, service accounts and IAM, Firestore (database, indexes, TTL, rules),
the functions, the long-sync Cloud Run job, the Pub/Sub topics and push subscriptions, the
Cloud Scheduler tick job, log-based metrics and alert policies. Safe to run again after every
change.

Options:
  --project ID               Google Cloud project (default: $PACER_PROJECT, else $GOOGLE_CLOUD_PROJECT)
  --region REGION            region of the functions and the tick job (default: $PACER_REGION)
  --firestore-location LOC   where to create the Firestore database if there is none
                             (default: $PACER_FIRESTORE_LOCATION, else the region); an existing
                             database stays where it is and its location is used for the trigger
  --only PARTS               comma-separated parts to run, in this order whatever the order given:
                             apis, accounts, firestore, functions, jobs, pubsub, pubsub-iam,
                             tick, monitoring (default: all)
  --settings-file FILE       pacer settings for the deployment, one PACER_NAME=value a line
                             (# comments); they override the same variables in the environment
  --secret NAME=SECRET_ID[:VERSION]
                             give the workers PACER_SECRET_NAME from Secret Manager (repeatable;
                             VERSION defaults to latest)
  --secrets-file FILE        the same, one NAME=SECRET_ID[:VERSION] a line (# comments)
  --notification-channels C1,C2
                             notification channels for the alert policies (ids or full names);
                             without it, channels an existing policy has are kept
  --build-service-account EMAIL
                             service account Cloud Build uses to build the functions
  --push-endpoint-base URL   push to URL/FUNCTION instead of each function's own URL (tests
                             against the Pub/Sub emulator)
  --ingress internal-only|all
                             the functions' network ingress (default: internal-only: only
                             Cloud Scheduler, Eventarc and Pub/Sub of this project reach them;
                             docs/operations.md); IAM still requires each caller's OIDC token
  --dry-run                  print every command in order, run none (read-only checks
                             included; everything is treated as missing)
  --skip-build               use dist/ as built (npm run build) instead of building first
  -h, --help                 this help

pacer settings (PACER_CAP_HIGH, PACER_INFLIGHT_HIGH, ...) set in the environment are validated,
deployed as the functions' environment and size the deployment (max instances per lane,
maxDeliveryAttempts, the planner's timeout).
EOF
}

die() {
  printf 'deploy: %s\n' "$*" >&2
  exit 1
}
usage_error() {
  printf 'deploy: %s\n(run "infra/deploy.sh --help" for usage)\n' "$*" >&2
  exit 2
}

if [ "${BASH_VERSINFO[0]}" -lt 4 ] || { [ "${BASH_VERSINFO[0]}" -eq 4 ] && [ "${BASH_VERSINFO[1]}" -lt 4 ]; }; then
  die "needs bash 4.4 or later (this is $BASH_VERSION)"
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

ALL_PARTS=(apis accounts firestore functions jobs pubsub pubsub-iam tick monitoring)
APIS=(
  cloudfunctions.googleapis.com run.googleapis.com cloudbuild.googleapis.com
  artifactregistry.googleapis.com eventarc.googleapis.com pubsub.googleapis.com
  firestore.googleapis.com firebaserules.googleapis.com cloudscheduler.googleapis.com
  secretmanager.googleapis.com logging.googleapis.com monitoring.googleapis.com
  iam.googleapis.com cloudresourcemanager.googleapis.com
)
RUNTIME=nodejs22
INDEXES=infra/firestore.indexes.json
RULES=infra/firestore.rules
HELPER=(node dist/infra/deploy/helper.js)
PACER=(node dist/functions/cli/main.js)
DATABASE='(default)'

project=${PACER_PROJECT:-${GOOGLE_CLOUD_PROJECT:-}}
region=${PACER_REGION:-}
firestore_location=${PACER_FIRESTORE_LOCATION:-}
only=""
secret_specs=()
secrets_file=""
settings_file=""
notification_channels=""
build_service_account=""
push_endpoint_base=""
ingress=internal-only
dry_run=false
skip_build=false

value_of() {
  # value_of OPTION "$@": the option's value, from --opt=value or the next argument.
  if [ $# -lt 2 ] || [ -z "$2" ]; then usage_error "$1 needs a value"; fi
  printf '%s' "$2"
}

while [ $# -gt 0 ]; do
  option=$1
  value=""
  case $option in
    --*=*)
      value=${option#*=}
      option=${option%%=*}
      [ -n "$value" ] || usage_error "$option needs a value"
      shift
      ;;
    --project | --region | --firestore-location | --only | --secret | --secrets-file | \
      --settings-file | --notification-channels | --build-service-account | --push-endpoint-base | \
      --ingress)
      value=$(value_of "$@")
      shift 2
      ;;
    *) shift ;;
  esac
  case $option in
    --project) project=$value ;;
    --region) region=$value ;;
    --firestore-location) firestore_location=$value ;;
    --only) only=$value ;;
    --secret) secret_specs+=("$value") ;;
    --secrets-file) secrets_file=$value ;;
    --settings-file) settings_file=$value ;;
    --notification-channels) notification_channels=$value ;;
    --build-service-account) build_service_account=$value ;;
    --push-endpoint-base) push_endpoint_base=${value%/} ;;
    --ingress)
      case $value in
        internal-only | all) ingress=$value ;;
        *) usage_error "--ingress: expected internal-only or all, got \"$value\"" ;;
      esac
      ;;
    --dry-run) dry_run=true ;;
    --skip-build) skip_build=true ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) usage_error "unknown option $option" ;;
  esac
done

[ -n "$project" ] || usage_error "no project: pass --project or set PACER_PROJECT or GOOGLE_CLOUD_PROJECT"

parts=()
if [ -z "$only" ]; then
  parts=("${ALL_PARTS[@]}")
else
  IFS=',' read -r -a wanted <<<"$only"
  for part in "${wanted[@]}"; do
    known=false
    for candidate in "${ALL_PARTS[@]}"; do
      if [ "$part" = "$candidate" ]; then known=true; fi
    done
    $known || usage_error "--only: unknown part \"$part\" (parts: ${ALL_PARTS[*]})"
  done
  for candidate in "${ALL_PARTS[@]}"; do
    for part in "${wanted[@]}"; do
      if [ "$part" = "$candidate" ]; then
        parts+=("$candidate")
        break
      fi
    done
  done
fi
runs() {
  local part
  for part in "${parts[@]}"; do
    if [ "$part" = "$1" ]; then return 0; fi
  done
  return 1
}

if [ -z "$region" ]; then
  for part in firestore functions jobs tick; do
    if runs "$part"; then usage_error "no region (the $part part needs one): pass --region or set PACER_REGION"; fi
  done
  if runs pubsub && [ -z "$push_endpoint_base" ]; then
    usage_error "no region (the pubsub part looks up the functions' URLs): pass --region or set PACER_REGION"
  fi
fi

if [ -n "$secrets_file" ]; then
  [ -r "$secrets_file" ] || usage_error "--secrets-file $secrets_file cannot be read"
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%%#*}
    line=${line//[[:space:]]/}
    if [ -n "$line" ]; then secret_specs+=("$line"); fi
  done <"$secrets_file"
fi

settings_from_file=()
if [ -n "$settings_file" ]; then
  [ -r "$settings_file" ] || usage_error "--settings-file $settings_file cannot be read"
  number=0
  while IFS= read -r line || [ -n "$line" ]; do
    number=$((number + 1))
    line=${line%$'\r'}
    if [[ $line =~ ^[[:space:]]*(#|$) ]]; then continue; fi
    if ! [[ $line =~ ^[[:space:]]*(PACER_[A-Z0-9_]+)=(.*)$ ]]; then
      usage_error "$settings_file:$number: expected PACER_NAME=value, got: $line"
    fi
    name=${BASH_REMATCH[1]}
    if [[ $name == PACER_SECRET_* ]]; then
      usage_error "$settings_file:$number: $name is a secret: give it with --secret or --secrets-file (Secret Manager), never as a setting"
    fi
    export "$name=${BASH_REMATCH[2]}"
    settings_from_file+=("$name")
  done <"$settings_file"
fi

# Prompts would hang a deploy in CI; every command below is meant to run unattended.
export CLOUDSDK_CORE_DISABLE_PROMPTS=1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---------------------------------------------------------------------------------------------
# Printing and running commands

quote() {
  # Prints one argument so that a shell reads it back as it was.
  if [[ $1 =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then
    printf '%s' "$1"
  else
    printf "'%s'" "${1//\'/\'\\\'\'}"
  fi
}
show() {
  local line="" arg
  for arg in "$@"; do line+="${line:+ }$(quote "$arg")"; done
  if $dry_run; then printf '%s\n' "$line"; else printf '+ %s\n' "$line"; fi
}
note() { printf '# %s\n' "$*"; }

commands_run=0
# run CMD...: a command that changes something. Printed; run unless this is a dry run.
run() {
  show "$@"
  if $dry_run; then return 0; fi
  commands_run=$((commands_run + 1))
  "$@"
}

# run_iam CMD...: an IAM binding. A service account just created can take a few seconds to be
# visible to IAM, so a binding that names it is retried before giving up.
run_iam() {
  show "$@"
  if $dry_run; then return 0; fi
  commands_run=$((commands_run + 1))
  local attempt
  for attempt in 1 2 3 4 5 6; do
    if "$@" 2>"$work/iam.err"; then return 0; fi
    if ! grep -qiE 'does not exist|not found' "$work/iam.err" || [ "$attempt" -eq 6 ]; then
      cat "$work/iam.err" >&2
      die "failed: $(show "$@")"
    fi
    sleep $((attempt * 5))
  done
}

# run_unless_exists CMD...: a create that another deploy (or an identical resource listed a
# moment ago) may have done already; ALREADY_EXISTS is success.
run_unless_exists() {
  show "$@"
  if $dry_run; then return 0; fi
  commands_run=$((commands_run + 1))
  if "$@" 2>"$work/create.err"; then return 0; fi
  if grep -q 'ALREADY_EXISTS\|already exists' "$work/create.err"; then
    note "already exists"
    return 0
  fi
  cat "$work/create.err" >&2
  die "failed: $(show "$@")"
}

# check CMD...: a read-only command; its output is left in CHECK_OUT. Returns 0 when it answered
# and 3 when the resource does not exist. In a dry run it is printed, not run, and everything is
# treated as missing. Any other failure (permissions, network) stops the deploy: it never counts
# as "missing".
CHECK_OUT=""
check() {
  show "$@"
  CHECK_OUT=""
  if $dry_run; then return 3; fi
  local status=0
  CHECK_OUT=$("$@" 2>"$work/check.err") || status=$?
  if [ "$status" -eq 0 ]; then return 0; fi
  if grep -q 'NOT_FOUND' "$work/check.err"; then return 3; fi
  cat "$work/check.err" >&2
  die "failed: $(show "$@")"
}

# rest METHOD URL [BODY_FILE]: a Google API call gcloud has no command for (Firebase Rules),
# with gcloud's access token; the response is left in $work/rest.json. Returns 3 on 404.
ACCESS_TOKEN=""
rest() {
  local method=$1 url=$2 body=${3:-}
  local shown="curl -sS -X $method -H \"Authorization: Bearer \$(gcloud auth print-access-token)\""
  shown+=" -H 'x-goog-user-project: $project' -H 'Content-Type: application/json'"
  if [ -n "$body" ]; then shown+=" --data-binary @$(quote "$body")"; fi
  shown+=" $(quote "$url")"
  if $dry_run; then
    printf '%s\n' "$shown"
    return 3
  fi
  printf '+ %s\n' "$shown"
  if [ -z "$ACCESS_TOKEN" ]; then ACCESS_TOKEN=$(gcloud auth print-access-token); fi
  local args=(-sS -o "$work/rest.json" -w '%{http_code}' -X "$method"
    -H "Authorization: Bearer $ACCESS_TOKEN" -H "x-goog-user-project: $project"
    -H 'Content-Type: application/json')
  if [ -n "$body" ]; then args+=(--data-binary "@$body"); fi
  local status
  status=$(curl "${args[@]}" "$url")
  case $status in
    2??) return 0 ;;
    404) return 3 ;;
    *)
      cat "$work/rest.json" >&2
      die "HTTP $status from $method $url"
      ;;
  esac
}

# ---------------------------------------------------------------------------------------------
# The plan: names and numbers from functions/topology.ts, for the settings in this environment

if $skip_build; then
  [ -f dist/infra/deploy/helper.js ] || die "dist/ is not built: run npm run build, or leave out --skip-build"
else
  note "building (npm run build)"
  npm run -s build >&2
fi

declare -A T=()
status=0
plan_text=$(PACER_DEPLOY_INGRESS=$ingress "${HELPER[@]}" plan) || status=$?
case $status in
  0) ;;
  2) exit 2 ;; # a bad setting, named on stderr
  *) die "cannot read the topology (see above)" ;;
esac
while IFS='=' read -r key value; do
  T[$key]=$value
done <<<"$plan_text"

# Checked before anything changes: a bad --secret must not stop a deploy halfway.
secret_refs=()
for spec in ${secret_specs[@]+"${secret_specs[@]}"}; do
  ref=$("${HELPER[@]}" secret "$spec") || exit 2
  secret_refs+=("$ref")
done

sa_email() { printf '%s@%s.iam.gserviceaccount.com' "${T[sa.$1.id]}" "$project"; }

if $dry_run; then
  note "dry run: every command in order, none run; read-only checks are printed and everything"
  note "is treated as missing (the commands of a first deploy). Values known only when it runs"
  note "are shown as <...>."
fi
note "pacer deploy: project $project${region:+, region $region}; parts: ${parts[*]}"
if [ ${#settings_from_file[@]} -gt 0 ]; then note "settings from $settings_file: ${settings_from_file[*]}"; fi

# ---------------------------------------------------------------------------------------------
# Parts

PUBSUB_AGENT=""
pubsub_agent() {
  # Pub/Sub's service agent forwards dead letters and mints push and Eventarc OIDC tokens.
  if [ -n "$PUBSUB_AGENT" ]; then return 0; fi
  local number='<PROJECT_NUMBER>'
  if check gcloud projects describe "$project" --format='value(projectNumber)'; then
    number=$CHECK_OUT
  elif ! $dry_run; then
    die "project $project not found"
  fi
  run gcloud beta services identity create --service=pubsub.googleapis.com --project="$project" --format=none
  PUBSUB_AGENT="service-$number@gcp-sa-pubsub.iam.gserviceaccount.com"
}

part_apis() {
  note "--- apis"
  run gcloud services enable "${APIS[@]}" --project="$project"
}

part_accounts() {
  note "--- accounts: one service account per role, project roles, token minting for OIDC"
  local role email project_role
  for role in ${T[service_accounts]}; do
    email=$(sa_email "$role")
    if check gcloud iam service-accounts describe "$email" --project="$project" --format='value(email)'; then
      note "service account $email exists"
    else
      run gcloud iam service-accounts create "${T[sa.$role.id]}" --project="$project" \
        --display-name="${T[sa.$role.display_name]}"
    fi
    for project_role in ${T[sa.$role.project_roles]}; do
      run_iam gcloud projects add-iam-policy-binding "$project" --member="serviceAccount:$email" \
        --role="$project_role" --condition=None --format=none
    done
    for database_role in ${T[sa.$role.database_roles]}; do
      # Firestore's finest IAM resource is a database: the role holds on pacer's database only.
      run_iam gcloud projects add-iam-policy-binding "$project" --member="serviceAccount:$email" \
        --role="$database_role" --format=none \
        --condition="expression=resource.name == \"projects/$project/databases/$DATABASE\",title=pacer-database-only,description=only the pacer Firestore database"
      # A binding without the condition (an earlier deploy's) would hold on every database.
      if check gcloud projects get-iam-policy "$project" --flatten='bindings[].members' \
        --filter="bindings.role=$database_role AND bindings.members=serviceAccount:$email AND -bindings.condition:*" \
        --format='value(bindings.role)' && [ -n "$CHECK_OUT" ]; then
        run_iam gcloud projects remove-iam-policy-binding "$project" --member="serviceAccount:$email" \
          --role="$database_role" --condition=None --format=none
      fi
    done
  done
  pubsub_agent
  for role in push events; do
    run_iam gcloud iam service-accounts add-iam-policy-binding "$(sa_email "$role")" \
      --project="$project" --member="serviceAccount:$PUBSUB_AGENT" \
      --role=roles/iam.serviceAccountTokenCreator --condition=None --format=none
  done
}

DATABASE_LOCATION=""
database_location() {
  # The Firestore database's location (the reconciler's trigger must be there); creates the
  # database when there is none.
  if [ -n "$DATABASE_LOCATION" ]; then return 0; fi
  if check gcloud firestore databases describe --database="$DATABASE" --project="$project" --format='value(locationId)'; then
    DATABASE_LOCATION=$CHECK_OUT
    if [ -n "$firestore_location" ] && [ "$firestore_location" != "$DATABASE_LOCATION" ]; then
      note "the database is in $DATABASE_LOCATION; --firestore-location $firestore_location is ignored (a database cannot move)"
    fi
  else
    DATABASE_LOCATION=${firestore_location:-$region}
    run gcloud firestore databases create --database="$DATABASE" --location="$DATABASE_LOCATION" \
      --type=firestore-native --project="$project"
  fi
}

part_firestore() {
  note "--- firestore: database, composite indexes, field overrides (TTL), rules"
  database_location

  local listed="" args
  if check gcloud firestore indexes composite list --database="$DATABASE" --project="$project" --format=json; then
    printf '%s' "$CHECK_OUT" >"$work/indexes.json"
    listed="$work/indexes.json"
  fi
  local missing
  missing=$("${HELPER[@]}" missing-indexes "$INDEXES" ${listed:+"$listed"}) || die "cannot read $INDEXES"
  if [ -z "$missing" ]; then note "every composite index in $INDEXES exists"; fi
  while IFS=$'\t' read -r -a args; do
    if [ ${#args[@]} -eq 0 ]; then continue; fi
    # --async: an index builds for minutes; queries that need it fail until then.
    run_unless_exists gcloud firestore indexes composite create --database="$DATABASE" \
      --project="$project" --async "${args[@]}"
  done <<<"$missing"

  local overrides group field described actions action
  overrides=$("${HELPER[@]}" field-overrides "$INDEXES") || die "cannot read $INDEXES"
  while IFS=$'\t' read -r group field; do
    if [ -z "$group" ]; then continue; fi
    described=""
    if check gcloud firestore indexes fields describe "$field" --collection-group="$group" \
      --database="$DATABASE" --project="$project" --format=json; then
      printf '%s' "$CHECK_OUT" >"$work/field.json"
      described="$work/field.json"
    fi
    actions=$("${HELPER[@]}" field-actions "$INDEXES" "$group" "$field" ${described:+"$described"}) ||
      die "cannot read $INDEXES"
    if [ -z "$actions" ]; then note "$group.$field: exempt from indexing, TTL policy on"; fi
    for action in $actions; do
      case $action in
        disable-indexes)
          run gcloud firestore indexes fields update "$field" --collection-group="$group" \
            --database="$DATABASE" --disable-indexes --project="$project"
          ;;
        enable-ttl)
          run gcloud firestore fields ttls update "$field" --collection-group="$group" \
            --database="$DATABASE" --enable-ttl --async --project="$project"
          ;;
        *) die "unknown field action $action" ;;
      esac
    done
  done <<<"$overrides"

  deploy_rules
}

deploy_rules() {
  # gcloud has no command for Firestore rules: the Firebase Rules API, as the Firebase CLI does
  # (a ruleset, then the cloud.firestore release pointing at it).
  local api=https://firebaserules.googleapis.com/v1
  local release="projects/$project/releases/cloud.firestore"
  local released=false current
  if rest GET "$api/$release"; then
    released=true
    current=$("${HELPER[@]}" get "$work/rest.json" rulesetName)
    if rest GET "$api/$current" && "${HELPER[@]}" ruleset-holds "$RULES" "$work/rest.json"; then
      note "Firestore rules unchanged ($current)"
      return 0
    fi
  fi
  "${HELPER[@]}" ruleset-body "$RULES" >"$work/ruleset.json"
  local ruleset='<new ruleset>'
  rest POST "$api/projects/$project/rulesets" "$work/ruleset.json" || $dry_run ||
    die "could not create the ruleset"
  if ! $dry_run; then ruleset=$("${HELPER[@]}" get "$work/rest.json" name); fi
  if $released; then
    printf '{"release":{"name":"%s","rulesetName":"%s"}}\n' "$release" "$ruleset" >"$work/release.json"
    rest PATCH "$api/$release" "$work/release.json" || $dry_run || die "could not update $release"
  else
    printf '{"name":"%s","rulesetName":"%s"}\n' "$release" "$ruleset" >"$work/release.json"
    rest POST "$api/projects/$project/releases" "$work/release.json" || $dry_run ||
      die "could not create $release"
  fi
}

# env_file: the functions' and the job's environment (--env-vars-file), written once.
ENV_FILE=""
env_file() {
  if [ -n "$ENV_FILE" ]; then return; fi
  ENV_FILE="$work/env.yaml"
  # Long syncs start executions of the job in the functions' region unless told otherwise
  # (gen 2 functions are not told their region).
  PACER_JOB_REGION=${PACER_JOB_REGION:-$region} "${HELPER[@]}" env-file "$project" >"$ENV_FILE" ||
    usage_error "a pacer setting in the environment is invalid (see above)"
  note "the functions' and the job's environment (--env-vars-file):"
  sed 's/^/#   /' "$ENV_FILE"
}

# grant_secrets ROLE: the role's account may read every secret given with --secret.
grant_secrets() {
  local ref secret_id
  for ref in ${secret_refs[@]+"${secret_refs[@]}"}; do
    secret_id=${ref#*=}
    secret_id=${secret_id%:*}
    run_iam gcloud secrets add-iam-policy-binding "$secret_id" --project="$project" \
      --member="serviceAccount:$(sa_email "$1")" --role=roles/secretmanager.secretAccessor \
      --condition=None --format=none
  done
}

part_functions() {
  note "--- functions: gen 2, $RUNTIME, private, sized per function"
  env_file
  grant_secrets worker
  local fn
  for fn in ${T[functions]}; do deploy_function "$fn" "$ENV_FILE"; done
}

part_jobs() {
  local runner_role="projects/$project/roles/${T[job.runner_role]}"
  local job=${T[job.name]}
  # Where the workers will look for it (PACER_JOB_REGION, in the functions' environment).
  local job_region=${PACER_JOB_REGION:-$region}
  note "--- jobs: $job, the Cloud Run job that runs long syncs (runner: \"job\"), one task per attempt"
  env_file
  grant_secrets "${T[job.run_as]}"
  # Built from the same sources as the functions (buildpacks run gcp-build); pacer's lease, not
  # Cloud Run, decides what runs again, so a task is never retried.
  local args=(gcloud run jobs deploy "$job" --project="$project" --region="$job_region" --source=.
    --command="${T[job.command]}" --args="${T[job.args]}"
    --service-account="$(sa_email "${T[job.run_as]}")"
    --tasks=1 --max-retries=0 --task-timeout="${T[job.task_timeout]}s"
    --memory="${T[memory]}" --cpu="${T[cpu]}" --env-vars-file="$ENV_FILE")
  if [ ${#secret_refs[@]} -gt 0 ]; then
    args+=(--set-secrets="$(IFS=,; printf '%s' "${secret_refs[*]}")")
  else
    args+=(--clear-secrets)
  fi
  run "${args[@]}"
  # The workers may start executions of this job with overrides, and do nothing else with it.
  if check gcloud iam roles describe "${T[job.runner_role]}" --project="$project" --format='value(name)'; then
    run gcloud iam roles update "${T[job.runner_role]}" --project="$project" \
      --permissions="${T[job.runner_role_permissions]}" --format=none
  else
    run_unless_exists gcloud iam roles create "${T[job.runner_role]}" --project="$project" \
      --title="${T[job.runner_role_title]}" --permissions="${T[job.runner_role_permissions]}" \
      --stage=GA --format=none
  fi
  run_iam gcloud run jobs add-iam-policy-binding "$job" --project="$project" --region="$job_region" \
    --member="serviceAccount:$(sa_email "${T[job.runner]}")" --role="$runner_role" --format=none
}

deploy_function() {
  local fn=$1 env_file=$2 key="fn.$1"
  local args=(gcloud functions deploy "$fn" --gen2 --project="$project" --region="$region"
    --runtime="$RUNTIME" --source=. --ignore-file=infra/functions.gcloudignore --entry-point="$fn"
    --service-account="$(sa_email "${T[$key.run_as]}")" --no-allow-unauthenticated
    --ingress-settings="${T[$key.ingress]}"
    --timeout="${T[$key.timeout]}s" --concurrency="${T[$key.concurrency]}"
    --max-instances="${T[$key.max_instances]}" --memory="${T[memory]}" --cpu="${T[cpu]}"
    --env-vars-file="$env_file")
  case ${T[$key.trigger]} in
    http) args+=(--trigger-http) ;;
    firestore)
      database_location
      args+=(--trigger-event-filters="type=${T[$key.event_type]}"
        --trigger-event-filters="database=$DATABASE"
        --trigger-event-filters-path-pattern="document=${T[$key.document]}"
        --trigger-location="$DATABASE_LOCATION"
        --trigger-service-account="$(sa_email "${T[$key.invoker]}")")
      ;;
    *) die "unknown trigger ${T[$key.trigger]} for $fn" ;;
  esac
  if [ "${T[$key.retry]}" = true ]; then args+=(--retry); fi
  if [ "${T[$key.secrets]}" = true ]; then
    if [ ${#secret_refs[@]} -gt 0 ]; then
      args+=(--set-secrets="$(IFS=,; printf '%s' "${secret_refs[*]}")")
    else
      args+=(--clear-secrets)
    fi
  fi
  if [ -n "$build_service_account" ]; then args+=(--build-service-account="$build_service_account"); fi
  run "${args[@]}"
  run_iam gcloud functions add-invoker-policy-binding "$fn" --region="$region" --project="$project" \
    --member="serviceAccount:$(sa_email "${T[$key.invoker]}")"
}

FUNCTION_URL=""
function_url() {
  # The URL a push subscription or the tick job calls for function $1.
  if [ -n "$push_endpoint_base" ]; then
    FUNCTION_URL="$push_endpoint_base/$1"
  elif check gcloud functions describe "$1" --region="$region" --project="$project" --format='value(serviceConfig.uri)'; then
    FUNCTION_URL=$CHECK_OUT
  elif $dry_run; then
    FUNCTION_URL="<URL of $1>"
  else
    die "function $1 is not deployed in $region: run the functions part first"
  fi
}

part_pubsub() {
  note "--- pubsub: topics (retention) and push subscriptions (OIDC, ack deadline, retry, dead letters)"
  local topic sub
  for topic in ${T[topics]}; do ensure_topic "$topic"; done
  for sub in ${T[subscriptions]}; do ensure_subscription "$sub"; done
}

ensure_topic() {
  local topic=$1 retention="${T[retention_seconds]}s"
  if check gcloud pubsub topics describe "$topic" --project="$project" --format='value(messageRetentionDuration)'; then
    if [ "$CHECK_OUT" = "$retention" ]; then
      note "topic $topic unchanged"
    else
      run gcloud pubsub topics update "$topic" --project="$project" --message-retention-duration="$retention"
    fi
  else
    run gcloud pubsub topics create "$topic" --project="$project" --message-retention-duration="$retention"
  fi
}

SUBSCRIPTION_FIELDS='value(topic,pushConfig.pushEndpoint,pushConfig.oidcToken.serviceAccountEmail,pushConfig.oidcToken.audience,ackDeadlineSeconds,retryPolicy.minimumBackoff,retryPolicy.maximumBackoff,deadLetterPolicy.deadLetterTopic,deadLetterPolicy.maxDeliveryAttempts,messageRetentionDuration)'

ensure_subscription() {
  local sub=$1 key="sub.$1"
  local topic=${T[$key.topic]}
  function_url "${T[$key.function]}"
  local base=$FUNCTION_URL
  # functions-framework derives the CloudEvent's source from a /projects/P/topics/T path.
  local endpoint="$base/projects/$project/topics/$topic"
  local push_sa
  push_sa=$(sa_email push)
  local flags=(--push-endpoint="$endpoint" --push-auth-service-account="$push_sa"
    --push-auth-token-audience="$base" --ack-deadline="${T[$key.ack_deadline]}"
    --min-retry-delay="${T[$key.min_backoff]}s" --max-retry-delay="${T[$key.max_backoff]}s"
    --message-retention-duration="${T[retention_seconds]}s")
  local dead_letter_topic="" attempts=""
  if [ "${T[$key.dead_letter]}" = true ]; then
    dead_letter_topic="projects/$project/topics/${T[dead_letter_topic]}"
    attempts=${T[max_delivery_attempts]}
    flags+=(--dead-letter-topic="${T[dead_letter_topic]}" --max-delivery-attempts="$attempts")
  fi
  local want
  want=$(printf '%s\t' "projects/$project/topics/$topic" "$endpoint" "$push_sa" "$base" \
    "${T[$key.ack_deadline]}" "${T[$key.min_backoff]}s" "${T[$key.max_backoff]}s" \
    "$dead_letter_topic" "$attempts")
  want+="${T[retention_seconds]}s"
  if check gcloud pubsub subscriptions describe "$sub" --project="$project" --format="$SUBSCRIPTION_FIELDS"; then
    local current=$CHECK_OUT
    local current_topic=${current%%$'\t'*}
    if [ "$current_topic" != "projects/$project/topics/$topic" ]; then
      die "subscription $sub is attached to $current_topic, not $topic; a subscription cannot change topics: delete it (gcloud pubsub subscriptions delete $sub --project=$project) and deploy again"
    fi
    if [ "$current" = "$want" ]; then
      note "subscription $sub unchanged"
      return 0
    fi
    local fields
    IFS=$'\t' read -r -a fields <<<"$current"
    if [ -z "$dead_letter_topic" ] && [ -n "${fields[7]:-}" ]; then flags+=(--clear-dead-letter-policy); fi
    run gcloud pubsub subscriptions update "$sub" --project="$project" "${flags[@]}"
  else
    run gcloud pubsub subscriptions create "$sub" --project="$project" --topic="$topic" "${flags[@]}"
  fi
}

part_pubsub_iam() {
  note "--- pubsub-iam: who may publish where; what dead-lettering needs"
  local topic role sub
  for topic in ${T[topics]}; do
    for role in ${T[topic.$topic.publishers]}; do
      run_iam gcloud pubsub topics add-iam-policy-binding "$topic" --project="$project" \
        --member="serviceAccount:$(sa_email "$role")" --role=roles/pubsub.publisher --format=none
    done
  done
  pubsub_agent
  run_iam gcloud pubsub topics add-iam-policy-binding "${T[dead_letter_topic]}" --project="$project" \
    --member="serviceAccount:$PUBSUB_AGENT" --role=roles/pubsub.publisher --format=none
  for sub in ${T[subscriptions]}; do
    if [ "${T[sub.$sub.dead_letter]}" = true ]; then
      run_iam gcloud pubsub subscriptions add-iam-policy-binding "$sub" --project="$project" \
        --member="serviceAccount:$PUBSUB_AGENT" --role=roles/pubsub.subscriber --format=none
    fi
  done
}

part_tick() {
  note "--- tick: the Cloud Scheduler job that calls the planner every minute (pacer tick-job)"
  function_url "${T[planner_function]}"
  run "${PACER[@]}" --project="$project" tick-job ensure --region="$region" \
    --planner-url="$FUNCTION_URL" --service-account="$(sa_email tick)"
}

part_monitoring() {
  note "--- monitoring: log-based metrics and alert policies (infra/monitoring)"
  local listing kind file name status
  listing=$("${HELPER[@]}" monitoring infra/monitoring) || die "cannot read infra/monitoring"
  while IFS=$'\t' read -r kind file name; do
    case $kind in
      metrics) ensure_metric "$file" "$name" ;;
      policies) ensure_policy "$file" "$name" ;;
      *) die "cannot read infra/monitoring" ;;
    esac
  done <<<"$listing"
}

ensure_metric() {
  local file=$1 name=$2 status
  if check gcloud logging metrics describe "$name" --project="$project" --format=json; then
    printf '%s' "$CHECK_OUT" >"$work/metric.json"
    status=0
    "${HELPER[@]}" contains "$file" "$work/metric.json" || status=$?
    case $status in
      0) note "metric $name unchanged" ;;
      1) run gcloud logging metrics update "$name" --config-from-file="$file" --project="$project" ;;
      *) die "cannot compare $file" ;;
    esac
  else
    run gcloud logging metrics create "$name" --config-from-file="$file" --project="$project"
  fi
}

ensure_policy() {
  local file=$1 display=$2 names="" count policy status
  if check gcloud alpha monitoring policies list --project="$project" \
    --filter="displayName=\"$display\"" --format='value(name)'; then
    names=$CHECK_OUT
  fi
  count=$(printf '%s' "$names" | grep -c . || true)
  if [ "$count" -eq 0 ]; then
    local create=(gcloud alpha monitoring policies create --project="$project" --policy-from-file="$file")
    if [ -n "$notification_channels" ]; then create+=(--notification-channels="$notification_channels"); fi
    run "${create[@]}"
  elif [ "$count" -eq 1 ]; then
    policy=$names
    check gcloud alpha monitoring policies describe "$policy" --project="$project" --format=json ||
      die "alert policy $policy disappeared"
    printf '%s' "$CHECK_OUT" >"$work/policy.json"
    "${HELPER[@]}" policy-file "$file" "$notification_channels" "$work/policy.json" >"$work/policy-new.json" ||
      die "cannot read $file"
    status=0
    "${HELPER[@]}" contains "$work/policy-new.json" "$work/policy.json" || status=$?
    case $status in
      0) note "alert policy \"$display\" unchanged" ;;
      1) run gcloud alpha monitoring policies update "$policy" --project="$project" --policy-from-file="$work/policy-new.json" ;;
      *) die "cannot compare $file" ;;
    esac
  else
    die "$count alert policies are named \"$display\": delete all but one, then deploy again"
  fi
}

for part in "${parts[@]}"; do
  case $part in
    apis) part_apis ;;
    accounts) part_accounts ;;
    firestore) part_firestore ;;
    functions) part_functions ;;
    jobs) part_jobs ;;
    pubsub) part_pubsub ;;
    pubsub-iam) part_pubsub_iam ;;
    tick) part_tick ;;
    monitoring) part_monitoring ;;
  esac
done

if $dry_run; then
  note "dry run: nothing was changed"
else
  note "done: $commands_run changing commands run"
fi
