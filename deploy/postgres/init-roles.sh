#!/usr/bin/env bash
# /docker-entrypoint-initdb.d script of the postgres image (compose, and the AppHost's container mode): on the
# first start of an empty data volume, creates each service database named in OMS_DATABASES (default: POSTGRES_DB)
# and provisions its owner and runtime roles with provision-roles.sql (mounted at OMS_PROVISION_SQL).
# Passwords come from the environment: <DB>_DB_OWNER_PASSWORD and <DB>_DB_PASSWORD (e.g. ORDERS_DB_PASSWORD).
# The entrypoint may source this file rather than run it, so it sets no shell options and does not exit on success.

oms_provision_sql="${OMS_PROVISION_SQL:-/oms/provision-roles.sql}"
oms_statement_timeout="${OMS_DB_STATEMENT_TIMEOUT:-10s}"
[ -r "$oms_provision_sql" ] || { echo "init-roles.sh: $oms_provision_sql is missing (mount deploy/postgres/provision-roles.sql there)" >&2; exit 1; }

for oms_db in ${OMS_DATABASES:-$POSTGRES_DB}; do
    oms_upper="$(printf '%s' "$oms_db" | tr '[:lower:]' '[:upper:]')"
    oms_owner_var="${oms_upper}_DB_OWNER_PASSWORD" oms_runtime_var="${oms_upper}_DB_PASSWORD"
    [ -n "${!oms_owner_var:-}" ] || { echo "init-roles.sh: $oms_owner_var is not set" >&2; exit 1; }
    [ -n "${!oms_runtime_var:-}" ] || { echo "init-roles.sh: $oms_runtime_var is not set" >&2; exit 1; }
    echo "init-roles.sh: database $oms_db, roles ${oms_db}_owner and $oms_db (statement_timeout $oms_statement_timeout)"

    psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres -v db="$oms_db" <<'SQL' || exit 1
SELECT format('CREATE DATABASE %I ENCODING ''UTF8''', :'db') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
    psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$oms_db" \
        -v db="$oms_db" -v owner_password="${!oms_owner_var}" -v runtime_password="${!oms_runtime_var}" \
        -v statement_timeout="$oms_statement_timeout" -v provision_sql="$oms_provision_sql" <<'SQL' || exit 1
SELECT set_config('oms.database', :'db', false), set_config('oms.owner_password', :'owner_password', false),
       set_config('oms.runtime_password', :'runtime_password', false), set_config('oms.statement_timeout', :'statement_timeout', false) \gset ignored_
\i :provision_sql
SQL
done
unset oms_db oms_upper oms_owner_var oms_runtime_var oms_provision_sql oms_statement_timeout
