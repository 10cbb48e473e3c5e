#!/usr/bin/env bash
# dev-check.sh -- proves the schema files against a real PostgreSQL 15+.
# Needs psql and a superuser connection (default postgres@127.0.0.1:5432,
# trust auth; override with PGHOST, PGPORT, PGSUPERUSER). Creates scratch
# databases sqldev_<pid>_*, a cluster role vmx_supa_admin shaped like hosted
# Supabase's `postgres` (LOGIN, CREATEROLE, BYPASSRLS, member of the API
# roles, database owner, ALL on auth.users -- not a superuser) and applies
# every schema file as that role. Scratch databases are dropped at the end.
#   1. fresh: compat, then each of the five files twice (second run: no change)
#   2. legacy (all five original files + data + FK drift): the five files;
#      row counts kept, counters backfilled, legacy policies / duplicate
#      indexes gone, FKs fixed; a full re-run changes nothing
#   3. Option B (first four original files + data): only missing-tables-schema.sql;
#      user_limits for every profile with usage from the data; then the rest
#   4. probes as users A/B, anon and service_role (promises 1-6) on 1 and 2
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
SQL=$HERE
FIX=$ROOT/tests/fixtures
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432}
SUPER=${PGSUPERUSER:-postgres}
ADMIN=vmx_supa_admin
PREFIX=sqldev_$$
FILES=(schema assistant-schema phone-number-schema call-logs-schema missing-tables-schema)
DBS=()
export PGOPTIONS='-c client_min_messages=warning'

su()    { local db=$1; shift; psql -X -q -v ON_ERROR_STOP=1 -U "$SUPER" -d "$db" "$@"; }
admin() { local db=$1; shift; psql -X -q -v ON_ERROR_STOP=1 -U "$ADMIN" -d "$db" "$@"; }
val()   { local db=$1; shift; psql -X -q -At -v ON_ERROR_STOP=1 -U "$SUPER" -d "$db" -c "$@"; }
step()  { printf '\n== %s\n' "$*"; }
fail()  { echo "FAILED: $*" >&2; exit 1; }

cleanup() {
  for db in "${DBS[@]}"; do
    psql -X -q -U "$SUPER" -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  done
}
trap cleanup EXIT

# A scratch database with supabase-compat.sql applied (twice) and the
# Supabase-shaped admin role owning it.
new_db() {
  local db=${PREFIX}_$1
  su postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
  su "$db" -f "$SQL/supabase-compat.sql"
  su "$db" -f "$SQL/supabase-compat.sql"
  su "$db" <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$ADMIN') THEN
    CREATE ROLE $ADMIN LOGIN CREATEROLE BYPASSRLS;
  END IF;
END
\$\$;
GRANT anon, authenticated, service_role TO $ADMIN;
GRANT USAGE ON SCHEMA auth TO $ADMIN;
GRANT ALL ON TABLE auth.users TO $ADMIN;
ALTER DATABASE $db OWNER TO $ADMIN;
SQL
}

apply() { admin "$1" --single-transaction -f "$SQL/$2.sql"; }

# Everything a re-run must not change: catalog objects and every row.
SNAPSHOT=$(cat <<'SQL'
SELECT k, v FROM (
  SELECT 'policy' k, format('%s.%s %s %s %s %s %s', schemaname, tablename, policyname, permissive, cmd, roles, qual) || coalesce(with_check, '') v
    FROM pg_policies WHERE schemaname = 'public'
  UNION ALL SELECT 'trigger', pg_get_triggerdef(t.oid) || t.tgenabled::text
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
   WHERE NOT t.tgisinternal AND c.relnamespace IN ('public'::regnamespace, 'auth'::regnamespace)
  UNION ALL SELECT 'index', pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'public'::regnamespace
  UNION ALL SELECT 'constraint', conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL SELECT 'function', format('%s %s %s %s %s', p.oid::regprocedure, p.prosecdef, p.proconfig, p.proacl, md5(p.prosrc))
    FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
  UNION ALL SELECT 'table', format('%s %s %s', c.oid::regclass, c.relrowsecurity, c.relacl)
    FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
  UNION ALL SELECT 'column', format('%s.%s %s %s %s', a.attrelid::regclass, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attacl)
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
   WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL SELECT 'rows', t || ' ' || md5(query_to_xml(format('SELECT * FROM public.%I ORDER BY id', t), true, false, '')::text)
    FROM unnest(ARRAY['profiles','assistants','phone_numbers','call_logs','user_limits','usage_logs','call_analytics']) t
   WHERE to_regclass('public.' || t) IS NOT NULL
) s ORDER BY 1, 2
SQL
)
COUNTS="SELECT (SELECT count(*) FROM public.profiles) || ' ' || (SELECT count(*) FROM public.assistants) || ' ' ||
  (SELECT count(*) FROM public.phone_numbers) || ' ' || (SELECT count(*) FROM public.call_logs) || ' ' ||
  (SELECT count(*) FROM public.user_limits) || ' ' || (SELECT count(*) FROM public.usage_logs) || ' ' ||
  (SELECT count(*) FROM public.call_analytics)"

