-- The app's database role must not own the audit trail.
--
-- A table's owner can disable its triggers (the append-only guard), drop them, or replace
-- their function. So in production:
--   fraudcase_audit_owner  (no login) owns cases_auditevent and its append-only function;
--   fraudcase_app          (login, not a superuser) owns every other table (the worker
--                          rebuilds the similarity graph's table at run time) and may only
--                          SELECT and INSERT audit events (USAGE on their id sequence);
--   migrations run as a superuser or as a role that is a member of both (compose: the
--   database's superuser), then this script is run again to hand new tables over.
--
-- Idempotent: run it after every migrate, as a superuser (psql, for \getenv and \gexec):
--   FRAUDCASE_DB_APP_PASSWORD=... psql -v ON_ERROR_STOP=1 -d fraudcase -f audit-role.sql
-- and point the web, worker and beat's DATABASE_URL at fraudcase_app.
--
-- Whoever holds a superuser login can still rewrite the trail: the hash chain and the anchors
-- in the audit bucket (manage.py verify_audit) catch that.

\getenv app_password FRAUDCASE_DB_APP_PASSWORD

SELECT 'CREATE ROLE fraudcase_audit_owner NOLOGIN'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fraudcase_audit_owner') \gexec

SELECT 'CREATE ROLE fraudcase_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fraudcase_app') \gexec

SELECT format('ALTER ROLE fraudcase_app PASSWORD %L', :'app_password') \gexec

SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO fraudcase_app', current_database()) \gexec
-- CREATE: the similarity graph is rebuilt into a new table, then swapped in.
GRANT USAGE, CREATE ON SCHEMA public TO fraudcase_app;

-- Every relation of the app but the trail belongs to the app role (tables created by the
-- last migrate included); sequences owned by a column follow their table.
DO $$
DECLARE
    relation record;
BEGIN
    FOR relation IN
        SELECT c.oid::regclass AS name, c.relkind
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public'
          AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
          AND c.relname NOT IN ('cases_auditevent')
          AND pg_get_userbyid(c.relowner) <> 'fraudcase_app'
          AND NOT EXISTS (  -- a sequence owned by a column moves with its table
              SELECT FROM pg_depend d
              WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                AND d.deptype IN ('a', 'i') AND c.relkind = 'S'
          )
          AND NOT EXISTS (  -- objects of extensions (pgvector) stay where they are
              SELECT FROM pg_depend d
              WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
          )
    LOOP
        EXECUTE format('ALTER TABLE %s OWNER TO fraudcase_app', relation.name);
    END LOOP;
END
$$;

-- The trail: owned elsewhere, append-only for the app.
DO $$
BEGIN
    IF to_regclass('public.cases_auditevent') IS NULL THEN
        RAISE NOTICE 'cases_auditevent does not exist yet: run migrate, then this script again';
        RETURN;
    END IF;
    ALTER TABLE public.cases_auditevent OWNER TO fraudcase_audit_owner;
    ALTER FUNCTION public.cases_auditevent_append_only() OWNER TO fraudcase_audit_owner;
    REVOKE ALL ON public.cases_auditevent FROM fraudcase_app, PUBLIC;
    GRANT SELECT, INSERT ON public.cases_auditevent TO fraudcase_app;
    -- the id: an identity column's sequence (or a serial's)
    EXECUTE (
        SELECT format('REVOKE ALL ON SEQUENCE %s FROM fraudcase_app, PUBLIC; '
                      'GRANT USAGE ON SEQUENCE %s TO fraudcase_app',
                      seq, seq)
        FROM pg_get_serial_sequence('public.cases_auditevent', 'id') AS seq
    );
END
$$;
