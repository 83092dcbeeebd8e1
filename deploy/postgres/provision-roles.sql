-- Least-privilege roles for one service database: the one definition that the local runner (src/Oms.AppHost),
-- the tests (tests/Oms.Testing) and the containers (deploy/postgres/init-roles.sh: compose, AppHost container
-- mode) all run. Run it as a superuser, connected to the service's database (which must exist). Idempotent.
-- Parameters are session settings, set first with set_config():
--   oms.database           the database; its runtime role has the same name, its owner role is <database>_owner
--   oms.owner_password     password of <database>_owner: owns the database and schema public, runs migrations
--   oms.runtime_password   password of <database>: what the service connects as; DML on the tables, nothing else
--   oms.statement_timeout  the runtime role's statement_timeout (e.g. 10s)
DO $provision$
DECLARE
    db        text := current_setting('oms.database');
    owner     text := db || '_owner';
    runtime   text := db;
    timeout   text := current_setting('oms.statement_timeout');
    maintenance name;
BEGIN
    -- Runs of this script for different databases (parallel tests) would update the same catalog rows (the
    -- maintenance databases' ACLs) at once, which PostgreSQL refuses ("tuple concurrently updated"): one at a time,
    -- cluster-wide (an advisory lock would only cover one database; this lock self-conflicts and leaves DML alone).
    LOCK TABLE pg_catalog.pg_database IN SHARE UPDATE EXCLUSIVE MODE;
    IF db <> current_database() THEN
        RAISE EXCEPTION 'provision-roles.sql must run connected to database "%" (connected to "%")', db, current_database();
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = runtime AND oid = 10) THEN
        RAISE EXCEPTION 'role "%" is the cluster''s bootstrap superuser; it cannot become a runtime role (initialize the server with another superuser, e.g. postgres)', runtime;
    END IF;

    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = owner) THEN EXECUTE format('CREATE ROLE %I', owner); END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = runtime) THEN EXECUTE format('CREATE ROLE %I', runtime); END IF;
    EXECUTE format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %L',
                   owner, current_setting('oms.owner_password'));
    EXECUTE format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT PASSWORD %L',
                   runtime, current_setting('oms.runtime_password'));
    -- Migrations may legitimately run long: only the runtime role gets a statement_timeout.
    EXECUTE format('ALTER ROLE %I SET statement_timeout = %L', runtime, timeout);

    -- Before owner roles existed the runtime role owned the database and its tables: hand them over (no-op after).
    EXECUTE format('ALTER DATABASE %I OWNER TO %I', db, owner);
    EXECUTE format('REASSIGN OWNED BY %I TO %I', runtime, owner);
    EXECUTE format('ALTER SCHEMA public OWNER TO %I', owner);

    -- Nobody but these two roles (and superusers) may connect; the runtime role may only connect.
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', db);
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM %I', db, runtime);
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', db, runtime);
    -- The maintenance databases are open to PUBLIC by default: close them too (superusers are unaffected).
    FOR maintenance IN SELECT datname FROM pg_database WHERE datname IN ('postgres', 'template1') LOOP
        EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', maintenance);
    END LOOP;

    -- Schema: usage but no CREATE for the runtime role; DML on every table, now and created later by the owner.
    REVOKE ALL ON SCHEMA public FROM PUBLIC;
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', runtime);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I', runtime);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', runtime);
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', owner, runtime);
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO %I', owner, runtime);
END
$provision$;
