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
                             included; everything is treated as missing, or, with
                             --destroy, as present)
  --destroy                  remove what the deploy creates (the parts chosen with --only, or
                             all), in reverse order: tick jobs (pacer-tick, pacer-tick-K),
                             dashboards, alert policies, metrics, subscriptions, topics,
                             functions, the job and its role, IAM bindings, service
                             accounts. The Firestore database stays
                             unless --delete-data; its rules and the APIs stay
  --delete-data              with --destroy: delete the Firestore database too (its data is
                             lost; its id cannot be reused for a while)
  --skip-build               use dist/ as built (npm run build) instead of building first
  -h, --help                 this help

Endpoints (tests against a local fake, private service connect): gcloud's own settings
(CLOUDSDK_API_ENDPOINT_OVERRIDES_<API>, e.g. ..._PUBSUB=https://pubsub-psc.example/) for
every API gcloud calls; PACER_FIREBASERULES_ENDPOINT (default
https://firebaserules.googleapis.com/) for the Firebase Rules API, called with curl;
PACER_SCHEDULER_ENDPOINT for the Cloud Scheduler client of the tick part (pacer tick-job).
Waiting: PACER_DEPLOY_WAIT_SECONDS (default 900) is the longest wait for a new database, a new
log-based metric (alert policies refuse it for up to 10 minutes) or the Eventarc service agent;
PACER_DEPLOY_POLL_SECONDS (default 15) the pause between tries. PACER_DEPLOY_PARALLEL
(default 4): how many independent gcloud commands (one per metric, service account, topic,
subscription; the deletes of --destroy) run at once.
Dashboards: every PACER_DASHBOARDS_DIR/*.json (default infra/monitoring/dashboards), known by
its displayName.

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
# Endpoints the deploy calls without gcloud (gcloud's own: CLOUDSDK_API_ENDPOINT_OVERRIDES_<API>).
RULES_ENDPOINT=${PACER_FIREBASERULES_ENDPOINT:-https://firebaserules.googleapis.com/}
# How long the deploy waits for what Google Cloud finishes after answering (a new database, a
# new log-based metric becoming usable in alert policies), and how often it looks again.
WAIT_SECONDS=${PACER_DEPLOY_WAIT_SECONDS:-900}
POLL_SECONDS=${PACER_DEPLOY_POLL_SECONDS:-15}
DASHBOARDS=${PACER_DASHBOARDS_DIR:-infra/monitoring/dashboards}
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
destroy=false
delete_data=false

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
    --destroy) destroy=true ;;
    --delete-data) delete_data=true ;;
    --skip-build) skip_build=true ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) usage_error "unknown option $option" ;;
  esac
done

[ -n "$project" ] || usage_error "no project: pass --project or set PACER_PROJECT or GOOGLE_CLOUD_PROJECT"

# Notification channels as full names, for a create and an update alike (gcloud expands bare ids
# only for --notification-channels, never in a policy file).
if [ -n "$notification_channels" ]; then
  expanded=""
  IFS=',' read -r -a channel_list <<<"$notification_channels"
  for channel in "${channel_list[@]}"; do
    if [ -z "$channel" ]; then continue; fi
    if [[ $channel != */* ]]; then channel="projects/$project/notificationChannels/$channel"; fi
    expanded+="${expanded:+,}$channel"
  done
  notification_channels=$expanded
fi

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

# Locations, checked before anything prints (the build, the plan): the region becomes the
# setting PACER_JOB_REGION unless one is given, whose rule (functions/config.ts) is this one.
REGION_RULE='^[a-z]+-[a-z]+[0-9]+$'
if [ -n "$region" ] && ! [[ $region =~ $REGION_RULE ]]; then
  usage_error "--region: expected a Google Cloud region such as europe-west1, got \"$region\""
fi
if [ -n "${PACER_JOB_REGION:-}" ] && ! [[ $PACER_JOB_REGION =~ $REGION_RULE ]]; then
  usage_error "PACER_JOB_REGION: expected a Google Cloud region such as europe-west1, got \"$PACER_JOB_REGION\""
fi
# A Firestore location: a region, or a multi-region such as eur3 or nam5.
if [ -n "$firestore_location" ] && ! [[ $firestore_location =~ ^([a-z]+-[a-z]+[0-9]+|[a-z]+[0-9]+)$ ]]; then
  usage_error "--firestore-location: expected a Firestore location such as europe-west1 or eur3, got \"$firestore_location\""
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

# Prompts would hang a deploy in CI; every command below is meant to run unattended. Each gcloud
# command is a Python start (a second or two of CPU): no update check, usage report or survey
# on top (unless set otherwise).
export CLOUDSDK_CORE_DISABLE_PROMPTS=1
export CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=${CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK:-1}
export CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=${CLOUDSDK_CORE_DISABLE_USAGE_REPORTING:-true}
export CLOUDSDK_SURVEY_DISABLE_PROMPTS=${CLOUDSDK_SURVEY_DISABLE_PROMPTS:-1}

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
  "$@" </dev/null
}