# Static expectations that hold after a full migration (any scenario).
static_checks() {
  su "$1" <<'SQL'
DO $$
DECLARE r record; n int;
BEGIN
  -- RLS on all seven tables; no policy without TO authenticated; names as designed
  SELECT count(*) INTO n FROM pg_class c WHERE c.oid IN ('public.profiles'::regclass, 'public.assistants'::regclass,
    'public.phone_numbers'::regclass, 'public.call_logs'::regclass, 'public.user_limits'::regclass,
    'public.usage_logs'::regclass, 'public.call_analytics'::regclass) AND c.relrowsecurity;
  IF n <> 7 THEN RAISE EXCEPTION 'BROKEN: RLS enabled on % of 7 tables', n; END IF;
  FOR r IN SELECT * FROM pg_policies WHERE schemaname = 'public' LOOP
    IF r.roles <> '{authenticated}' OR r.permissive <> 'PERMISSIVE'
       OR r.policyname !~ '^[a-z_]+_(select|insert|update|delete)_own$'
       OR coalesce(r.qual, r.with_check) NOT LIKE '%( SELECT auth.uid() AS uid)%' THEN
      RAISE EXCEPTION 'BROKEN: policy % on % is %/%/%', r.policyname, r.tablename, r.roles, r.qual, r.with_check;
    END IF;
  END LOOP;
  SELECT count(*) INTO n FROM pg_policies WHERE schemaname = 'public';
  IF n <> 14 THEN RAISE EXCEPTION 'BROKEN: % policies, expected 14', n; END IF;
  -- every public function pins search_path; no DEFINER function executable by anon/PUBLIC/authenticated
  FOR r IN SELECT p.oid::regprocedure AS f, p.prosecdef, p.proconfig, p.proacl FROM pg_proc p
           WHERE p.pronamespace = 'public'::regnamespace LOOP
    IF r.proconfig IS NULL OR NOT ('search_path=pg_catalog, pg_temp' = ANY (r.proconfig)) THEN
      RAISE EXCEPTION 'BROKEN: % has search_path %', r.f, r.proconfig; END IF;
    IF has_function_privilege('anon', r.f, 'EXECUTE') THEN RAISE EXCEPTION 'BROKEN: anon may execute %', r.f; END IF;
    IF r.prosecdef AND has_function_privilege('authenticated', r.f, 'EXECUTE') THEN
      RAISE EXCEPTION 'BROKEN: authenticated may execute DEFINER %', r.f; END IF;
  END LOOP;
  -- every FK column leads an index; FK actions as designed
  FOR r IN SELECT con.conrelid::regclass AS t, a.attname, con.confdeltype FROM pg_constraint con
           JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
           WHERE con.contype = 'f' AND con.connamespace = 'public'::regnamespace LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = r.t AND i.indkey[0] =
                   (SELECT attnum FROM pg_attribute WHERE attrelid = r.t AND attname = r.attname)) THEN
      RAISE EXCEPTION 'BROKEN: FK column %.% not indexed', r.t, r.attname; END IF;
    IF r.confdeltype <> (CASE WHEN r.attname IN ('assigned_assistant_id', 'phone_number_id')
                                   OR (r.t = 'public.call_logs'::regclass AND r.attname = 'assistant_id') THEN 'n' ELSE 'c' END) THEN
      RAISE EXCEPTION 'BROKEN: FK %.% ON DELETE %', r.t, r.attname, r.confdeltype; END IF;
  END LOOP;
  SELECT count(*) INTO n FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace;
  IF n <> 11 THEN RAISE EXCEPTION 'BROKEN: % foreign keys, expected 11', n; END IF;
  -- no exact duplicate indexes
  SELECT count(*) INTO n FROM (SELECT indrelid, substring(pg_get_indexdef(indexrelid) FROM ' USING .*$') d
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'public'::regnamespace
    GROUP BY 1, 2 HAVING count(*) > 1) x;
  IF n <> 0 THEN RAISE EXCEPTION 'BROKEN: % duplicate index groups', n; END IF;
  IF to_regclass('public.call_logs_user_id_started_at_idx') IS NULL THEN RAISE EXCEPTION 'BROKEN: no call_logs_user_id_started_at_idx'; END IF;
  -- triggers present and enabled
  SELECT count(*) INTO n FROM pg_trigger WHERE NOT tgisinternal AND tgenabled = 'O' AND tgname IN
    ('on_auth_user_created', 'on_auth_user_email_changed', 'set_updated_at', 'enforce_assistant_limit',
     'protect_assistant_ids', 'protect_phone_numbers', 'call_logs_track_completion', 'on_profile_created_create_limits',
     'track_assistant_usage', 'track_call_usage', 'track_call_usage_insert');
  IF n <> 17 THEN RAISE EXCEPTION 'BROKEN: % of 17 triggers present and enabled', n; END IF;
  -- anon has nothing on the tables; authenticated cannot write limits/logs
  FOR r IN SELECT unnest(ARRAY['profiles','assistants','phone_numbers','call_logs','user_limits','usage_logs','call_analytics']) t LOOP
    IF has_table_privilege('anon', 'public.' || r.t, 'SELECT,INSERT,UPDATE,DELETE') THEN RAISE EXCEPTION 'BROKEN: anon has privileges on %', r.t; END IF;
    IF NOT has_table_privilege('service_role', 'public.' || r.t, 'SELECT,INSERT,UPDATE,DELETE') THEN RAISE EXCEPTION 'BROKEN: service_role lacks privileges on %', r.t; END IF;
  END LOOP;
  IF has_any_column_privilege('authenticated', 'public.user_limits', 'UPDATE') OR has_column_privilege('authenticated', 'public.profiles', 'is_demo_user', 'UPDATE')
     OR has_any_column_privilege('authenticated', 'public.call_logs', 'INSERT') THEN
    RAISE EXCEPTION 'BROKEN: authenticated may write limits / demo flag / call logs'; END IF;
