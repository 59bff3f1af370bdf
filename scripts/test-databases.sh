#!/usr/bin/env bash
# Starts (when not already answering) the MariaDB, PostgreSQL and Redis servers the integration tests use, makes sure
# database `test` exists on both with password-less root/postgres access on 127.0.0.1, and prints the exports:
#   eval "$(scripts/test-databases.sh)"
# Idempotent; installs mariadb-server / postgresql / redis-server with apt-get when missing. Progress goes to stderr.
set -euo pipefail

log() { echo "test-databases: $*" >&2; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

wait_for() { # wait_for NAME CMD...
	local name=$1; shift
	for _ in $(seq 1 60); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.5
	done
	log "$name did not come up"; exit 1
}

apt_install() {
	log "installing $*"
	$SUDO apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >&2
}

# --- MariaDB ---------------------------------------------------------------------------------------------
mysql_tcp() { mysql -uroot -h127.0.0.1 --protocol=tcp "$@"; }
if ! mysql_tcp -e 'select 1' >/dev/null 2>&1; then
	[ -x /usr/sbin/mariadbd ] || apt_install mariadb-server
	if ! mysql -uroot -e 'select 1' >/dev/null 2>&1; then
		log "starting mariadb"
		$SUDO mkdir -p /run/mysqld && $SUDO chown mysql:mysql /run/mysqld
		$SUDO /etc/init.d/mariadb start >&2 ||
			$SUDO start-stop-daemon --start --oknodo --background --chuid mysql --exec /usr/sbin/mariadbd
		wait_for mariadb mysql -uroot -e 'select 1'
	fi
	# Allow password-less root over TCP (the socket login above works as the OS root user).
	$SUDO mysql -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('');
		CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
		GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; FLUSH PRIVILEGES;"
	wait_for "mariadb over tcp" mysql_tcp -e 'select 1'
fi
mysql_tcp -e 'CREATE DATABASE IF NOT EXISTS test'

# --- PostgreSQL ------------------------------------------------------------------------------------------
pg_tcp() { psql -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
if ! pg_isready -q -h 127.0.0.1; then
	[ -d /etc/postgresql ] && [ -n "$(ls /etc/postgresql)" ] || apt_install postgresql
	version=$(ls /etc/postgresql | sort -V | tail -1)
	log "starting postgresql $version"
	$SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
	wait_for postgresql pg_isready -q -h 127.0.0.1
fi
if ! pg_tcp -c 'select 1' >/dev/null 2>&1; then
	version=$(ls /etc/postgresql | sort -V | tail -1)
	hba=/etc/postgresql/$version/main/pg_hba.conf
	log "enabling trust auth for 127.0.0.1 in $hba"
	$SUDO sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
	$SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main reload >&2
	wait_for "postgresql trust auth" pg_tcp -c 'select 1'
fi
[ "$(pg_tcp -c "select 1 from pg_database where datname = 'test'")" = 1 ] || pg_tcp -c 'CREATE DATABASE test'

# --- Redis (the feature store's online-store suite) ---------------------------------------------------------
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
	[ -x /usr/bin/redis-server ] || apt_install redis-server
	log "starting redis"
	$SUDO redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save '' --appendonly no >&2
	wait_for redis redis-cli -h 127.0.0.1 -p 6379 ping
fi

echo "export DARWIN_TEST_MYSQL_DSN='mysql://root@tcp(127.0.0.1:3306)/test'"
echo "export DARWIN_TEST_POSTGRES_DSN='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'"