# spawn CMD...: a change independent of the others spawned with it (one metric, one service
# account), started in the background, at most PARALLEL at a time: every gcloud command is a
# Python start and a round trip, and a first deploy or a --destroy has dozens of them. Printed
# as it starts; its output comes when await_spawned collects it, in order. Unless it is a dry
# run.
PARALLEL=${PACER_DEPLOY_PARALLEL:-4}
[[ $PARALLEL =~ ^[1-9][0-9]*$ ]] || usage_error "PACER_DEPLOY_PARALLEL: expected a whole number from 1, got \"$PARALLEL\""
SPAWNED=()
SPAWNED_SHOWN=()
SPAWN_FAILED=""
spawned=0
spawn() {
  show "$@"
  if $dry_run; then return 0; fi
  commands_run=$((commands_run + 1))
  if [ ${#SPAWNED[@]} -ge "$PARALLEL" ]; then collect_oldest; fi
  spawned=$((spawned + 1))
  "$@" </dev/null >"$work/spawned-$spawned.out" 2>"$work/spawned-$spawned.err" &
  SPAWNED+=("$!:$spawned")
  SPAWNED_SHOWN+=("$(show "$@")")
}
collect_oldest() {
  local entry=${SPAWNED[0]} shown=${SPAWNED_SHOWN[0]} status=0
  SPAWNED=("${SPAWNED[@]:1}")
  SPAWNED_SHOWN=("${SPAWNED_SHOWN[@]:1}")
  wait "${entry%%:*}" || status=$?
  cat "$work/spawned-${entry#*:}.out"
  cat "$work/spawned-${entry#*:}.err" >&2
  if [ "$status" -ne 0 ] && [ -z "$SPAWN_FAILED" ]; then SPAWN_FAILED=$shown; fi
}
# await_spawned: waits for everything spawned; stops the deploy if any failed.
await_spawned() {
  while [ ${#SPAWNED[@]} -gt 0 ]; do collect_oldest; done
  if [ -n "$SPAWN_FAILED" ]; then die "failed: $SPAWN_FAILED"; fi
}

# run_iam CMD...: an IAM binding. A service account just created can take a few seconds to be
# visible to IAM, so a binding that names it is retried before giving up.
run_iam() {
  show "$@"
  if $dry_run; then return 0; fi
  commands_run=$((commands_run + 1))
  local attempt
  for attempt in 1 2 3 4 5 6; do
    if "$@" </dev/null 2>"$work/iam.err"; then return 0; fi
    if ! grep -qiE 'does not exist|not found' "$work/iam.err" || [ "$attempt" -eq 6 ]; then
      cat "$work/iam.err" >&2
      die "failed: $(show "$@")"
    fi
    sleep $((attempt * 5))
  done
}

# run_retry PATTERN CMD...: a change that can fail for a while after what it depends on was
# created (a log-based metric not yet known to alert policies, the Eventarc service agent's
# permissions propagating). Tried again every POLL_SECONDS, for up to WAIT_SECONDS, while its
# error matches PATTERN (grep -E); any other error stops the deploy.
run_retry() {
  local pattern=$1 waited=0
  shift
  show "$@"
  if $dry_run; then return 0; fi
  commands_run=$((commands_run + 1))
  while true; do
    if "$@" </dev/null 2>"$work/retry.err"; then
      cat "$work/retry.err" >&2
      return 0
    fi
    if ! grep -qE "$pattern" "$work/retry.err" || [ "$waited" -ge "$WAIT_SECONDS" ]; then
      cat "$work/retry.err" >&2
      die "failed: $(show "$@")"
    fi
    note "not ready yet ($(grep -m1 -oE "$pattern" "$work/retry.err")): again in ${POLL_SECONDS}s (waited ${waited}s of ${WAIT_SECONDS}s)"
    sleep "$POLL_SECONDS"
    waited=$((waited + POLL_SECONDS))
  done
}

# wait_for WHAT CMD...: waits (POLL_SECONDS apart, up to WAIT_SECONDS) until the read-only CMD
# finds what a create just started (a Firestore database exists only once its operation is
# done). Nothing to wait for in a dry run.
wait_for() {
  local what=$1 waited=0
  shift
  if $dry_run; then return 0; fi
  while true; do
    if "$@" >/dev/null 2>"$work/wait.err"; then return 0; fi
    if ! not_found "$work/wait.err"; then
      cat "$work/wait.err" >&2
      die "failed: $(show "$@")"
    fi
    if [ "$waited" -ge "$WAIT_SECONDS" ]; then die "$what still missing after ${WAIT_SECONDS}s"; fi
    note "waiting for $what (${waited}s so far)"
    sleep "$POLL_SECONDS"
    waited=$((waited + POLL_SECONDS))
  done
}

# read_policy CMD...: reads an IAM policy (a get-iam-policy --format=json) into a file named
# in POLICY_FILE; empty in a dry run or when the resource does not exist yet.
POLICY_FILE=""
policies_read=0
read_policy() {
  POLICY_FILE=""
  if check "$@"; then
    policies_read=$((policies_read + 1))
    POLICY_FILE="$work/policy-$policies_read.json"
    printf '%s' "$CHECK_OUT" >"$POLICY_FILE"
  fi
}

# CREATED[KIND:NAME]: what this run created (in a dry run: would create). A resource created
# moments ago has no IAM policy yet: nothing to read before binding on it.
declare -A CREATED=()

# read_policy_of KIND:NAME CMD...: read_policy, unless this run created the resource.
read_policy_of() {
  local created=$1
  shift
  if [ -n "${CREATED[$created]:-}" ]; then
    POLICY_FILE=""
    return 0
  fi
  read_policy "$@"
}

# apply_bindings CHANGES POLICY CMD...: one set-iam-policy for every binding change in the file
# CHANGES (lines of add|remove<TAB>ROLE<TAB>MEMBER[<TAB>EXPRESSION<TAB>TITLE<TAB>DESCRIPTION])
# against POLICY (a file from read_policy, or empty: no policy yet, or a dry run). CMD is the
# set-iam-policy command with {} where the policy file goes; it is run only when something
# changes (each change is printed), with the etag read, so a concurrent change is not lost.
merges=0
apply_bindings() {
  local changes=$1 policy=$2 merged changed arg
  shift 2
  merges=$((merges + 1))
  merged="$work/iam-policy-$merges.json"
  changed=$("${HELPER[@]}" iam-merge "$policy" "$changes" "$merged") || die "cannot merge the IAM bindings"
  if [ -z "$changed" ]; then
    note "every binding is in place"
    return 0
  fi
  printf '%s\n' "$changed" | sed 's/^/#   /'
  local command=()
  for arg in "$@"; do
    if [ "$arg" = "{}" ]; then command+=("$merged"); else command+=("$arg"); fi
  done
  run_iam "${command[@]}"
}

# bind POLICY ROLE MEMBER EXPRESSION CMD...: runs the add-iam-policy-binding CMD unless POLICY
# (a file from read_policy, or empty) already grants ROLE to MEMBER (with the condition
# EXPRESSION, or none when empty): gcloud's add-iam-policy-binding always rewrites the policy.
bind() {
  local policy=$1 role=$2 member=$3 expression=$4
  shift 4
  if [ -n "$policy" ] && "${HELPER[@]}" has-binding "$policy" "$role" "$member" "$expression"; then
    note "${member#*:} has $role"
    return 0
  fi
  run_iam "$@"
}

# run_unless_exists CMD...: a create that another deploy (or an identical resource listed a
# moment ago) may have done already; ALREADY_EXISTS is success.
run_unless_exists() {
  show "$@"
  if $dry_run; then return 0; fi
  commands_run=$((commands_run + 1))
  if "$@" </dev/null 2>"$work/create.err"; then return 0; fi
  if grep -q 'ALREADY_EXISTS\|already exists' "$work/create.err"; then
    note "already exists"
    return 0
  fi
  cat "$work/create.err" >&2
  die "failed: $(show "$@")"
}

# not_found FILE: whether a gcloud error (in FILE) says the resource does not exist. gcloud words
# it per client: NOT_FOUND (most), "ResponseError: status=[404]" (Cloud Functions), "instance
# [...] not found" (Resource Manager, Monitoring), "Cannot find job" (Cloud Run).
not_found() {
  grep -qE 'NOT_FOUND|status=\[404\]|instance \[[^]]*\] not found|Cannot find (job|service)' "$1"
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
  CHECK_OUT=$("$@" </dev/null 2>"$work/check.err") || status=$?
  if [ "$status" -eq 0 ]; then return 0; fi
  if not_found "$work/check.err"; then return 3; fi
  cat "$work/check.err" >&2
  die "failed: $(show "$@")"
}

# rest METHOD URL [BODY_FILE]: a Google API call gcloud has no command for (Firebase Rules),
# with gcloud's access token; the response is left in $work/rest.json. Returns 3 on 404.
ACCESS_TOKEN=""
rest() {
  local method=$1 url=$2 body=${3:-}
  local shown="curl -sS -X $method"
  if [ "${CLOUDSDK_AUTH_DISABLE_CREDENTIALS:-}" != true ]; then
    shown+=" -H \"Authorization: Bearer \$(gcloud auth print-access-token)\""
  fi
  shown+=" -H 'x-goog-user-project: $project' -H 'Content-Type: application/json'"
  if [ -n "$body" ]; then shown+=" --data-binary @$(quote "$body")"; fi
  shown+=" $(quote "$url")"
  if $dry_run; then
    printf '%s\n' "$shown"
    return 3
  fi
  printf '+ %s\n' "$shown"
  local args=(-sS -o "$work/rest.json" -w '%{http_code}' -X "$method"
    -H "x-goog-user-project: $project" -H 'Content-Type: application/json')
  # Without credentials (gcloud's auth/disable_credentials, as against a local fake), no token.
  if [ "${CLOUDSDK_AUTH_DISABLE_CREDENTIALS:-}" != true ]; then
    if [ -z "$ACCESS_TOKEN" ]; then ACCESS_TOKEN=$(gcloud auth print-access-token); fi
    args+=(-H "Authorization: Bearer $ACCESS_TOKEN")
  fi
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

if $delete_data && ! $destroy; then usage_error "--delete-data goes with --destroy"; fi

if $dry_run && ! $destroy; then
  note "dry run: every command in order, none run; read-only checks are printed and everything"
  note "is treated as missing (the commands of a first deploy). Values known only when it runs"
  note "are shown as <...>."
fi
$destroy || note "pacer deploy: project $project${region:+, region $region}; parts: ${parts[*]}"
if [ ${#settings_from_file[@]} -gt 0 ]; then note "settings from $settings_file: ${settings_from_file[*]}"; fi

# ---------------------------------------------------------------------------------------------
# Parts

PUBSUB_AGENT=""
pubsub_agent() {
  # Pub/Sub's service agent forwards dead letters and mints push and Eventarc OIDC tokens.
  # Created once per project: it holds roles/pubsub.serviceAgent on the project from then on.
  if [ -n "$PUBSUB_AGENT" ]; then return 0; fi
  local number='<PROJECT_NUMBER>'
  if check gcloud projects describe "$project" --format='value(projectNumber)'; then
    number=$CHECK_OUT
  elif ! $dry_run; then
    die "project $project not found"
  fi
  PUBSUB_AGENT="service-$number@gcp-sa-pubsub.iam.gserviceaccount.com"
  project_policy
  if [ -n "$PROJECT_POLICY" ] && "${HELPER[@]}" has-binding "$PROJECT_POLICY" \
    roles/pubsub.serviceAgent "serviceAccount:$PUBSUB_AGENT"; then
    note "Pub/Sub service agent $PUBSUB_AGENT exists"
  else
    run gcloud beta services identity create --service=pubsub.googleapis.com --project="$project" --format=none
  fi
}

# project_policy: the project's IAM policy, read once (PROJECT_POLICY: a file, or empty in a dry
# run). Bindings added later are not in it; nothing reads those again.
PROJECT_POLICY=""
project_policy_read=false
project_policy() {
  if $project_policy_read; then return 0; fi
  read_policy gcloud projects get-iam-policy "$project" --format=json
  PROJECT_POLICY=$POLICY_FILE
  project_policy_read=true
}

part_apis() {
  note "--- apis: enable those not enabled"
  local enabled="" missing=() api
  if check gcloud services list --enabled --project="$project" --format='value(config.name)'; then
    enabled=$CHECK_OUT
  fi
  for api in "${APIS[@]}"; do
    if ! grep -qxF "$api" <<<"$enabled"; then missing+=("$api"); fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    note "every API pacer needs is enabled"
    return 0
  fi
  run gcloud services enable "${missing[@]}" --project="$project"
}

# The account Cloud Build builds the functions and the job as (unless --build-service-account):
# a new project's default build account may lack what a functions build needs.
BUILD_SA_ID=pacer-build
BUILD_SA_ROLES=(roles/cloudbuild.builds.builder)
build_account() {
  # The full name gcloud requires for --build-service-account.
  local email=${build_service_account:-$BUILD_SA_ID@$project.iam.gserviceaccount.com}
  email=${email##*/serviceAccounts/}
  printf 'projects/%s/serviceAccounts/%s' "$project" "$email"
}

part_accounts() {
  note "--- accounts: one service account per role, project roles, token minting for OIDC"
  local role email listed=""
  if check gcloud iam service-accounts list --project="$project" --format='value(email)'; then
    listed=$CHECK_OUT
  fi
  local ids=() names=()
  for role in ${T[service_accounts]}; do
    ids+=("${T[sa.$role.id]}")
    names+=("${T[sa.$role.display_name]}")
  done
  if [ -z "$build_service_account" ]; then
    ids+=("$BUILD_SA_ID")
    names+=("pacer builds (Cloud Build, functions and job)")
  fi
  local i
  for i in "${!ids[@]}"; do
    email="${ids[$i]}@$project.iam.gserviceaccount.com"
    if grep -qxF "$email" <<<"$listed"; then
      note "service account $email exists"
    else
      spawn gcloud iam service-accounts create "${ids[$i]}" --project="$project" \
        --display-name="${names[$i]}"
      CREATED[sa:$email]=1
    fi
  done
  await_spawned
  # The project's roles: read once, written once with every missing binding (before the
  # Pub/Sub agent below changes the policy). Firestore's finest IAM resource is a database: its
  # roles hold on pacer's database only, and a binding without the condition (an earlier
  # deploy's) would hold on every database, so it goes.
  project_policy
  local bindings="$work/project-bindings"
  project_bindings add >"$bindings"
  apply_bindings "$bindings" "$PROJECT_POLICY" gcloud projects set-iam-policy "$project" {} --format=none
  pubsub_agent
  for role in push events; do
    read_policy_of "sa:$(sa_email "$role")" \
      gcloud iam service-accounts get-iam-policy "$(sa_email "$role")" --project="$project" --format=json
    bind "$POLICY_FILE" roles/iam.serviceAccountTokenCreator "serviceAccount:$PUBSUB_AGENT" "" \
      gcloud iam service-accounts add-iam-policy-binding "$(sa_email "$role")" \
      --project="$project" --member="serviceAccount:$PUBSUB_AGENT" \
      --role=roles/iam.serviceAccountTokenCreator --condition=None --format=none
  done
}

# project_bindings add|remove: the project roles of pacer's accounts, as binding changes for
# apply_bindings (with add, also the removal of an unconditional Firestore role).
DATABASE_ONLY_TITLE=pacer-database-only
DATABASE_ONLY_DESCRIPTION="only the pacer Firestore database"
project_bindings() {
  local kind=$1 role member project_role database_role condition
  condition="resource.name == \"projects/$project/databases/$DATABASE\""
  for role in ${T[service_accounts]}; do
    member="serviceAccount:$(sa_email "$role")"
    for project_role in ${T[sa.$role.project_roles]}; do
      printf '%s\t%s\t%s\n' "$kind" "$project_role" "$member"
    done
    for database_role in ${T[sa.$role.database_roles]}; do
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$database_role" "$member" "$condition" \
        "$DATABASE_ONLY_TITLE" "$DATABASE_ONLY_DESCRIPTION"
      printf 'remove\t%s\t%s\n' "$database_role" "$member"
    done
  done
  if [ -z "$build_service_account" ]; then
    member="serviceAccount:$BUILD_SA_ID@$project.iam.gserviceaccount.com"
    for project_role in "${BUILD_SA_ROLES[@]}"; do
      printf '%s\t%s\t%s\n' "$kind" "$project_role" "$member"
    done
  fi
}

DATABASE_LOCATION=""
database_location() {
  # The Firestore database's location (the reconciler's trigger must be there); creates the
  # database when there is none, and waits until it exists: the create's operation takes a
  # while (usually under a minute), and the database is NOT_FOUND until it is done.
  if [ -n "$DATABASE_LOCATION" ]; then return 0; fi
  if check gcloud firestore databases describe --database="$DATABASE" --project="$project" --format='value(locationId)'; then
    DATABASE_LOCATION=$CHECK_OUT
    if [ -n "$firestore_location" ] && [ "$firestore_location" != "$DATABASE_LOCATION" ]; then
      note "the database is in $DATABASE_LOCATION; --firestore-location $firestore_location is ignored (a database cannot move)"
    fi
  else
    DATABASE_LOCATION=${firestore_location:-$region}
    # ALREADY_EXISTS: an earlier deploy's create is still running.
    run_unless_exists gcloud firestore databases create --database="$DATABASE" --location="$DATABASE_LOCATION" \
      --type=firestore-native --project="$project"
    wait_for "the Firestore database $DATABASE" \
      gcloud firestore databases describe --database="$DATABASE" --project="$project" --format='value(name)'
  fi
}

part_firestore() {
  note "--- firestore: database, composite indexes, field overrides (index exemptions, TTL), rules"
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
    if [ -z "$actions" ]; then note "$group.$field: already as $INDEXES says (exempt from indexing)"; fi
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
  local api="${RULES_ENDPOINT%/}/v1"
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
    read_policy gcloud secrets get-iam-policy "$secret_id" --project="$project" --format=json
    bind "$POLICY_FILE" roles/secretmanager.secretAccessor "serviceAccount:$(sa_email "$1")" "" \
      gcloud secrets add-iam-policy-binding "$secret_id" --project="$project" \
      --member="serviceAccount:$(sa_email "$1")" --role=roles/secretmanager.secretAccessor \
      --condition=None --format=none
  done
}

part_functions() {
  note "--- functions: gen 2, $RUNTIME, private, sized per function"
  env_file
  grant_secrets worker
  function_labels
  local fn
  for fn in ${T[functions]}; do deploy_function "$fn" "$ENV_FILE"; done
}

# source_hash: SOURCE_HASH, the hash of the sources the build compiles (infra/deploy/sources.ts).
SOURCE_HASH=""
source_hash() {
  if [ -z "$SOURCE_HASH" ]; then SOURCE_HASH=$("${HELPER[@]}" source-hash .) || die "cannot hash the sources"; fi
}

# function_labels: DEPLOYED_FUNCTIONS, name<TAB>pacer-source label<TAB>state<TAB>URL of each
# function in the region, from one list (read again after a function is deployed).
DEPLOYED_FUNCTIONS=""
FUNCTIONS_LISTED=false
function_labels() {
  DEPLOYED_FUNCTIONS=""
  FUNCTIONS_LISTED=true
  if check gcloud functions list --regions="$region" --project="$project" --format=json; then
    printf '%s' "${CHECK_OUT:-[]}" >"$work/functions.json"
    DEPLOYED_FUNCTIONS=$("${HELPER[@]}" function-labels "$work/functions.json" "$SOURCE_LABEL") ||
      die "cannot read the functions listed"
  fi
}
SOURCE_LABEL=pacer-source

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
  # As for the functions: left alone when its sources and flags are what its label says.
  source_hash
  local hash current=""
  hash=$({ printf '%s\n' "$SOURCE_HASH" "${args[@]//$work/WORK}" "$(cat "$ENV_FILE")"; } | sha256sum | cut -c1-40)
  # (run jobs deploy has --labels only: the job's labels are the deploy's.)
  args+=(--labels="$SOURCE_LABEL=$hash")
  if check gcloud run jobs describe "$job" --project="$project" --region="$job_region" --format=json; then
    printf '%s' "$CHECK_OUT" >"$work/job.json"
    current=$("${HELPER[@]}" job-label "$work/job.json" "$SOURCE_LABEL")
  fi
  if [ "$current" = "$hash" ]; then
    note "job $job unchanged ($SOURCE_LABEL=$hash)"
  else
    run "${args[@]}"
    if [ -z "$current" ]; then CREATED[job:$job]=1; fi
  fi
  # The workers may start executions of this job with overrides, and do nothing else with it.
  if check gcloud iam roles describe "${T[job.runner_role]}" --project="$project" --format=json; then
    printf '%s' "$CHECK_OUT" >"$work/role.json"
    printf '{"title":"%s","includedPermissions":["%s"]}\n' "${T[job.runner_role_title]}" \
      "${T[job.runner_role_permissions]//,/\",\"}" >"$work/role-wanted.json"
  fi
  if [ -f "$work/role.json" ] && "${HELPER[@]}" contains "$work/role-wanted.json" "$work/role.json"; then
    note "custom role ${T[job.runner_role]} unchanged"
  elif [ -f "$work/role.json" ]; then
    run gcloud iam roles update "${T[job.runner_role]}" --project="$project" \
      --title="${T[job.runner_role_title]}" --permissions="${T[job.runner_role_permissions]}" --format=none
  else
    run_unless_exists gcloud iam roles create "${T[job.runner_role]}" --project="$project" \
      --title="${T[job.runner_role_title]}" --permissions="${T[job.runner_role_permissions]}" \
      --stage=GA --format=none
  fi
  local runner
  runner="serviceAccount:$(sa_email "${T[job.runner]}")"
  read_policy_of "job:$job" \
    gcloud run jobs get-iam-policy "$job" --project="$project" --region="$job_region" --format=json
  bind "$POLICY_FILE" "$runner_role" "$runner" "" \
    gcloud run jobs add-iam-policy-binding "$job" --project="$project" --region="$job_region" \
    --member="$runner" --role="$runner_role" --format=none
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
  args+=(--build-service-account="$(build_account)")
  # The function is left alone when its sources and every flag (settings included) are what
  # its label says it was deployed from: no upload, no build, no new revision.
  source_hash
  local hash current
  hash=$({ printf '%s\n' "$SOURCE_HASH" "${args[@]//$work/WORK}" "$(cat "$env_file")"; } | sha256sum | cut -c1-40)
  args+=(--update-labels="$SOURCE_LABEL=$hash")
  current=$(awk -F'\t' -v fn="$fn" '$1 == fn { print $2 "\t" $3 }' <<<"$DEPLOYED_FUNCTIONS")
  if [ -z "$current" ]; then CREATED[fn:$fn]=1; fi
  if [ "$current" = "$hash"$'\t'ACTIVE ]; then
    note "function $fn unchanged ($SOURCE_LABEL=$hash)"
  else
    # Deployed now: its URL may be new, so the functions are listed again before one is used.
    FUNCTIONS_LISTED=false
    if [ "${T[$key.trigger]}" = firestore ]; then
      # The first Eventarc trigger of a project can fail while its service agent's permissions
      # propagate (minutes).
      run_retry 'Eventarc Service Agent|eventarc-service-agent|Permission denied while using the Eventarc' "${args[@]}"
    else
      run "${args[@]}"
    fi
  fi
  local invoker
  invoker="serviceAccount:$(sa_email "${T[$key.invoker]}")"
  # add-invoker-policy-binding binds roles/run.invoker on the function's Cloud Run service.
  read_policy_of "fn:$fn" \
    gcloud run services get-iam-policy "$fn" --region="$region" --project="$project" --format=json
  bind "$POLICY_FILE" roles/run.invoker "$invoker" "" \
    gcloud functions add-invoker-policy-binding "$fn" --region="$region" --project="$project" \
    --member="$invoker"
}

FUNCTION_URL=""
function_url() {
  # The URL a push subscription or the tick job calls for function $1.
  if [ -n "$push_endpoint_base" ]; then
    FUNCTION_URL="$push_endpoint_base/$1"
    return 0
  fi
  if ! $FUNCTIONS_LISTED; then function_labels; fi
  FUNCTION_URL=$(awk -F'\t' -v fn="$1" '$1 == fn && $4 != "-" { print $4 }' <<<"$DEPLOYED_FUNCTIONS")
  if [ -n "$FUNCTION_URL" ]; then return 0; fi
  if $dry_run; then
    FUNCTION_URL="<URL of $1>"
  else
    die "function $1 is not deployed in $region: run the functions part first"
  fi
}

part_pubsub() {
  note "--- pubsub: topics (retention) and push subscriptions (OIDC, ack deadline, retry, dead letters)"
  local topic sub
  TOPICS_LISTED="" SUBSCRIPTIONS_LISTED=""
  if check gcloud pubsub topics list --project="$project" --format='value(name,messageRetentionDuration)'; then
    TOPICS_LISTED=$CHECK_OUT
  fi
  for topic in ${T[topics]}; do ensure_topic "$topic"; done
  await_spawned
  if check gcloud pubsub subscriptions list --project="$project" --format="value(name,${SUBSCRIPTION_FIELDS#value(}"; then
    SUBSCRIPTIONS_LISTED=$CHECK_OUT
  fi
  for sub in ${T[subscriptions]}; do ensure_subscription "$sub"; done
  await_spawned
}

# listed LISTING NAME: the fields after NAME in its line of LISTING (a value(name,...) list, tab
# separated), in LISTED_OUT; status 1 when NAME is not listed.
LISTED_OUT=""
listed() {
  local line
  LISTED_OUT=""
  while IFS= read -r line; do
    if [ "${line%%$'\t'*}" = "$2" ]; then
      if [[ $line == *$'\t'* ]]; then LISTED_OUT=${line#*$'\t'}; fi
      return 0
    fi
  done <<<"$1"
  return 1
}

TOPICS_LISTED=""
SUBSCRIPTIONS_LISTED=""
ensure_topic() {
  local topic=$1 retention="${T[retention_seconds]}s"
  if listed "$TOPICS_LISTED" "projects/$project/topics/$topic"; then
    if [ "$LISTED_OUT" = "$retention" ]; then
      note "topic $topic unchanged"
    else
      spawn gcloud pubsub topics update "$topic" --project="$project" --message-retention-duration="$retention"
    fi
  else
    spawn gcloud pubsub topics create "$topic" --project="$project" --message-retention-duration="$retention"
    CREATED[topic:$topic]=1
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
  if listed "$SUBSCRIPTIONS_LISTED" "projects/$project/subscriptions/$sub"; then
    local current=$LISTED_OUT
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
    spawn gcloud pubsub subscriptions update "$sub" --project="$project" "${flags[@]}"
  else
    spawn gcloud pubsub subscriptions create "$sub" --project="$project" --topic="$topic" "${flags[@]}"
    CREATED[sub:$sub]=1
  fi
}

part_pubsub_iam() {
  note "--- pubsub-iam: who may publish where; what dead-lettering needs"
  local topic role sub member
  pubsub_agent
  for topic in ${T[topics]}; do
    read_policy_of "topic:$topic" \
      gcloud pubsub topics get-iam-policy "$topic" --project="$project" --format=json
    for role in ${T[topic.$topic.publishers]}; do
      member="serviceAccount:$(sa_email "$role")"
      bind "$POLICY_FILE" roles/pubsub.publisher "$member" "" \
        gcloud pubsub topics add-iam-policy-binding "$topic" --project="$project" \
        --member="$member" --role=roles/pubsub.publisher --format=none
    done
    if [ "$topic" = "${T[dead_letter_topic]}" ]; then
      bind "$POLICY_FILE" roles/pubsub.publisher "serviceAccount:$PUBSUB_AGENT" "" \
        gcloud pubsub topics add-iam-policy-binding "$topic" --project="$project" \
        --member="serviceAccount:$PUBSUB_AGENT" --role=roles/pubsub.publisher --format=none
    fi
  done
  for sub in ${T[subscriptions]}; do
    if [ "${T[sub.$sub.dead_letter]}" = true ]; then
      read_policy_of "sub:$sub" \
        gcloud pubsub subscriptions get-iam-policy "$sub" --project="$project" --format=json
      bind "$POLICY_FILE" roles/pubsub.subscriber "serviceAccount:$PUBSUB_AGENT" "" \
        gcloud pubsub subscriptions add-iam-policy-binding "$sub" --project="$project" \
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
  note "--- monitoring: log-based metrics, alert policies (infra/monitoring) and dashboards ($DASHBOARDS)"
  ensure_metrics
  ensure_policies
  ensure_dashboards
}

# Log-based metrics: one list, then each metric file created, updated or left alone
# (infra/deploy/monitoring.ts decides).
ensure_metrics() {
  local listed="" actions action file name
  if check gcloud logging metrics list --project="$project" --format=json; then
    printf '%s' "${CHECK_OUT:-[]}" >"$work/metrics.json"
    listed="$work/metrics.json"
  fi
  actions=$("${HELPER[@]}" metric-actions infra/monitoring ${listed:+"$listed"}) || die "cannot read infra/monitoring"
  while IFS=$'\t' read -r action file name; do
    case $action in
      unchanged) note "metric $name unchanged" ;;
      update) spawn gcloud logging metrics update "$name" --config-from-file="$file" --project="$project" ;;
      create) spawn gcloud logging metrics create "$name" --config-from-file="$file" --project="$project" ;;
      *) die "cannot read infra/monitoring" ;;
    esac
  done <<<"$actions"
  await_spawned
}

# Alert policies, known by displayName: one list, then each policy file created, updated or left
# alone. A log-based metric is unknown to alert policies for up to 10 minutes after its
# creation: a create or update that meets one is tried again (run_retry).
ensure_policies() {
  local listed="" actions action file display detail
  if check gcloud alpha monitoring policies list --project="$project" --format=json; then
    printf '%s' "${CHECK_OUT:-[]}" >"$work/policies.json"
    listed="$work/policies.json"
  fi
  mkdir -p "$work/policies"
  actions=$("${HELPER[@]}" policy-actions infra/monitoring "$notification_channels" "$work/policies" \
    ${listed:+"$listed"}) || die "cannot read infra/monitoring"
  while IFS=$'\t' read -r action file display detail; do
    case $action in
      unchanged) note "alert policy \"$display\" unchanged" ;;
      create)
        run_retry 'Cannot find metric' gcloud alpha monitoring policies create --project="$project" \
          --policy-from-file="$file"
        ;;
      update)
        run_retry 'Cannot find metric' gcloud alpha monitoring policies update "$detail" \
          --project="$project" --policy-from-file="$file"
        ;;
      duplicate) die "$detail alert policies are named \"$display\": delete all but one, then deploy again" ;;
      *) die "cannot read infra/monitoring" ;;
    esac
  done <<<"$actions"
}