END
$$;
SQL
}

# Behavioural probes (promises 1-6) as users A and B; they create their own
# users, so they run on any migrated database.
probes() {
  su "$1" <<'SQL'
CREATE FUNCTION pg_temp.become(r text, u uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('role', r, true);
  PERFORM set_config('request.jwt.claims',
    CASE WHEN u IS NULL THEN '' ELSE json_build_object('sub', u, 'role', r)::text END, true);
END $$;
CREATE FUNCTION pg_temp.expect_error(q text, states text[], what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    EXECUTE q;
  EXCEPTION WHEN OTHERS THEN
    IF SQLSTATE = ANY (states) THEN RETURN; END IF;
    RAISE EXCEPTION 'BROKEN: % -- expected SQLSTATE %, got % (%)', what, states, SQLSTATE, SQLERRM;
  END;
  RAISE EXCEPTION 'BROKEN: % -- succeeded: %', what, q;
END $$;
CREATE FUNCTION pg_temp.expect_rows(q text, expected bigint, what text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  EXECUTE 'WITH s AS (' || q || ') SELECT count(*) FROM s' INTO n;
  IF n IS DISTINCT FROM expected THEN RAISE EXCEPTION 'BROKEN: % -- % rows, expected %', what, n, expected; END IF;
END $$;
CREATE FUNCTION pg_temp.expect_eq(got anyelement, want anyelement, what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF got IS DISTINCT FROM want THEN RAISE EXCEPTION 'BROKEN: % -- got %, expected %', what, got, want; END IF;
END $$;

-- Promise 3: sign-up creates profile + limits; a broken sign-up still succeeds (WARNING).
INSERT INTO auth.users (id, email, raw_user_meta_data) VALUES
  ('a0000000-0000-0000-0000-00000000000a', 'probe-a@example.com', '{"full_name": "Probe A"}'),
  ('b0000000-0000-0000-0000-00000000000b', 'probe-b@example.com', '{}');
INSERT INTO auth.users (id, phone) VALUES ('f0000000-0000-0000-0000-00000000000f', '+15550000000');
DO $$
BEGIN
  PERFORM pg_temp.expect_rows($q$SELECT 1 FROM public.profiles WHERE id IN ('a0000000-0000-0000-0000-00000000000a','b0000000-0000-0000-0000-00000000000b') AND full_name IS NOT DISTINCT FROM CASE WHEN email LIKE 'probe-a%' THEN 'Probe A' END$q$, 2, 'sign-up creates profiles');
  PERFORM pg_temp.expect_rows($q$SELECT 1 FROM public.user_limits WHERE user_id IN ('a0000000-0000-0000-0000-00000000000a','b0000000-0000-0000-0000-00000000000b') AND plan_type = 'free' AND max_assistants = 1 AND max_call_time_seconds = 600$q$, 2, 'sign-up creates free limits');
  PERFORM pg_temp.expect_rows($q$SELECT 1 FROM auth.users WHERE id = 'f0000000-0000-0000-0000-00000000000f'$q$, 1, 'phone sign-up (NULL email) not broken');
  PERFORM pg_temp.expect_rows($q$SELECT 1 FROM public.profiles p JOIN public.user_limits l ON l.user_id = p.id WHERE p.id = 'f0000000-0000-0000-0000-00000000000f' AND p.email IS NULL$q$, 1, 'phone sign-up gets profile and limits (promise 13)');
END $$;
DELETE FROM auth.users WHERE id = 'f0000000-0000-0000-0000-00000000000f';

-- B's data, written as B and as service_role (webhook / analytics job).
DO $$
BEGIN
  PERFORM pg_temp.become('authenticated', 'b0000000-0000-0000-0000-00000000000b');
  INSERT INTO public.assistants (id, user_id, name) VALUES ('b1000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-00000000000b', 'B bot');
  INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name, assigned_assistant_id)
    VALUES ('b0000000-0000-0000-0000-00000000000b', '+15550001111', 'B line', 'b1000000-0000-0000-0000-000000000001');
  PERFORM pg_temp.become('service_role', NULL);
  INSERT INTO public.call_logs (user_id, assistant_id, vapi_call_id, status, duration_seconds)
    VALUES ('b0000000-0000-0000-0000-00000000000b', 'b1000000-0000-0000-0000-000000000001', 'probe-b-call-1', 'completed', 50);
  INSERT INTO public.call_analytics (user_id, period_start, period_end, total_calls)
    VALUES ('b0000000-0000-0000-0000-00000000000b', now() - interval '1 day', now(), 1);
END $$;

-- Promises 1 and 2 as user A.
DO $$
DECLARE
  b constant text := '''b0000000-0000-0000-0000-00000000000b''';
  t text;
  deny constant text[] := ARRAY['42501'];
BEGIN
  PERFORM pg_temp.become('authenticated', 'a0000000-0000-0000-0000-00000000000a');
  INSERT INTO public.assistants (id, user_id, name, configuration)
    VALUES ('a1000000-0000-0000-0000-000000000001', 'a0000000-0000-0000-0000-00000000000a', 'A bot', '{"voice": "x"}');
  PERFORM pg_temp.expect_rows($q$SELECT 1 FROM public.usage_logs WHERE action_type = 'assistant_created' AND resource_id = 'a1000000-0000-0000-0000-000000000001' AND assistant_count_change = 1$q$, 1, 'usage_logs assistant_created');
  PERFORM pg_temp.expect_rows($q$SELECT 1 FROM public.user_limits WHERE current_assistants = 1$q$, 1, 'current_assistants after create');
  PERFORM pg_temp.expect_error($q$INSERT INTO public.assistants (user_id, name) VALUES ('a0000000-0000-0000-0000-00000000000a', 'A bot 2')$q$, ARRAY['VX001'], 'free plan: second assistant as authenticated');
  -- reads: nothing of B in any table
  PERFORM pg_temp.expect_rows('SELECT 1 FROM public.profiles WHERE id = ' || b, 0, 'A sees B profile');
  FOREACH t IN ARRAY ARRAY['assistants','phone_numbers','call_logs','user_limits','usage_logs','call_analytics'] LOOP
    PERFORM pg_temp.expect_rows(format('SELECT 1 FROM public.%I WHERE user_id = %s', t, b), 0, 'A sees B rows in ' || t);
  END LOOP;
  -- inserts on B's account
  PERFORM pg_temp.expect_error('INSERT INTO public.assistants (user_id, name) VALUES (' || b || ', ''x'')', deny, 'A inserts assistant for B');
  PERFORM pg_temp.expect_error('INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name) VALUES (' || b || ', ''+15550002222'', ''x'')', deny, 'A inserts phone for B');
  PERFORM pg_temp.expect_error('INSERT INTO public.call_logs (user_id, assistant_id, status) VALUES (' || b || ', ''b1000000-0000-0000-0000-000000000001'', ''completed'')', deny, 'A inserts call log for B');
  PERFORM pg_temp.expect_error('INSERT INTO public.user_limits (user_id) VALUES (' || b || ')', deny, 'A inserts limits');
  PERFORM pg_temp.expect_error('INSERT INTO public.usage_logs (user_id, action_type) VALUES (' || b || ', ''x'')', deny, 'A inserts usage log');
  PERFORM pg_temp.expect_error('INSERT INTO public.call_analytics (user_id, period_start, period_end) VALUES (' || b || ', now(), now())', deny, 'A inserts analytics');
  PERFORM pg_temp.expect_error('INSERT INTO public.profiles (id, email) VALUES (gen_random_uuid(), ''z@example.com'')', deny, 'A inserts profile');
  -- updates / deletes of B's rows
  PERFORM pg_temp.expect_rows('UPDATE public.profiles SET full_name = ''pwned'' WHERE id = ' || b || ' RETURNING 1', 0, 'A updates B profile');
  PERFORM pg_temp.expect_rows('UPDATE public.assistants SET name = ''pwned'' WHERE user_id = ' || b || ' RETURNING 1', 0, 'A updates B assistant');
  PERFORM pg_temp.expect_rows('UPDATE public.phone_numbers SET notes = ''pwned'' WHERE user_id = ' || b || ' RETURNING 1', 0, 'A updates B phone');
  PERFORM pg_temp.expect_rows('DELETE FROM public.assistants WHERE user_id = ' || b || ' RETURNING 1', 0, 'A deletes B assistant');
  PERFORM pg_temp.expect_rows('DELETE FROM public.phone_numbers WHERE user_id = ' || b || ' RETURNING 1', 0, 'A deletes B phone');
  PERFORM pg_temp.expect_error('UPDATE public.assistants SET user_id = ' || b, deny, 'A moves assistant to B');
  PERFORM pg_temp.expect_error('DELETE FROM public.profiles WHERE id = ' || b, deny, 'A deletes profile');
  FOREACH t IN ARRAY ARRAY['call_logs','user_limits','usage_logs','call_analytics'] LOOP
    PERFORM pg_temp.expect_error(format('UPDATE public.%I SET created_at = now() WHERE user_id = %s', t, b), deny, 'A updates ' || t);
    PERFORM pg_temp.expect_error(format('DELETE FROM public.%I WHERE user_id = %s', t, b), deny, 'A deletes ' || t);
  END LOOP;
  -- promise 2: no self-escalation
  PERFORM pg_temp.expect_error($q$UPDATE public.user_limits SET plan_type = 'enterprise'$q$, deny, 'A raises own plan');
  PERFORM pg_temp.expect_error($q$UPDATE public.user_limits SET max_assistants = 1000$q$, deny, 'A raises own max_assistants');
  PERFORM pg_temp.expect_error($q$UPDATE public.profiles SET is_demo_user = false$q$, deny, 'A clears own demo flag');
  PERFORM pg_temp.expect_error($q$UPDATE public.assistants SET total_call_duration_seconds = 0$q$, deny, 'A resets own call total');
  -- what A may do with own rows
  PERFORM pg_temp.expect_rows($q$UPDATE public.profiles SET full_name = 'Probe A2' RETURNING 1$q$, 1, 'A updates own name');
  PERFORM pg_temp.expect_rows($q$UPDATE public.assistants SET name = 'A bot v2', configuration = '{}' RETURNING 1$q$, 1, 'A updates own assistant');
  PERFORM pg_temp.expect_rows($q$INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name) VALUES ('a0000000-0000-0000-0000-00000000000a', '+15550003333', 'A line') RETURNING 1$q$, 1, 'A inserts own phone');
  PERFORM pg_temp.expect_rows($q$UPDATE public.phone_numbers SET assigned_assistant_id = 'a1000000-0000-0000-0000-000000000001' RETURNING 1$q$, 1, 'A updates own phone');
  PERFORM pg_temp.expect_rows($q$DELETE FROM public.phone_numbers RETURNING 1$q$, 1, 'A deletes own phone');
  -- app functions: own id fine, B's id 42501; cleanup refused
  PERFORM pg_temp.expect_rows($q$SELECT * FROM public.check_user_assistant_limit('a0000000-0000-0000-0000-00000000000a') WHERE NOT can_create_assistant AND assistant_count = 1$q$, 1, 'check_user_assistant_limit own');
  PERFORM pg_temp.expect_rows($q$SELECT * FROM public.get_user_call_usage('a0000000-0000-0000-0000-00000000000a')$q$, 1, 'get_user_call_usage own');
  PERFORM pg_temp.expect_rows($q$SELECT * FROM public.sync_user_usage('a0000000-0000-0000-0000-00000000000a')$q$, 1, 'sync_user_usage own');
  PERFORM pg_temp.expect_error('SELECT * FROM public.check_user_assistant_limit(' || b || ')', deny, 'check_user_assistant_limit(B) as A');
  PERFORM pg_temp.expect_error('SELECT * FROM public.get_user_call_usage(' || b || ')', deny, 'get_user_call_usage(B) as A');
  PERFORM pg_temp.expect_error('SELECT * FROM public.sync_user_usage(' || b || ')', deny, 'sync_user_usage(B) as A');
  PERFORM pg_temp.expect_error('SELECT public.cleanup_expired_demos()', deny, 'cleanup_expired_demos as authenticated');
  PERFORM pg_temp.expect_error('SELECT public.cleanup_demo_users_with_call_limits()', deny, 'cleanup_demo_users_with_call_limits as authenticated');
END $$;

-- anon sees nothing and executes nothing.
DO $$
DECLARE t text;
BEGIN
  PERFORM pg_temp.become('anon', NULL);
  FOREACH t IN ARRAY ARRAY['profiles','assistants','phone_numbers','call_logs','user_limits','usage_logs','call_analytics'] LOOP
    PERFORM pg_temp.expect_error(format('SELECT 1 FROM public.%I', t), ARRAY['42501'], 'anon reads ' || t);
  END LOOP;
  PERFORM pg_temp.expect_error($q$SELECT * FROM public.get_user_call_usage('b0000000-0000-0000-0000-00000000000b')$q$, ARRAY['42501'], 'anon executes get_user_call_usage');
  PERFORM pg_temp.expect_error('SELECT public.cleanup_expired_demos()', ARRAY['42501'], 'anon executes cleanup');
END $$;

-- Promise 2 as service_role; promise 4: the VAPI webhook upsert, as service_role.
DO $$
DECLARE
  upsert constant text := $q$INSERT INTO public.call_logs (user_id, assistant_id, vapi_call_id, status, duration_seconds, ended_at)
    VALUES ('a0000000-0000-0000-0000-00000000000a', 'a1000000-0000-0000-0000-000000000001', 'probe-a-call-1', %L, %s, %s)
    ON CONFLICT (vapi_call_id) DO UPDATE SET status = excluded.status, duration_seconds = excluded.duration_seconds,
      ended_at = excluded.ended_at$q$;
  used integer; total integer;
BEGIN
  PERFORM pg_temp.become('service_role', NULL);
  PERFORM pg_temp.expect_error($q$INSERT INTO public.assistants (user_id, name) VALUES ('a0000000-0000-0000-0000-00000000000a', 'A bot 2')$q$, ARRAY['VX001'], 'free plan: second assistant as service_role');
  EXECUTE format(upsert, 'in_progress', 0, 'NULL');
  PERFORM pg_temp.expect_rows($q$SELECT 1 FROM public.usage_logs WHERE action_type = 'call_completed' AND user_id = 'a0000000-0000-0000-0000-00000000000a'$q$, 0, 'in_progress counts nothing');
  EXECUTE format(upsert, 'completed', 100, 'now()');
  EXECUTE format(upsert, 'completed', 100, 'now()');   -- replay
  EXECUTE format(upsert, 'completed', 100, 'now()');   -- replay
  SELECT used_call_time_seconds INTO used FROM public.user_limits WHERE user_id = 'a0000000-0000-0000-0000-00000000000a';
  SELECT total_call_duration_seconds INTO total FROM public.assistants WHERE id = 'a1000000-0000-0000-0000-000000000001';
  PERFORM pg_temp.expect_eq(used, 100, 'used after completion replayed 3x');
  PERFORM pg_temp.expect_eq(total, 100, 'assistant total after completion replayed 3x');
  PERFORM pg_temp.expect_rows($q$SELECT 1 FROM public.usage_logs WHERE action_type = 'call_completed' AND user_id = 'a0000000-0000-0000-0000-00000000000a' AND call_time_change_seconds = 100 AND trigger_reason = 'call completed'$q$, 1, 'one call_completed usage row');
  EXECUTE format(upsert, 'completed', 130, 'now()');   -- corrected duration
  EXECUTE format(upsert, 'in_progress', 0, 'NULL');    -- late event
  SELECT used_call_time_seconds INTO used FROM public.user_limits WHERE user_id = 'a0000000-0000-0000-0000-00000000000a';
  SELECT total_call_duration_seconds INTO total FROM public.assistants WHERE id = 'a1000000-0000-0000-0000-000000000001';
  PERFORM pg_temp.expect_eq(used, 130, 'used after corrected duration + late event');
  PERFORM pg_temp.expect_eq(total, 130, 'assistant total after corrected duration + late event');
  PERFORM pg_temp.expect_rows($q$SELECT 1 FROM public.call_logs WHERE vapi_call_id = 'probe-a-call-1' AND status = 'completed' AND duration_seconds = 130 AND ended_at IS NOT NULL AND counted_duration_seconds = 130$q$, 1, 'late in_progress ignored');
  PERFORM pg_temp.expect_rows($q$SELECT 1 FROM public.usage_logs WHERE resource_id = (SELECT id::text FROM public.call_logs WHERE vapi_call_id = 'probe-a-call-1') AND call_time_change_seconds = 30 AND trigger_reason = 'duration corrected'$q$, 1, 'duration corrected usage row');
  PERFORM pg_temp.expect_rows($q$SELECT * FROM public.get_user_call_usage('a0000000-0000-0000-0000-00000000000a') WHERE total_call_seconds = 130 AND call_count = 1$q$, 1, 'get_user_call_usage as service_role');
  PERFORM pg_temp.expect_rows($q$SELECT * FROM public.sync_user_usage('a0000000-0000-0000-0000-00000000000a') WHERE assistants_count = 1 AND total_call_seconds = 130$q$, 1, 'sync_user_usage as service_role');
END $$;
-- Deleting an assistant is audited and recounted; a raised limit allows more.
DO $$
BEGIN
  PERFORM pg_temp.become('service_role', NULL);
  PERFORM pg_temp.expect_error($q$INSERT INTO public.assistants (user_id, name) VALUES ('b0000000-0000-0000-0000-00000000000b', 'B bot 2')$q$, ARRAY['VX001'], 'B second assistant');
  UPDATE public.user_limits SET max_assistants = 2, plan_type = 'pro' WHERE user_id = 'b0000000-0000-0000-0000-00000000000b';
  INSERT INTO public.assistants (id, user_id, name) VALUES ('b1000000-0000-0000-0000-000000000002', 'b0000000-0000-0000-0000-00000000000b', 'B bot 2');
  DELETE FROM public.assistants WHERE id = 'b1000000-0000-0000-0000-000000000002';
  PERFORM pg_temp.expect_rows($q$SELECT 1 FROM public.usage_logs WHERE action_type = 'assistant_deleted' AND assistant_count_change = -1 AND resource_id = 'b1000000-0000-0000-0000-000000000002'$q$, 1, 'assistant_deleted usage row');
  PERFORM pg_temp.expect_rows($q$SELECT 1 FROM public.user_limits WHERE user_id = 'b0000000-0000-0000-0000-00000000000b' AND current_assistants = 1$q$, 1, 'current_assistants after delete');
END $$;

-- Promise 5: cleanup functions (service_role) delete and count.
INSERT INTO auth.users (id, email) VALUES
  ('e0000000-0000-0000-0000-00000000000e', 'expired@example.com'),
  ('c0000000-0000-0000-0000-00000000000c', 'chatty@example.com');
UPDATE public.profiles SET demo_expires_at = now() - interval '1 day' WHERE id = 'e0000000-0000-0000-0000-00000000000e';
INSERT INTO public.assistants (id, user_id, name) VALUES ('c1000000-0000-0000-0000-000000000001', 'c0000000-0000-0000-0000-00000000000c', 'C bot');
INSERT INTO public.call_logs (user_id, assistant_id, vapi_call_id, status, duration_seconds)
  VALUES ('c0000000-0000-0000-0000-00000000000c', 'c1000000-0000-0000-0000-000000000001', 'probe-c-call-1', 'completed', 601);
DO $$
DECLARE n integer;
BEGIN
  PERFORM pg_temp.become('service_role', NULL);
  n := public.cleanup_expired_demos();
  PERFORM pg_temp.expect_eq(n, 1, 'cleanup_expired_demos count');
  n := public.cleanup_demo_users_with_call_limits();
  PERFORM pg_temp.expect_eq(n, 1, 'cleanup_demo_users_with_call_limits count');
  PERFORM pg_temp.become('none', NULL);
  PERFORM pg_temp.expect_rows($q$SELECT 1 FROM auth.users WHERE id IN ('e0000000-0000-0000-0000-00000000000e', 'c0000000-0000-0000-0000-00000000000c')$q$, 0, 'demo users deleted');
END $$;

-- Promise 6: deleting the auth user removes their rows from all seven tables.
DELETE FROM auth.users WHERE id IN ('a0000000-0000-0000-0000-00000000000a', 'b0000000-0000-0000-0000-00000000000b');
DO $$
DECLARE t text;
BEGIN
  PERFORM pg_temp.expect_rows($q$SELECT 1 FROM public.profiles WHERE id IN ('a0000000-0000-0000-0000-00000000000a', 'b0000000-0000-0000-0000-00000000000b')$q$, 0, 'cascade profiles');
  FOREACH t IN ARRAY ARRAY['assistants','phone_numbers','call_logs','user_limits','usage_logs','call_analytics'] LOOP
    PERFORM pg_temp.expect_rows(format($q$SELECT 1 FROM public.%I WHERE user_id IN ('a0000000-0000-0000-0000-00000000000a', 'b0000000-0000-0000-0000-00000000000b', 'c0000000-0000-0000-0000-00000000000c', 'e0000000-0000-0000-0000-00000000000e')$q$, t), 0, 'cascade ' || t);
  END LOOP;
END $$;
SQL
}

# ---------------------------------------------------------------------------
step "1. fresh database: compat, then each file twice as $ADMIN"
DB=${PREFIX}_fresh; DBS+=("$DB"); new_db fresh
for f in "${FILES[@]}"; do
  apply "$DB" "$f"
  before=$(val "$DB" "$SNAPSHOT")
  apply "$DB" "$f"
  after=$(val "$DB" "$SNAPSHOT")
  [[ "$before" == "$after" ]] || { diff <(echo "$before") <(echo "$after") || true; fail "re-running $f.sql changed something"; }
  echo "   $f.sql: applied, re-run changed nothing"
done
static_checks "$DB"; echo "   static checks passed"
probes "$DB"; echo "   probes passed (isolation, limits VX001, sign-up, webhook usage, demo cleanup, cascade)"

# ---------------------------------------------------------------------------
step "2. legacy database (all five original files) + data + FK drift"
DB=${PREFIX}_legacy; DBS+=("$DB"); new_db legacy
admin "$DB" -f "$FIX/legacy.sql" -f "$FIX/legacy-data.sql"
# drift: an FK with another action, and a missing FK
admin "$DB" -c "ALTER TABLE public.phone_numbers DROP CONSTRAINT phone_numbers_assigned_assistant_id_fkey;
  ALTER TABLE public.phone_numbers ADD CONSTRAINT pn_assistant_legacy FOREIGN KEY (assigned_assistant_id) REFERENCES public.assistants (id);
  ALTER TABLE public.call_logs DROP CONSTRAINT call_logs_user_id_fkey;"
before=$(val "$DB" "$COUNTS")
for f in "${FILES[@]}"; do apply "$DB" "$f"; done
after=$(val "$DB" "$COUNTS")
echo "   row counts before: $before, after: $after"
[[ "$before" == "$after" ]] || fail "row counts changed"
su "$DB" <<'SQL'
DO $$
DECLARE got text;
BEGIN
  SELECT string_agg(format('%s:%s/%s', p.email, l.current_assistants, l.used_call_time_seconds), ' ' ORDER BY p.email) INTO got
  FROM public.profiles p JOIN public.user_limits l ON l.user_id = p.id;
  IF got <> 'alice@example.com:2/195 bob@example.com:1/390 carol@example.com:1/0' THEN RAISE EXCEPTION 'BROKEN: user_limits backfill %', got; END IF;
  SELECT string_agg(format('%s:%s', name, total_call_duration_seconds), ' ' ORDER BY name) INTO got FROM public.assistants;
  IF got <> 'Alice Reception:165 Alice Sales:30 Bob Support:390 Carol Booking:0' THEN RAISE EXCEPTION 'BROKEN: assistant totals %', got; END IF;
  IF EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = 'public' AND (policyname LIKE 'Users can%' OR policyname LIKE 'System can%')) THEN
    RAISE EXCEPTION 'BROKEN: legacy policies left'; END IF;
  IF to_regclass('public.idx_user_limits_user_id') IS NOT NULL THEN RAISE EXCEPTION 'BROKEN: duplicate index kept'; END IF;
  IF EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'pn_assistant_legacy') THEN RAISE EXCEPTION 'BROKEN: drifted FK kept'; END IF;
END $$;
SQL
echo "   counters backfilled, legacy policies / duplicate index / drifted FKs gone"
static_checks "$DB"; echo "   static checks passed"
before=$(val "$DB" "$SNAPSHOT")
for f in "${FILES[@]}"; do apply "$DB" "$f"; done
after=$(val "$DB" "$SNAPSHOT")
[[ "$before" == "$after" ]] || { diff <(echo "$before") <(echo "$after") || true; fail "re-running the five files on the migrated legacy database changed something"; }
echo "   full re-run changed nothing"
probes "$DB"; echo "   probes passed"

# ---------------------------------------------------------------------------
step "3. Option B: first four original files + data, then only missing-tables-schema.sql"
DB=${PREFIX}_optb; DBS+=("$DB"); new_db optb
admin "$DB" -f "$FIX/legacy-four-files.sql" -f "$FIX/legacy-data.sql"
before=$(val "$DB" "SELECT (SELECT count(*) FROM public.profiles) || ' ' || (SELECT count(*) FROM public.assistants) || ' ' || (SELECT count(*) FROM public.phone_numbers) || ' ' || (SELECT count(*) FROM public.call_logs)")
apply "$DB" missing-tables-schema
after=$(val "$DB" "SELECT (SELECT count(*) FROM public.profiles) || ' ' || (SELECT count(*) FROM public.assistants) || ' ' || (SELECT count(*) FROM public.phone_numbers) || ' ' || (SELECT count(*) FROM public.call_logs)")
[[ "$before" == "$after" ]] || fail "Option B changed row counts: $before -> $after"
su "$DB" <<'SQL'
DO $$
DECLARE got text;
BEGIN
  SELECT string_agg(format('%s:%s/%s', p.email, l.current_assistants, l.used_call_time_seconds), ' ' ORDER BY p.email) INTO got
  FROM public.profiles p LEFT JOIN public.user_limits l ON l.user_id = p.id;
  IF got IS DISTINCT FROM 'alice@example.com:2/195 bob@example.com:1/390 carol@example.com:1/0' THEN
    RAISE EXCEPTION 'BROKEN: Option B user_limits %', got; END IF;
END $$;
SQL
echo "   user_limits for every profile with usage from the data"
before=$(val "$DB" "$SNAPSHOT")
apply "$DB" missing-tables-schema
after=$(val "$DB" "$SNAPSHOT")
[[ "$before" == "$after" ]] || { diff <(echo "$before") <(echo "$after") || true; fail "re-running missing-tables-schema.sql changed something"; }
echo "   re-run changed nothing"
for f in "${FILES[@]}"; do apply "$DB" "$f"; done
static_checks "$DB"; probes "$DB"
echo "   later vmx migrate of files 1-5 converges; static checks and probes passed"

step "all checks passed"
