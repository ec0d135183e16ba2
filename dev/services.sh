#!/usr/bin/env bash
# Install (when missing) and start the services the full test suite needs, idempotently:
#   Redis       127.0.0.1:6379, no persistence           (Debian redis-server)
#   PostgreSQL  127.0.0.1:5432, trust for loopback, db test (Debian postgresql, pg_ctlcluster)
#   Chromium    headless browser + chromedriver           (Debian chromium, chromium-driver)
#   Kafka       broker jars in .cache/kafka/libs          (Maven Central, via mvn)
#   cc          a C compiler for the reads' C extension   (Debian gcc; setup.py, optional there)
#   wrk         HTTP load generator, only when asked      (Debian wrk; `make bench` asks for it)
# What is there already is checked first (command -v, open ports, a stamp), so a second run
# takes about a second. Installing needs root and apt-get; `make demo` needs none of this.
#
# Services a user already runs elsewhere: set FEATUREHOUSE_REDIS_URL and/or
# FEATUREHOUSE_PG_HOST (with _PORT, _USER, _DATABASE) and this script leaves them alone.
# FEATUREHOUSE_SERVICES="redis postgres chromium kafka cc" picks a subset (default: all; add wrk
# for the server benchmark: `make bench` runs this with FEATUREHOUSE_SERVICES="redis wrk").
set -euo pipefail
cd "$(dirname "$0")/.."

WANT=" ${FEATUREHOUSE_SERVICES:-redis postgres chromium kafka cc} "
REDIS_PORT=6379
PG_PORT=5432
KAFKA_LIBS=.cache/kafka/libs
say() { echo "services: $*" >&2; }
die() { echo "services: error: $*" >&2; exit 1; }
wants() { [[ "$WANT" == *" $1 "* ]]; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
    local name=$1 port=$2
    for _ in $(seq 1 60); do port_open "$port" && return 0; sleep 0.5; done
    die "$name did not start listening on 127.0.0.1:$port within 30 s"
}
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

# Services configured elsewhere are the user's: neither installed nor started here.
[ -n "${FEATUREHOUSE_REDIS_URL:-}" ] && WANT=${WANT/ redis / }
[ -n "${FEATUREHOUSE_PG_HOST:-}" ] && WANT=${WANT/ postgres / }

# 1. Debian packages: everything missing in one apt-get run.
packages=()
if wants redis && ! command -v redis-server >/dev/null; then packages+=(redis-server); fi
if wants postgres && [ -z "$(pg_bin)" ]; then packages+=(postgresql); fi
if wants chromium && ! command -v chromium >/dev/null; then packages+=(chromium); fi
if wants chromium && ! command -v chromedriver >/dev/null; then packages+=(chromium-driver); fi
if wants kafka && ! command -v java >/dev/null; then packages+=(openjdk-17-jre-headless); fi
if wants kafka && ! command -v mvn >/dev/null; then packages+=(maven); fi
if wants cc && ! command -v cc >/dev/null; then packages+=(gcc libc6-dev); fi
if wants wrk && ! command -v wrk >/dev/null; then packages+=(wrk); fi
if [ ${#packages[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        die "missing ${packages[*]}: install them (Debian: sudo apt-get install -y ${packages[*]})" \
            "or point the tests at your own services (see the README, 'Services')"
    fi
    say "installing ${packages[*]} (apt-get)"
    start=$SECONDS
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${packages[@]}" >/dev/null
    say "installed in $((SECONDS - start)) s"
fi

# 2. Redis: a throwaway server, nothing saved to disk.
if wants redis; then
    if port_open $REDIS_PORT; then
        say "Redis already answers on 127.0.0.1:$REDIS_PORT"
    else
        say "starting Redis on 127.0.0.1:$REDIS_PORT"
        redis-server --daemonize yes --bind 127.0.0.1 --port $REDIS_PORT --save "" \
            --appendonly no --logfile /tmp/featurehouse-redis.log >/dev/null
        wait_port Redis $REDIS_PORT
    fi
fi

# 3. PostgreSQL: trust auth on loopback (Debian's default is scram), a `test` database.
if wants postgres; then
    version=$(basename "$(dirname "$(pg_bin)")")
    conf_dir=/etc/postgresql/$version/main
    if [ ! -d "$conf_dir" ]; then
        [ "$(id -u)" = 0 ] || die "no PostgreSQL $version cluster: run as root or create one"
        say "creating PostgreSQL $version cluster main"
        pg_createcluster "$version" main >/dev/null
    fi
    hba=$conf_dir/pg_hba.conf
    if grep -Eq '^host\s+all\s+all\s+(127\.0\.0\.1/32|::1/128)\s+(scram-sha-256|md5)' "$hba"; then
        [ -w "$hba" ] || die "$hba asks for passwords on loopback: set it to trust (as root)"
        say "pg_hba.conf: trust for loopback connections"
        sed -Ei 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)(scram-sha-256|md5)/\1trust/' "$hba"
        if port_open $PG_PORT; then pg_ctlcluster "$version" main reload; fi
    fi
    if port_open $PG_PORT; then
        say "PostgreSQL already answers on 127.0.0.1:$PG_PORT"
    else
        say "starting PostgreSQL $version on 127.0.0.1:$PG_PORT"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start
        wait_port PostgreSQL $PG_PORT
    fi
    psql_cmd=(psql -h 127.0.0.1 -p $PG_PORT -U postgres -d postgres -qtAX)
    for _ in $(seq 1 20); do "${psql_cmd[@]}" -c 'select 1' >/dev/null 2>&1 && break; sleep 0.5; done
    if [ "$("${psql_cmd[@]}" -c "select 1 from pg_database where datname = 'test'")" != 1 ]; then
        say "creating database test"
        "${psql_cmd[@]}" -c 'create database test' >/dev/null
    fi
fi

# 4. Kafka: the broker's jars (one download, ~55 MB); dev/kafka_broker.py starts brokers.
if wants kafka; then
    stamp=$KAFKA_LIBS/.pom.sha256
    want_sum=$(sha256sum dev/kafka/pom.xml | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_sum" ]; then
        say "Kafka jars already in $KAFKA_LIBS"
    else
        say "fetching the Kafka broker jars into $KAFKA_LIBS (mvn)"
        start=$SECONDS
        rm -rf "$KAFKA_LIBS"
        log=$(mktemp)
        if ! mvn -B -q -f dev/kafka/pom.xml dependency:copy-dependencies \
            -DincludeScope=runtime -DoutputDirectory="$PWD/$KAFKA_LIBS" >"$log" 2>&1; then
            tail -20 "$log" >&2
            die "mvn could not fetch the Kafka jars (is Maven Central reachable?)"
        fi
        rm -f "$log"
        echo "$want_sum" >"$stamp"
        say "fetched $(ls "$KAFKA_LIBS" | wc -l) jars in $((SECONDS - start)) s"
    fi
fi