# Dashboards: every DIR/*.json (PACER_DASHBOARDS_DIR, default infra/monitoring/dashboards), a
# Dashboard API body. A dashboard is known by its displayName (unique among the project's
# dashboards): created when no dashboard has it, updated (with the current etag) when it
# differs, left alone when equal.
ensure_dashboards() {
  local listing file display listed="" names count name status
  listing=$("${HELPER[@]}" dashboards "$DASHBOARDS") || die "cannot read $DASHBOARDS"
  if [ -z "$listing" ]; then
    note "no dashboards in $DASHBOARDS"
    return 0
  fi
  if check gcloud monitoring dashboards list --project="$project" --format=json; then
    printf '%s' "${CHECK_OUT:-[]}" >"$work/dashboards.json"
    listed="$work/dashboards.json"
  fi
  while IFS=$'\t' read -r file display; do
    names=""
    if [ -n "$listed" ]; then names=$("${HELPER[@]}" dashboard-find "$listed" "$display"); fi
    count=$(printf '%s' "$names" | grep -c . || true)
    if [ "$count" -eq 0 ]; then
      run_retry 'Cannot find metric' gcloud monitoring dashboards create --project="$project" \
        --config-from-file="$file" --format=none
    elif [ "$count" -eq 1 ]; then
      name=$names
      "${HELPER[@]}" dashboard-current "$listed" "$name" >"$work/dashboard.json"
      status=0
      "${HELPER[@]}" contains "$file" "$work/dashboard.json" || status=$?
      case $status in
        0) note "dashboard \"$display\" unchanged" ;;
        1)
          "${HELPER[@]}" dashboard-file "$file" "$listed" "$name" >"$work/dashboard-new.json"
          run_retry 'Cannot find metric' gcloud monitoring dashboards update "${name##*/}" \
            --project="$project" --config-from-file="$work/dashboard-new.json" --format=none
          ;;
        *) die "cannot compare $file" ;;
      esac
    else
      die "$count dashboards are named \"$display\": delete all but one, then deploy again"
    fi
  done <<<"$listing"
}

