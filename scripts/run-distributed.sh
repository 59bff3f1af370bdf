#!/usr/bin/env bash
# Runs Darwin as separate processes behind Debian's nginx, the local mirror of
# the Helm/compose layout:
#   MariaDB (scripts/test-databases.sh) ← compute ←gRPC→ cluster-manager
#   MariaDB (database <DARWIN_DB>_mlflow) ← mlflow (artifacts in $DARWIN_RUN_DIR/mlflow-data/artifacts)
#   MariaDB (<DARWIN_DB>_artifact_builder) ← artifact-builder (pushes to $DARWIN_REGISTRY)
#   MariaDB (<DARWIN_DB>_ml_serve) ← ml-serve →gRPC cluster-manager, →HTTP mlflow, artifact-builder
#   MariaDB (<DARWIN_DB>_feature_store) ← feature-store (Pebble online store in $DARWIN_RUN_DIR/feature-store-data)
#   nginx (deploy/nginx) → /compute/, /cluster-manager/, /mlflow-lib/, /mlflow-app/, /ml-serve/,
#                          /artifact-builder/, /feature-store/, /feature-store-admin/,
#                          /<env>/<id>-dashboard|jupyter/, and everything else
#                          (deployed models at /<serve>/) → cluster-manager, which proxies to the model replicas
#
#   scripts/run-distributed.sh          # build, start everything in the background, print the URLs
#   scripts/run-distributed.sh stop     # stop what it started
#   scripts/run-distributed.sh status   # show what is running
#
# Ports and paths come from the environment (defaults in brackets):
#   DARWIN_NGINX_ADDR [127.0.0.1:8088]   DARWIN_COMPUTE_HTTP [127.0.0.1:8000]   DARWIN_COMPUTE_GRPC [127.0.0.1:9092]
#   DARWIN_CM_HTTP [127.0.0.1:8080]      DARWIN_CM_GRPC [127.0.0.1:9091]        DARWIN_DB [darwin]
#   DARWIN_MLFLOW_HTTP [127.0.0.1:5000]  DARWIN_MLFLOW_DB [<DARWIN_DB>_mlflow]
#   DARWIN_ML_SERVE_HTTP [127.0.0.1:8100]          DARWIN_ML_SERVE_DB [<DARWIN_DB>_ml_serve]
#   DARWIN_ARTIFACT_BUILDER_HTTP [127.0.0.1:8101]  DARWIN_ARTIFACT_BUILDER_DB [<DARWIN_DB>_artifact_builder]
#   DARWIN_FEATURE_STORE_HTTP [127.0.0.1:8102]    DARWIN_FEATURE_STORE_DB [<DARWIN_DB>_feature_store]
#   DARWIN_REGISTRY [localhost:5000/darwin] (where artifact-builder pushes; ml-serve records images there)
#   DARWIN_ADMIN_TOKEN [random, kept in $DARWIN_RUN_DIR/ml-serve-admin-token] (ml-serve's admin bearer token)
#   DARWIN_RUN_DIR [.cache/distributed]  DARWIN_PUBLIC_URL [http://<nginx addr>]
# Logs: $DARWIN_RUN_DIR/{compute,cluster-manager,mlflow,ml-serve,artifact-builder,feature-store,nginx-error,nginx-access}.log
# After starting, a smoke check goes through nginx: compute and cluster-manager health, the MLflow tracking API
# (experiments/search under /mlflow-lib), the app layer's /mlflow-app/healthcheck, ml-serve's health and its
# serve list with the admin token (and a 4xx without it), artifact-builder's health, the feature store's
# entity list (admin) and a rejected read (app, 400 in its error envelope), and a path of no service
# answered by cluster-manager (where deployed models live).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN_DIR=${DARWIN_RUN_DIR:-$ROOT/.cache/distributed}
NGINX_ADDR=${DARWIN_NGINX_ADDR:-127.0.0.1:8088}
COMPUTE_HTTP=${DARWIN_COMPUTE_HTTP:-127.0.0.1:8000}
COMPUTE_GRPC=${DARWIN_COMPUTE_GRPC:-127.0.0.1:9092}
CM_HTTP=${DARWIN_CM_HTTP:-127.0.0.1:8080}
CM_GRPC=${DARWIN_CM_GRPC:-127.0.0.1:9091}
DB=${DARWIN_DB:-darwin}
MLFLOW_HTTP=${DARWIN_MLFLOW_HTTP:-127.0.0.1:5000}
MLFLOW_DB=${DARWIN_MLFLOW_DB:-${DB}_mlflow}
ML_SERVE_HTTP=${DARWIN_ML_SERVE_HTTP:-127.0.0.1:8100}
ML_SERVE_DB=${DARWIN_ML_SERVE_DB:-${DB}_ml_serve}
AB_HTTP=${DARWIN_ARTIFACT_BUILDER_HTTP:-127.0.0.1:8101}
AB_DB=${DARWIN_ARTIFACT_BUILDER_DB:-${DB}_artifact_builder}
FS_HTTP=${DARWIN_FEATURE_STORE_HTTP:-127.0.0.1:8102}
FS_DB=${DARWIN_FEATURE_STORE_DB:-${DB}_feature_store}
REGISTRY=${DARWIN_REGISTRY:-localhost:5000/darwin}
PUBLIC_URL=${DARWIN_PUBLIC_URL:-http://$NGINX_ADDR}
BIN=${BIN:-$ROOT/bin}
GO=${GO:-go}
NGINX=/usr/sbin/nginx

log() { echo "run-distributed: $*" >&2; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

pidfile() { echo "$RUN_DIR/$1.pid"; }
running() { # running NAME: the recorded pid is alive
	local f; f=$(pidfile "$1")
	[ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

stop_one() { # stop_one NAME: SIGTERM the recorded pid, wait, then SIGKILL
	local name=$1 f pid
	f=$(pidfile "$name")
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	if kill -0 "$pid" 2>/dev/null; then
		log "stopping $name (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
		if kill -0 "$pid" 2>/dev/null; then
			log "$name did not stop within 20s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$f"
}

session_members() { # session_members SID: pids in that session (cluster nodes outlive their manager)
	ps -eo pid=,sid= | awk -v sid="$1" '$2 == sid && $1 != sid { print $1 }'
}

stop_session() { # stop_session SID: SIGTERM what is left of a session we started, then SIGKILL
	local sid=$1 pids
	pids=$(session_members "$sid")
	[ -n "$pids" ] || return 0
	log "stopping local cluster processes left by cluster-manager: $(echo $pids)"
	kill -TERM $pids 2>/dev/null || true
	for _ in $(seq 1 50); do [ -n "$(session_members "$sid")" ] || return 0; sleep 0.2; done
	pids=$(session_members "$sid")
	[ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
}

stop_all() {
	# Reverse start order: nginx first, then compute (stops polling), then
	# cluster-manager (which stops the local Ray cluster processes it runs).
	local cm_sid=""
	[ -f "$(pidfile cluster-manager)" ] && cm_sid=$(cat "$(pidfile cluster-manager)")
	stop_one nginx
	stop_one feature-store
	stop_one ml-serve
	stop_one artifact-builder
	stop_one mlflow
	stop_one compute
	stop_one cluster-manager
	# cluster-manager runs in its own session (setsid), so the Ray node
	# processes of clusters still running are exactly that session's members.
	[ -z "$cm_sid" ] || stop_session "$cm_sid"
}

status() {
	for name in cluster-manager compute mlflow artifact-builder ml-serve feature-store nginx; do
		if running "$name"; then echo "$name: running (pid $(cat "$(pidfile "$name")"))"; else echo "$name: stopped"; fi
	done
}

wait_http() { # wait_http NAME URL
	local name=$1 url=$2
	for _ in $(seq 1 300); do
		if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
		if ! running "$name"; then
			log "$name exited; last lines of its log:"; tail -n 40 "$RUN_DIR/$name.log" >&2 || true; return 1
		fi
		sleep 0.2
	done
	log "$name not answering at $url within 60s"; return 1
}

start_bg() { # start_bg NAME LOG CMD...: run detached in its own session, record the pid
	local name=$1 logfile=$2; shift 2
	setsid "$@" >>"$logfile" 2>&1 < /dev/null &
	echo $! > "$(pidfile "$name")"
}

admin_token() { # ADMIN_TOKEN: $DARWIN_ADMIN_TOKEN, else the one kept in the run directory, else a new one
	local f=$RUN_DIR/ml-serve-admin-token
	if [ -n "${DARWIN_ADMIN_TOKEN:-}" ]; then
		ADMIN_TOKEN=$DARWIN_ADMIN_TOKEN
	elif [ -s "$f" ]; then
		ADMIN_TOKEN=$(cat "$f")
	else
		ADMIN_TOKEN=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
	fi
	(umask 077 && printf '%s\n' "$ADMIN_TOKEN" > "$f")
}

render_nginx() {
	local dir=$RUN_DIR/nginx
	mkdir -p "$dir"
	chmod 755 "$RUN_DIR" "$dir" # nginx workers may run as an unprivileged user
	sed -e "s|\${NGINX_LISTEN}|$NGINX_ADDR|g" \
		-e "s|\${COMPUTE_UPSTREAM}|$COMPUTE_HTTP|g" \
		-e "s|\${CLUSTER_MANAGER_UPSTREAM}|$CM_HTTP|g" \
		-e "s|\${MLFLOW_UPSTREAM}|$MLFLOW_HTTP|g" \
		-e "s|\${ML_SERVE_UPSTREAM}|$ML_SERVE_HTTP|g" \
		-e "s|\${ARTIFACT_BUILDER_UPSTREAM}|$AB_HTTP|g" \
		-e "s|\${FEATURE_STORE_UPSTREAM}|$FS_HTTP|g" \
		"$ROOT/deploy/nginx/darwin.conf.template" > "$dir/darwin.conf"
	sed -e "s|\${NGINX_RUNDIR}|$dir|g" "$ROOT/deploy/nginx/nginx.conf.template" > "$dir/nginx.conf"
	"$NGINX" -t -q -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
}

smoke_one() { # smoke_one WHAT EXPECTED-SUBSTRING CURL-ARGS...: one request through nginx, fail loudly
	local what=$1 want=$2 body; shift 2
	if ! body=$(curl -fsS --max-time 10 "$@" 2>&1); then
		log "smoke check FAILED: $what: $body"; return 1
	fi
	if [[ $body != *"$want"* ]]; then
		log "smoke check FAILED: $what: response lacks '$want': ${body:0:300}"; return 1
	fi
	log "smoke check ok: $what"
}

smoke_status() { # smoke_status WHAT CODE URL [CURL-ARGS...]: the request through nginx answers exactly CODE
	local what=$1 want=$2 url=$3 code; shift 3
	code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "$@" "$url" 2>&1) || true
	if [ "$code" != "$want" ]; then
		log "smoke check FAILED: $what: HTTP $code, want $want"; return 1
	fi
	log "smoke check ok: $what"
}

smoke() { # requests through nginx to every service; on failure stop everything and exit non-zero
	local base="http://$NGINX_ADDR" ok=1
	smoke_one "GET /compute/healthcheck" "" "$base/compute/healthcheck" || ok=0
	smoke_one "GET /cluster-manager/healthcheck" "" "$base/cluster-manager/healthcheck" || ok=0
	# The tracking API as the MLflow client calls it; the Default experiment (id 0) exists after migration.
	smoke_one "POST /mlflow-lib/api/2.0/mlflow/experiments/search" '"experiments"' -X POST \
		-H 'Content-Type: application/json' -d '{"max_results": 10}' "$base/mlflow-lib/api/2.0/mlflow/experiments/search" || ok=0
	smoke_one "GET /mlflow-lib/api/2.0/mlflow/experiments/search" '"experiment_id"' \
		"$base/mlflow-lib/api/2.0/mlflow/experiments/search?max_results=10" || ok=0
	smoke_one "GET /mlflow-app/healthcheck" '"SUCCESS"' "$base/mlflow-app/healthcheck" || ok=0
	smoke_one "GET /ml-serve/healthcheck" '"SUCCESS"' "$base/ml-serve/healthcheck" || ok=0
	# The admin token authenticates (the bootstrap on start set it); the header is read from stdin so the token
	# never shows in argv.
	smoke_one "GET /ml-serve/api/v1/serve (admin token)" '"status":"SUCCESS"' -H @- "$base/ml-serve/api/v1/serve" \
		<<<"Authorization: Bearer $ADMIN_TOKEN" || ok=0
	smoke_status "GET /ml-serve/api/v1/serve (no token)" 400 "$base/ml-serve/api/v1/serve" || ok=0
	smoke_one "GET /artifact-builder/healthcheck" '"SUCCESS"' "$base/artifact-builder/healthcheck" || ok=0
	smoke_one "GET /artifact-builder/task" '"status":"SUCCESS"' "$base/artifact-builder/task?limit=1" || ok=0
	smoke_one "GET /feature-store-admin/entity/all" '"data"' "$base/feature-store-admin/entity/all" || ok=0
	smoke_status "POST /feature-store/feature-group/read-features (empty request)" 400 \
		"$base/feature-store/feature-group/read-features" -X POST -H 'Content-Type: application/json' -d '{}' || ok=0
	# No service claims /no-such-serve/: nginx hands it to cluster-manager (the model-server proxy), whose
	# answer for a serve that is not deployed is a 404 of its own, not nginx's.
	smoke_status "GET /darwin-smoke-no-such-serve/ (cluster-manager)" 404 "$base/darwin-smoke-no-such-serve/" || ok=0
	if curl -sS --max-time 10 "$base/darwin-smoke-no-such-serve/" 2>/dev/null | grep -q '<center>nginx'; then
		log "smoke check FAILED: /darwin-smoke-no-such-serve/ was answered by nginx itself, not cluster-manager"; ok=0
	fi
	if [ "$ok" -ne 1 ]; then
		log "smoke checks failed; logs in $RUN_DIR; stopping"
		stop_all
		exit 1
	fi
}

start() {
	mkdir -p "$RUN_DIR"
	for name in cluster-manager compute mlflow artifact-builder ml-serve feature-store nginx; do
		if running "$name"; then log "$name is already running; '$0 stop' first"; exit 1; fi
	done

	if [ ! -x "$NGINX" ]; then
		log "installing nginx"
		$SUDO apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nginx >&2
	fi

	log "building compute, cluster-manager, mlflow, ml-serve, artifact-builder and feature-store into $BIN"
	mkdir -p "$BIN"
	(cd "$ROOT" && $GO build -o "$BIN/" ./services/compute/cmd/compute ./services/cluster-manager/cmd/cluster-manager \
		./services/mlflow/cmd/mlflow ./services/ml-serve/cmd/ml-serve ./services/artifact-builder/cmd/artifact-builder \
		./services/feature-store/cmd/feature-store)

	log "starting MariaDB"
	eval "$(bash "$ROOT/scripts/test-databases.sh")"
	mysql -uroot -h127.0.0.1 --protocol=tcp -e "CREATE DATABASE IF NOT EXISTS \`$DB\`"
	local dsn="mysql://root@tcp(127.0.0.1:3306)/$DB"
	log "migrating $dsn"
	"$BIN/compute" migrate -compute.db.dsn="$dsn" >>"$RUN_DIR/compute.log" 2>&1
	mysql -uroot -h127.0.0.1 --protocol=tcp -e "CREATE DATABASE IF NOT EXISTS \`$MLFLOW_DB\`"
	local mlflow_dsn="mysql://root@tcp(127.0.0.1:3306)/$MLFLOW_DB"
	log "migrating $mlflow_dsn"
	"$BIN/mlflow" migrate -mlflow.db.dsn="$mlflow_dsn" >>"$RUN_DIR/mlflow.log" 2>&1
	mysql -uroot -h127.0.0.1 --protocol=tcp -e "CREATE DATABASE IF NOT EXISTS \`$AB_DB\`"
	local ab_dsn="mysql://root@tcp(127.0.0.1:3306)/$AB_DB"
	log "migrating $ab_dsn"
	"$BIN/artifact-builder" migrate -artifact-builder.db.dsn="$ab_dsn" >>"$RUN_DIR/artifact-builder.log" 2>&1
	mysql -uroot -h127.0.0.1 --protocol=tcp -e "CREATE DATABASE IF NOT EXISTS \`$ML_SERVE_DB\`"
	local ml_serve_dsn="mysql://root@tcp(127.0.0.1:3306)/$ML_SERVE_DB"
	log "migrating $ml_serve_dsn"
	"$BIN/ml-serve" migrate -ml-serve.db.dsn="$ml_serve_dsn" >>"$RUN_DIR/ml-serve.log" 2>&1
	mysql -uroot -h127.0.0.1 --protocol=tcp -e "CREATE DATABASE IF NOT EXISTS \`$FS_DB\`"
	local fs_dsn="mysql://root@tcp(127.0.0.1:3306)/$FS_DB"
	log "migrating $fs_dsn"
	"$BIN/feature-store" migrate -feature-store.db.dsn="$fs_dsn" >>"$RUN_DIR/feature-store.log" 2>&1

	log "starting cluster-manager on $CM_HTTP (gRPC $CM_GRPC)"
	start_bg cluster-manager "$RUN_DIR/cluster-manager.log" "$BIN/cluster-manager" \
		-server.http-addr="$CM_HTTP" -server.grpc-addr="$CM_GRPC" -cluster-manager.data-dir="$RUN_DIR/cluster-manager-data"
	wait_http cluster-manager "http://$CM_HTTP/readyz"

	log "starting compute on $COMPUTE_HTTP (gRPC $COMPUTE_GRPC)"
	start_bg compute "$RUN_DIR/compute.log" "$BIN/compute" \
		-server.http-addr="$COMPUTE_HTTP" -server.grpc-addr="$COMPUTE_GRPC" -compute.db.dsn="$dsn" \
		-compute.cluster-manager-addr="$CM_GRPC" -compute.public-url="$PUBLIC_URL"
	wait_http compute "http://$COMPUTE_HTTP/readyz"

	log "starting mlflow on $MLFLOW_HTTP"
	start_bg mlflow "$RUN_DIR/mlflow.log" "$BIN/mlflow" \
		-server.http-addr="$MLFLOW_HTTP" -server.grpc-addr= -mlflow.db.dsn="$mlflow_dsn" \
		-mlflow.data-dir="$RUN_DIR/mlflow-data" -mlflow.artifact-store="$RUN_DIR/mlflow-data/artifacts"
	wait_http mlflow "http://$MLFLOW_HTTP/readyz"

	log "starting artifact-builder on $AB_HTTP (pushing to $REGISTRY)"
	start_bg artifact-builder "$RUN_DIR/artifact-builder.log" "$BIN/artifact-builder" \
		-server.http-addr="$AB_HTTP" -server.grpc-addr= -artifact-builder.db.dsn="$ab_dsn" \
		-artifact-builder.data-dir="$RUN_DIR/artifact-builder-data" -artifact-builder.registry="$REGISTRY" \
		-artifact-builder.public-url="$PUBLIC_URL/artifact-builder"
	wait_http artifact-builder "http://$AB_HTTP/readyz"

	admin_token
	log "starting ml-serve on $ML_SERVE_HTTP (admin token in $RUN_DIR/ml-serve-admin-token)"
	# The token reaches ml-serve through its environment and config file, not argv (visible to every user).
	printf 'ml_serve:\n  bootstrap_admin_token: "${DARWIN_ADMIN_TOKEN}"\n' > "$RUN_DIR/ml-serve.yaml"
	DARWIN_ADMIN_TOKEN=$ADMIN_TOKEN start_bg ml-serve "$RUN_DIR/ml-serve.log" "$BIN/ml-serve" \
		-config.file="$RUN_DIR/ml-serve.yaml" -server.http-addr="$ML_SERVE_HTTP" -server.grpc-addr= \
		-ml-serve.db.dsn="$ml_serve_dsn" -ml-serve.data-dir="$RUN_DIR/ml-serve-data" \
		-ml-serve.cluster-manager-addr="$CM_GRPC" -ml-serve.mlflow-url="http://$MLFLOW_HTTP/mlflow-lib" \
		-ml-serve.artifact-builder-url="http://$AB_HTTP" -ml-serve.artifact-builder-public-url="$PUBLIC_URL/artifact-builder" \
		-ml-serve.public-url="$PUBLIC_URL" -ml-serve.container-registry="${REGISTRY%%/*}" \
		-ml-serve.image-repository="${REGISTRY#*/}"
	wait_http ml-serve "http://$ML_SERVE_HTTP/readyz"

	log "starting feature-store on $FS_HTTP"
	start_bg feature-store "$RUN_DIR/feature-store.log" "$BIN/feature-store" \
		-server.http-addr="$FS_HTTP" -server.grpc-addr= -feature-store.db.dsn="$fs_dsn" \
		-feature-store.data-dir="$RUN_DIR/feature-store-data"
	wait_http feature-store "http://$FS_HTTP/readyz"

	log "starting nginx on $NGINX_ADDR"
	render_nginx
	local dir=$RUN_DIR/nginx
	start_bg nginx "$RUN_DIR/nginx.log" "$NGINX" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
	wait_http nginx "http://$NGINX_ADDR/compute/healthcheck"
	ln -sf "$dir/error.log" "$RUN_DIR/nginx-error.log"
	ln -sf "$dir/access.log" "$RUN_DIR/nginx-access.log"
	smoke

	cat <<MSG
Darwin is running as separate services (logs in $RUN_DIR):
  ingress (nginx)   http://$NGINX_ADDR
  compute           http://$NGINX_ADDR/compute/healthcheck    (direct: http://$COMPUTE_HTTP)
  cluster-manager   http://$NGINX_ADDR/cluster-manager/healthcheck    (direct: http://$CM_HTTP)
  mlflow            MLFLOW_TRACKING_URI=http://$NGINX_ADDR/mlflow-lib    app: http://$NGINX_ADDR/mlflow-app/healthcheck    (direct: http://$MLFLOW_HTTP)
  ml-serve          http://$NGINX_ADDR/ml-serve/healthcheck    (direct: http://$ML_SERVE_HTTP; token: $RUN_DIR/ml-serve-admin-token)
  artifact-builder  http://$NGINX_ADDR/artifact-builder/healthcheck    (direct: http://$AB_HTTP; pushes to $REGISTRY)
  feature-store     http://$NGINX_ADDR/feature-store/ (app), http://$NGINX_ADDR/feature-store-admin/ (admin)    (direct: http://$FS_HTTP; darwin --url http://$NGINX_ADDR feature-store ...)
  deployed models   http://$NGINX_ADDR/<serve>/    (through cluster-manager)
  Ray dashboards    http://$NGINX_ADDR/<cloud_env>/<cluster_id>-dashboard/
  database          mysql://root@127.0.0.1:3306/$DB (mlflow: $MLFLOW_DB, ml-serve: $ML_SERVE_DB, artifact-builder: $AB_DB, feature-store: $FS_DB)
Quick start:  curl -X POST http://$NGINX_ADDR/compute/cluster -H 'Content-Type: application/json' -d @cluster.json
              curl -H "Authorization: Bearer \$(cat $RUN_DIR/ml-serve-admin-token)" http://$NGINX_ADDR/ml-serve/api/v1/serve
Stop with:    $0 stop
MSG
}

case "${1:-start}" in
start) start ;;
stop) stop_all ;;
status) status ;;
*) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac
