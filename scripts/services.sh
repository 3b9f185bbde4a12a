#!/usr/bin/env bash
# The real servers the data checks' tests read from: PostgreSQL 15, MariaDB 10.11 and Redis 7 at
# their standard local ports (trust auth; MariaDB root without a password; databases `test`).
# Installs Debian's packages when they are missing and starts each server that is not running,
# with the same commands the project's machines use; every wait is bounded. Tests that stop, hang
# or exhaust a server start a throwaway one of their own (readiness-checks/tests/common/servers.rs)
# and never touch these.
set -euo pipefail

say() { printf 'services: %s\n' "$*"; }

# Waits until "$@" succeeds, at most $1 seconds; exits 1 naming the service otherwise.
wait_for() {
  local what="$1" secs="$2"; shift 2
  local i
  for ((i = 0; i < secs * 4; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  echo "services: $what did not answer within ${secs}s" >&2
  exit 1
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else "$@"; fi
}

missing=()
command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
command -v redis-server >/dev/null || missing+=(redis-server)
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]} (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  as_root timeout 600 apt-get update -qq >/dev/null
  # A container has no init system: the packages' own start attempts may fail; this script starts
  # them below.
  as_root timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432; }
if ! pg_up; then
  version="$(ls /etc/postgresql | sort -V | tail -n 1)"
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  if [ -f "$hba" ] && ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    # The project's machines run PostgreSQL with trust auth on loopback; a fresh install asks
    # for peer/scram. Put trust lines first (first match wins) on this test machine's cluster.
    as_root sed -i '1i local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  say "starting PostgreSQL"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_for PostgreSQL 60 pg_up
fi
for db in test root; do
  if ! psql -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname = '$db'" | grep -q 1; then
    psql -q -h 127.0.0.1 -U postgres -c "create database \"$db\"" >/dev/null
  fi
done

maria_up() { mariadb-admin --protocol=tcp -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1; }
maria_socket_up() { mariadb-admin -u root ping >/dev/null 2>&1; }
if ! maria_up; then
  if ! maria_socket_up; then
    say "starting MariaDB"
    as_root mkdir -p /run/mysqld
    as_root chown mysql:mysql /run/mysqld 2>/dev/null || true
    as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    wait_for MariaDB 60 maria_socket_up
  fi
  if ! maria_up; then
    # A fresh install lets root in through the unix socket only; the project's machines let
    # root in over loopback TCP with an empty password.
    as_root mariadb -u root -e "ALTER USER root@localhost IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD(''); CREATE USER IF NOT EXISTS root@'127.0.0.1' IDENTIFIED BY ''; GRANT ALL ON *.* TO root@'127.0.0.1' WITH GRANT OPTION; FLUSH PRIVILEGES"
    wait_for MariaDB 30 maria_up
  fi
fi
mariadb --protocol=tcp -h 127.0.0.1 -u root -e 'CREATE DATABASE IF NOT EXISTS test'

redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }
if ! redis_up; then
  say "starting Redis"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis 30 redis_up
fi

say "PostgreSQL, MariaDB and Redis answer on 127.0.0.1 (5432, 3306, 6379)"