# ---------------------------------------------------------------------------------------------
# --destroy: what the parts create, removed in reverse order

# present CMD...: whether a resource exists (a read-only check). In a dry run everything is
# treated as present, so that every delete is printed.
present() {
  if $dry_run; then
    show "$@"
    CHECK_OUT=""
    return 0
  fi
  check "$@"
}

# tick_jobs_of NAMES: of the job names listed (full or short, one a line), the tick job's and
# its shards' (PACER_SHARDS): exactly TICK or TICK-K, K a whole number from 1 without a leading
# zero; nothing else (TICK-x, TICK-01, another prefix). Short names, in the order listed.
tick_jobs_of() {
  local line short
  while IFS= read -r line; do
    short=${line##*/}
    if [ "$short" = "${T[tick_job]}" ] || [[ $short =~ ^"${T[tick_job]}"-[1-9][0-9]*$ ]]; then
      printf '%s\n' "$short"
    fi
  done <<<"$1"
}

destroy_tick() {
  note "--- tick: the Cloud Scheduler jobs (${T[tick_job]}, and ${T[tick_job]}-K of each planner shard)"
  local names name
  if present gcloud scheduler jobs list --location="$region" --project="$project" --format='value(name)'; then
    if $dry_run; then
      names="${T[tick_job]}"$'\n'"<each ${T[tick_job]}-K listed>"
    else
      names=$(tick_jobs_of "$CHECK_OUT")
    fi
    while IFS= read -r name; do
      [ -n "$name" ] || continue
      run gcloud scheduler jobs delete "$name" --location="$region" --project="$project" --quiet
    done <<<"$names"
  fi
}

destroy_monitoring() {
  note "--- monitoring: dashboards, alert policies, then their log-based metrics"
  local listing kind file name names policy
  listing=$("${HELPER[@]}" dashboards "$DASHBOARDS") || die "cannot read $DASHBOARDS"
  if [ -n "$listing" ]; then
    names=""
    if present gcloud monitoring dashboards list --project="$project" --format=json; then
      if $dry_run; then
        names=$(cut -f2 <<<"$listing" | sed 's/^/<dashboard named /; s/$/>/')
      else
        printf '%s' "${CHECK_OUT:-[]}" >"$work/dashboards.json"
        while IFS=$'\t' read -r file name; do
          "${HELPER[@]}" dashboard-find "$work/dashboards.json" "$name"
        done <<<"$listing" >"$work/dashboard-names"
        names=$(cat "$work/dashboard-names")
      fi
    fi
    while IFS= read -r name; do
      if [ -n "$name" ]; then run gcloud monitoring dashboards delete "${name##*/}" --project="$project" --quiet; fi
    done <<<"$names"
  fi
  # One list each of the policies and the metrics; in a dry run every one is deleted.
  listing=$("${HELPER[@]}" monitoring infra/monitoring) || die "cannot read infra/monitoring"
  local policies="" metrics=""
  if present gcloud alpha monitoring policies list --project="$project" --format='value(name,displayName)'; then
    policies=$CHECK_OUT
  fi
  while IFS=$'\t' read -r kind file name; do
    if [ "$kind" != policies ]; then continue; fi
    if $dry_run; then
      run gcloud alpha monitoring policies delete "<policy named $name>" --project="$project" --quiet
      continue
    fi
    while IFS= read -r policy; do
      spawn gcloud alpha monitoring policies delete "$policy" --project="$project" --quiet
    done < <(awk -F'\t' -v display="$name" '$2 == display { print $1 }' <<<"$policies")
  done <<<"$listing"
  await_spawned
  if present gcloud logging metrics list --project="$project" --format='value(name)'; then
    metrics=$CHECK_OUT
  fi
  while IFS=$'\t' read -r kind file name; do
    if [ "$kind" != metrics ]; then continue; fi
    if $dry_run || grep -qxF "$name" <<<"$metrics"; then
      spawn gcloud logging metrics delete "$name" --project="$project" --quiet
    fi
  done <<<"$listing"
  await_spawned
}

destroy_pubsub() {
  note "--- pubsub: subscriptions, then topics"
  local sub topic listed=""
  if present gcloud pubsub subscriptions list --project="$project" --format='value(name)'; then
    listed=$CHECK_OUT
  fi
  for sub in ${T[subscriptions]}; do
    if $dry_run || grep -qxF "projects/$project/subscriptions/$sub" <<<"$listed"; then
      spawn gcloud pubsub subscriptions delete "$sub" --project="$project" --quiet
    fi
  done
  await_spawned
  if present gcloud pubsub topics list --project="$project" --format='value(name)'; then
    listed=$CHECK_OUT
  fi
  for topic in ${T[topics]}; do
    if $dry_run || grep -qxF "projects/$project/topics/$topic" <<<"$listed"; then
      spawn gcloud pubsub topics delete "$topic" --project="$project" --quiet
    fi
  done
  await_spawned
}

destroy_jobs() {
  local job=${T[job.name]} job_region=${PACER_JOB_REGION:-$region}
  note "--- jobs: $job and its runner role"
  if present gcloud run jobs describe "$job" --project="$project" --region="$job_region" --format='value(metadata.name)'; then
    run gcloud run jobs delete "$job" --project="$project" --region="$job_region" --quiet
  fi
  if present gcloud iam roles describe "${T[job.runner_role]}" --project="$project" --format='value(name)'; then
    run gcloud iam roles delete "${T[job.runner_role]}" --project="$project" --quiet --format=none
  fi
}

destroy_functions() {
  note "--- functions"
  local fn listed=""
  if present gcloud functions list --regions="$region" --project="$project" --format='value(name)'; then
    listed=$CHECK_OUT
  fi
  for fn in ${T[functions]}; do
    if $dry_run || grep -qE "(^|/)$fn\$" <<<"$listed"; then
      spawn gcloud functions delete "$fn" --region="$region" --project="$project" --quiet
    fi
  done
  await_spawned
}

destroy_firestore() {
  if ! $delete_data; then
    note "--- firestore: the database, its data, indexes and rules stay (--delete-data removes them)"
    return 0
  fi
  note "--- firestore: the database and every document in it (--delete-data)"
  if present gcloud firestore databases describe --database="$DATABASE" --project="$project" --format='value(name)'; then
    run gcloud firestore databases delete --database="$DATABASE" --project="$project" --quiet
  fi
}

destroy_accounts() {
  note "--- accounts: project bindings (one write), then the service accounts"
  local role email listed="" ids=() policy
  for role in ${T[service_accounts]}; do ids+=("${T[sa.$role.id]}"); done
  if [ -z "$build_service_account" ]; then ids+=("$BUILD_SA_ID"); fi
  project_policy
  policy=$PROJECT_POLICY
  if $dry_run; then
    # Every binding treated as present, so that the write shows each removal.
    grep '^add' < <(project_bindings add) >"$work/present-bindings"
    "${HELPER[@]}" iam-merge "" "$work/present-bindings" "$work/present-policy.json" >/dev/null ||
      die "cannot merge the IAM bindings"
    policy="$work/present-policy.json"
  fi
  project_bindings remove >"$work/removed-bindings"
  apply_bindings "$work/removed-bindings" "$policy" gcloud projects set-iam-policy "$project" {} --format=none
  if check gcloud iam service-accounts list --project="$project" --format='value(email)'; then
    listed=$CHECK_OUT
  fi
  local id
  for id in "${ids[@]}"; do
    email="$id@$project.iam.gserviceaccount.com"
    if $dry_run || grep -qxF "$email" <<<"$listed"; then
      spawn gcloud iam service-accounts delete "$email" --project="$project" --quiet
    fi
  done
  await_spawned
}

if $destroy; then
  if $dry_run; then
    note "dry run of --destroy: every command in order, none run; every resource is treated as"
    note "present (each delete is printed)"
  fi
  note "pacer destroy: project $project${region:+, region $region}; parts: ${parts[*]}"
  for ((i = ${#parts[@]} - 1; i >= 0; i--)); do
    case ${parts[$i]} in
      tick) destroy_tick ;;
      monitoring) destroy_monitoring ;;
      pubsub) destroy_pubsub ;;
      pubsub-iam) note "--- pubsub-iam: goes with the topics and subscriptions" ;;
      jobs) destroy_jobs ;;
      functions) destroy_functions ;;
      firestore) destroy_firestore ;;
      accounts) destroy_accounts ;;
      apis) note "--- apis: left enabled (other services of the project may use them)" ;;
    esac
  done
  if $dry_run; then
    note "dry run: nothing was changed"
  else
    note "done: $commands_run changing commands run"
  fi
  exit 0
fi

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
