# cloud.sh — sourced by the bench scripts that drive the cloud's APIs directly (lifecycle.sh, shelve.sh,
# network.sh): curl with one token, a project of the script's own with room for ten servers, server deletion, the
# removal of a compute host's service and provider, and the start-up steps these scripts share.
#
# The caller defines RIG, WORK, TAG, TOKEN, T_START and BUDGET (over_budget), and the helpers say and die;
# open_project sets ADMIN_TOKEN, PROJECT and TOKEN.

# The rig's endpoints (KEYSTONE below).
NOVA=http://127.0.0.1:8774/v2.1
GLANCE=http://127.0.0.1:9292
PLACEMENT=http://127.0.0.1:8778

sql() { mariadb -h 127.0.0.1 -u root -N -B -e "$1"; }

# Timing: now is the epoch with nanoseconds, sec A B the seconds from A to B (one decimal), median of numbers.
now() { date +%s.%N; }
sec() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }
over_budget() { (($(date +%s) - T_START > BUDGET)); }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# API helpers: curl with the token; HTTP errors are fatal unless the caller tolerates them.
api() {
	local method=$1 url=$2
	shift 2
	curl -sS -m 60 -X "$method" -H "X-Auth-Token: $TOKEN" -H 'OpenStack-API-Version: compute 2.96' \
		-H 'Content-Type: application/json' "$@" "$url"
}
api_ok() { # api_ok METHOD URL [curl args]: body on 2xx, else die naming the call
	local out code
	out=$(api "$@" -w '\n%{http_code}') || die "$1 $2: curl failed"
	code=${out##*$'\n'}
	out=${out%$'\n'*}
	[[ $code == 2* ]] || die "$1 $2: HTTP $code: $out"
	printf '%s' "$out"
}

# make_project: a project of our own (admin holds its admin role), so that the 10 servers fit in its default
# quotas whatever other suites run in project admin; TOKEN becomes a token scoped to it.
KEYSTONE=http://127.0.0.1:5000
make_project() {
	local user role body
	user=$(curl -sS -H "X-Auth-Token: $ADMIN_TOKEN" -H "X-Subject-Token: $ADMIN_TOKEN" "$KEYSTONE/v3/auth/tokens" | jq -r .token.user.id)
	role=$(curl -sS -H "X-Auth-Token: $ADMIN_TOKEN" "$KEYSTONE/v3/roles?name=admin" | jq -r '.roles[0].id')
	[[ $user =~ ^[0-9a-f]{32}$ && $role =~ ^[0-9a-f]{32}$ ]] || die "cannot read the admin user and role from keystone"
	body=$(jq -cn --arg n "$TAG" '{project: {name: $n, domain_id: "default", description: "devstack/bench, removed at its end"}}')
	PROJECT=$(curl -sS -X POST -H "X-Auth-Token: $ADMIN_TOKEN" -H 'Content-Type: application/json' -d "$body" "$KEYSTONE/v3/projects" | jq -r .project.id)
	[[ $PROJECT =~ ^[0-9a-f]{32}$ ]] || die "cannot create project $TAG"
	[[ $(curl -sS -o /dev/null -w '%{http_code}' -X PUT -H "X-Auth-Token: $ADMIN_TOKEN" "$KEYSTONE/v3/projects/$PROJECT/users/$user/roles/$role") == 204 ]] ||
		die "cannot give admin the admin role on project $TAG"
	body=$(jq -cn --arg t "$ADMIN_TOKEN" --arg p "$PROJECT" '{auth: {identity: {methods: ["token"], token: {id: $t}}, scope: {project: {id: $p}}}}')
	TOKEN=$(curl -sS -D - -o /dev/null -X POST -H 'Content-Type: application/json' -d "$body" "$KEYSTONE/v3/auth/tokens" |
		awk 'tolower($1) == "x-subject-token:" {print $2}' | tr -d '\r')
	[[ -n $TOKEN ]] || die "cannot get a token for project $TAG"
	api_ok PUT "$NOVA/os-quota-sets/$PROJECT" -d '{"quota_set": {"instances": 20, "cores": 20, "ram": 51200}}' >/dev/null
}

# delete_servers ID...: delete and wait until the API no longer knows them (max 180 s).
delete_servers() {
	local id code deadline=$(($(date +%s) + 180)) left
	for id in "$@"; do api DELETE "$NOVA/servers/$id" -o /dev/null || true; done
	while :; do
		left=0
		for id in "$@"; do
			code=$(api GET "$NOVA/servers/$id" -o /dev/null -w '%{http_code}' || echo 000)
			[[ $code == 404 ]] || left=$((left + 1))
		done
		[[ $left -eq 0 ]] && return 0
		[[ $(date +%s) -lt $deadline ]] || { say "warning: $left server(s) still not deleted after 180 s"; return 1; }
		sleep 0.5
	done
}

# forget_compute HOST: the compute service of HOST and its resource provider go. DB_PREFIX is the rig's database
# prefix, if any.
forget_compute() {
	local h=$1 id node
	# Nova's service delete fails (HTTP 500, "No such provider") for a compute node whose provider was never
	# made, e.g. when Placement was down as the host started: make it, so that delete works.
	sql "select uuid, hypervisor_hostname from ${DB_PREFIX:-}nova.compute_nodes where host = '$h' and deleted = 0" |
		while read -r id node; do
			api POST "$PLACEMENT/resource_providers" -H 'OpenStack-API-Version: placement 1.14' \
				-d "{\"uuid\": \"$id\", \"name\": \"$node\"}" -o /dev/null
		done
	for id in $(api GET "$NOVA/os-services?binary=nova-compute&host=$h" | jq -r '.services[]?.id'); do
		api DELETE "$NOVA/os-services/$id" -o /dev/null
	done
	for id in $(api GET "$PLACEMENT/resource_providers?name=$h" -H 'OpenStack-API-Version: placement 1.14' | jq -r '.resource_providers[]?.uuid'); do
		api DELETE "$PLACEMENT/resource_providers/$id" -H 'OpenStack-API-Version: placement 1.14' -o /dev/null
	done
}

# ---------------------------------------------------------------------------------------------------------------
# Start-up and clean-up steps.

# wait_rig: other suites may stop and restart single services (fault tests): wait up to 2 minutes for all of them.
wait_rig() {
	local i
	for i in $(seq 24); do $RIG status >/dev/null && break; [[ $i -eq 1 ]] && say "waiting for every rig service to run"; sleep 5; done
	$RIG status >/dev/null || die "the rig is not running: devstack/rig.sh start"
}

# open_project: an admin token from the rig, then make_project (TOKEN becomes scoped to the new project).
open_project() {
	ADMIN_TOKEN=$($RIG exec openstack token issue -f value -c id 2>/dev/null)
	[[ -n $ADMIN_TOKEN ]] || die "openstack token issue gave no token"
	TOKEN=$ADMIN_TOKEN
	make_project
}

# close_project: the project of open_project goes, with its quotas (for the clean-up; errors are not fatal).
close_project() {
	[[ -n ${PROJECT:-} ]] || return 0
	api DELETE "$NOVA/os-quota-sets/$PROJECT" -o /dev/null
	curl -sS -o /dev/null -X DELETE -H "X-Auth-Token: $ADMIN_TOKEN" "$KEYSTONE/v3/projects/$PROJECT"
}

# find_tiny: IMAGE and FLAVOR become the ids of the image and the flavor named tiny (rig.sh start makes them).
find_tiny() {
	IMAGE=$(api_ok GET "$GLANCE/v2/images?name=tiny" | jq -r '.images[0].id // empty')
	FLAVOR=$(api_ok GET "$NOVA/flavors" | jq -r '.flavors[] | select(.name == "tiny") | .id' | head -1)
	[[ -n $IMAGE && -n $FLAVOR ]] || die "no image or flavor named tiny (rig.sh start makes them)"
}

# build_novabsd: BIN is NOVABSD_BIN, or else a novabsd built from this tree into WORK.
build_novabsd() {
	BIN=${NOVABSD_BIN:-}
	if [[ -z $BIN ]]; then
		say "building novabsd"
		PATH=/usr/local/go/bin:$PATH go build -o "$WORK/novabsd" ./cmd/novabsd
		BIN=$WORK/novabsd
	fi
}
