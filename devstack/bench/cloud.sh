# cloud.sh — sourced by the bench scripts that drive the cloud's APIs directly (lifecycle.sh, network.sh): curl
# with one token, a project of the script's own with room for ten servers, and server deletion.
#
# The caller defines TAG, NOVA, ADMIN_TOKEN (for make_project), TOKEN, and the helpers say and die.

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
