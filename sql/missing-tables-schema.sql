-- missing-tables-schema.sql (5 of 5) -- user limits, usage audit, analytics.
-- Creates: tables public.user_limits, public.usage_logs (plus column
-- updated_at) and public.call_analytics with their RLS policies, grants,
-- indexes and updated_at triggers; triggers on_profile_created_create_limits
-- (profiles), track_assistant_usage (assistants), call_logs_track_completion,
-- track_call_usage and track_call_usage_insert (call_logs) and their
-- functions;
-- public.sync_user_usage(uuid); backfills a profile for every auth user and
-- user_limits for every profile, counters from the data (usage never
-- lowered); drops exact duplicate indexes on the seven tables.
-- Keeps (product.md section 1): 1 isolation, 2 limits (users cannot write
-- their limits or plan), 3 sign-up (limits row), 4 exact usage, 6 cascade,
-- 7 hygiene, 8 re-runnable, 9 every legacy column, 10 usage is permanent
-- (never lowered, by sync_user_usage or a re-run), 13 every account has its
-- rows (existing and phone-only users), 14 exact under concurrency
-- (counters move by additions under the limits row's lock).
-- Works after files 1-4, and also alone on a database built by hand from the
-- first four ORIGINAL files ("Option B", `vmx add-missing`): for that it
-- carries identical copies of set_updated_at() and sync_profile_email()
-- (with profiles.email made NULL-able and not UNIQUE) of schema.sql, and of
-- the usage tracking of call-logs-schema.sql (column
-- counted_duration_seconds, functions call_logs_track_completion,
-- track_call_usage and track_call_usage_insert and their triggers).
--
-- sync_user_usage is SECURITY INVOKER: for service_role (and the owner) it
-- rewrites the user's counters in user_limits from the data, never lowering
-- used_call_time_seconds (promise 10); for a signed-in user it only returns
-- the recomputed values for their own id (42501 for another id), since
-- authenticated has no UPDATE on user_limits.
--
-- Taking over a live database (product.md section 3): the counters that sum
-- every call (used_call_time_seconds, assistant totals) are recomputed
-- inside this transaction when psql runs the file, and, when vmx runs it
-- (vmx.concurrently = on), by the /* vmx:concurrently ... */ section at the
-- end, which vmx runs after this transaction commits, outside any
-- transaction, before it records the file: call_logs is only read, and the
-- app's webhooks never wait behind the recount. See call-logs-schema.sql.

-- ---------------------------------------------------------------------------
-- Lock order (taking over a live database): a webhook locks call_logs, then,
-- through the usage triggers, user_limits and usage_logs. This file changes
-- all of them, so it takes call_logs first, as the webhook does: otherwise a
-- webhook holding call_logs waits for this transaction's user_limits while
-- it waits for call_logs, and one of the two is cancelled. Held to commit
-- anyway (ALTER TABLE below); the transaction makes catalog changes only.
-- ---------------------------------------------------------------------------
DO $$
BEGIN
  IF pg_catalog.to_regclass('public.call_logs') IS NOT NULL THEN
    LOCK TABLE public.call_logs IN ACCESS EXCLUSIVE MODE;
  END IF;
END
$$;

-- ---------------------------------------------------------------------------
-- Recorded usage (promise 10): where vmx already kept user_limits (this
-- file ran before: usage_logs has its updated_at), used_call_time_seconds
-- is the permanent record and the backfill below never lowers it. On a
-- database built by hand, users could write that column themselves: it is
-- set from the data once. Decided before anything below changes it.
-- ---------------------------------------------------------------------------
DO $$
BEGIN
  PERFORM pg_catalog.set_config('vmx.usage_recorded_by_vmx',
    (pg_catalog.to_regclass('public.usage_logs') IS NOT NULL AND EXISTS (
       SELECT 1 FROM pg_catalog.pg_attribute a
       WHERE a.attrelid = pg_catalog.to_regclass('public.usage_logs')
         AND a.attname = 'updated_at' AND NOT a.attisdropped))::text,
    false);
END
$$;

-- ---------------------------------------------------------------------------
-- Tables (promises 8, 9).
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.user_limits (
  id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id                uuid NOT NULL UNIQUE REFERENCES public.profiles (id) ON DELETE CASCADE,
  plan_type              text DEFAULT 'free' CHECK (plan_type IN ('free', 'pro', 'business', 'enterprise')),
  max_assistants         integer DEFAULT 1,
  max_call_time_seconds  integer DEFAULT 600,
  current_assistants     integer DEFAULT 0,
  used_call_time_seconds integer DEFAULT 0,
  created_at             timestamptz DEFAULT now(),
  updated_at             timestamptz DEFAULT now()
);
ALTER TABLE public.user_limits ADD COLUMN IF NOT EXISTS created_at timestamptz DEFAULT now();
ALTER TABLE public.user_limits ADD COLUMN IF NOT EXISTS updated_at timestamptz DEFAULT now();
-- Its counters are updated in place by every completed call and by the
-- recount of a takeover: room on each page keeps those updates HOT (no
-- index entry per update). Storage parameter only; set once.
DO $$
BEGIN
  IF NOT coalesce((SELECT c.reloptions FROM pg_catalog.pg_class c
                   WHERE c.oid = 'public.user_limits'::regclass) @> ARRAY['fillfactor=50'], false) THEN
    ALTER TABLE public.user_limits SET (fillfactor = 50);
  END IF;
END
$$;

CREATE TABLE IF NOT EXISTS public.usage_logs (
  id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id                  uuid NOT NULL REFERENCES public.profiles (id) ON DELETE CASCADE,
  action_type              text NOT NULL,
  resource_id              text,
  assistant_count_change   integer DEFAULT 0,
  call_time_change_seconds integer DEFAULT 0,
  trigger_reason           text,
  details                  jsonb,
  created_at               timestamptz DEFAULT now()
);
-- Addition: lets the shared set_updated_at trigger run on every table.
ALTER TABLE public.usage_logs ADD COLUMN IF NOT EXISTS updated_at timestamptz DEFAULT now();

CREATE TABLE IF NOT EXISTS public.call_analytics (
  id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id                  uuid NOT NULL REFERENCES public.profiles (id) ON DELETE CASCADE,
  assistant_id             uuid REFERENCES public.assistants (id) ON DELETE CASCADE,
  period_type              text DEFAULT 'daily' CHECK (period_type IN ('daily', 'weekly', 'monthly')),
  period_start             timestamptz NOT NULL,
  period_end               timestamptz NOT NULL,
  total_calls              integer DEFAULT 0,
  successful_calls         integer DEFAULT 0,
  failed_calls             integer DEFAULT 0,
  total_duration_seconds   integer DEFAULT 0,
  average_duration_seconds integer DEFAULT 0,
  conversion_rate          numeric(5,2) DEFAULT 0,
  created_at               timestamptz DEFAULT now(),
  updated_at               timestamptz DEFAULT now()
);
ALTER TABLE public.call_analytics ADD COLUMN IF NOT EXISTS created_at timestamptz DEFAULT now();
ALTER TABLE public.call_analytics ADD COLUMN IF NOT EXISTS updated_at timestamptz DEFAULT now();

-- ---------------------------------------------------------------------------
-- Foreign keys (promise 6): everything cascades from profiles.
-- ---------------------------------------------------------------------------
DO $$
DECLARE
  s record;
  c record;
  ok boolean;
BEGIN
  FOR s IN
    SELECT * FROM (VALUES
      ('user_limits', 'user_id', 'public.profiles', 'id', 'c'),
      ('usage_logs', 'user_id', 'public.profiles', 'id', 'c'),
      ('call_analytics', 'user_id', 'public.profiles', 'id', 'c'),
      ('call_analytics', 'assistant_id', 'public.assistants', 'id', 'c')
    ) AS v(tbl, col, reftbl, refcol, action)
  LOOP
    ok := false;
    FOR c IN
      SELECT con.conname, con.confrelid, con.confdeltype::text AS deltype, con.confkey
      FROM pg_catalog.pg_constraint con
      WHERE con.conrelid = ('public.' || s.tbl)::regclass
        AND con.contype = 'f'
        AND con.conkey = ARRAY[(SELECT a.attnum FROM pg_catalog.pg_attribute a
                                WHERE a.attrelid = ('public.' || s.tbl)::regclass AND a.attname = s.col)]
    LOOP
      IF NOT ok
         AND c.confrelid = s.reftbl::regclass
         AND c.deltype = s.action
         AND c.confkey = ARRAY[(SELECT a.attnum FROM pg_catalog.pg_attribute a
                                WHERE a.attrelid = s.reftbl::regclass AND a.attname = s.refcol)] THEN
        ok := true;
      ELSE
        EXECUTE pg_catalog.format('ALTER TABLE public.%I DROP CONSTRAINT %I', s.tbl, c.conname);
      END IF;
    END LOOP;
    IF NOT ok THEN
      EXECUTE pg_catalog.format(
        'ALTER TABLE public.%I ADD CONSTRAINT %I FOREIGN KEY (%I) REFERENCES %s (%I) ON DELETE %s',
        s.tbl, s.tbl || '_' || s.col || '_fkey', s.col, s.reftbl, s.refcol,
        CASE s.action WHEN 'c' THEN 'CASCADE' ELSE 'SET NULL' END);
    END IF;
  END LOOP;
END
$$;

-- ---------------------------------------------------------------------------
-- Indexes (promise 7): FK columns (user_limits.user_id is served by its
-- UNIQUE constraint); created only if no equivalent index exists.
-- ---------------------------------------------------------------------------
DO $$
DECLARE
  s record;
BEGIN
  FOR s IN
    SELECT * FROM (VALUES
      ('usage_logs_user_id_created_at_idx', 'usage_logs', 'user_id, created_at'),
      ('call_analytics_user_id_period_start_idx', 'call_analytics', 'user_id, period_start'),
      ('call_analytics_assistant_id_idx', 'call_analytics', 'assistant_id')
    ) AS v(name, tbl, cols)
  LOOP
    IF NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_index i
      WHERE i.indrelid = ('public.' || s.tbl)::regclass
        AND substring(pg_catalog.pg_get_indexdef(i.indexrelid) FROM ' USING .*$') = ' USING btree (' || s.cols || ')'
    ) THEN
      EXECUTE pg_catalog.format('CREATE INDEX IF NOT EXISTS %I ON public.%I (%s)', s.name, s.tbl, s.cols);
    END IF;
  END LOOP;
END
$$;

-- ---------------------------------------------------------------------------
-- Row level security and policies (promises 1, 2, 7, 8): users only read
-- their own rows; the legacy policies (own-limits UPDATE, "System can ..."
-- true for every role) are dropped. Writers are service_role and triggers.
-- ---------------------------------------------------------------------------
ALTER TABLE public.user_limits ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.usage_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.call_analytics ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS "Users can view own limits" ON public.user_limits;
DROP POLICY IF EXISTS "Users can update own limits" ON public.user_limits;
DROP POLICY IF EXISTS "System can create limits" ON public.user_limits;
DROP POLICY IF EXISTS "Users can view own usage logs" ON public.usage_logs;
DROP POLICY IF EXISTS "System can create usage logs" ON public.usage_logs;
DROP POLICY IF EXISTS "Users can view own analytics" ON public.call_analytics;
DROP POLICY IF EXISTS "System can manage analytics" ON public.call_analytics;

DROP POLICY IF EXISTS user_limits_select_own ON public.user_limits;
CREATE POLICY user_limits_select_own ON public.user_limits
  AS PERMISSIVE FOR SELECT TO authenticated
  USING (user_id = (select auth.uid()));

DROP POLICY IF EXISTS usage_logs_select_own ON public.usage_logs;
CREATE POLICY usage_logs_select_own ON public.usage_logs
  AS PERMISSIVE FOR SELECT TO authenticated
  USING (user_id = (select auth.uid()));

DROP POLICY IF EXISTS call_analytics_select_own ON public.call_analytics;
CREATE POLICY call_analytics_select_own ON public.call_analytics
  AS PERMISSIVE FOR SELECT TO authenticated
  USING (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------
-- Grants (promises 1, 2, 7).
-- ---------------------------------------------------------------------------
REVOKE ALL ON TABLE public.user_limits FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON TABLE public.usage_logs FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON TABLE public.call_analytics FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT ON TABLE public.user_limits, public.usage_logs, public.call_analytics TO authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE public.user_limits, public.usage_logs, public.call_analytics TO service_role;

-- ---------------------------------------------------------------------------
-- updated_at (promise 7). Identical copy of schema.sql's function (Option B).
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.set_updated_at()
RETURNS trigger
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  NEW.updated_at := pg_catalog.now();
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION public.set_updated_at() FROM PUBLIC, anon, authenticated, service_role;

-- (The usage triggers set user_limits.updated_at with their addition: the
-- WHEN spares that row a second function call.)
CREATE OR REPLACE TRIGGER set_updated_at
  BEFORE UPDATE ON public.user_limits
  FOR EACH ROW
  WHEN (NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at)
  EXECUTE FUNCTION public.set_updated_at();
CREATE OR REPLACE TRIGGER set_updated_at
  BEFORE UPDATE ON public.usage_logs
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE OR REPLACE TRIGGER set_updated_at
  BEFORE UPDATE ON public.call_analytics
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

-- ---------------------------------------------------------------------------
-- call_analytics (promise 12 for the backend too): a row names only an
-- assistant of its own user. The analytics job writes it as service_role; a
-- stale or wrong assistant id would show one account's assistant to another
-- and let that account's assistant deletion (ON DELETE CASCADE) take the
-- other's analytics with it. Users cannot write it (no grant).
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.protect_call_analytics()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM public.assistants a
                 WHERE a.id = NEW.assistant_id AND a.user_id = NEW.user_id) THEN
    RAISE EXCEPTION 'assistant_id % is not an assistant of the row''s user', NEW.assistant_id
      USING ERRCODE = '23503';
  END IF;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION public.protect_call_analytics() FROM PUBLIC, anon, authenticated, service_role;

CREATE OR REPLACE TRIGGER protect_call_analytics
  BEFORE INSERT OR UPDATE OF user_id, assistant_id ON public.call_analytics
  FOR EACH ROW
  WHEN (NEW.assistant_id IS NOT NULL)
  EXECUTE FUNCTION public.protect_call_analytics();

-- ---------------------------------------------------------------------------
-- profiles.email (promise 13). Identical copy of schema.sql's (needed on an
-- Option B database): NULL-able, not UNIQUE, follows auth.users.email.
-- ---------------------------------------------------------------------------
ALTER TABLE public.profiles ALTER COLUMN email DROP NOT NULL;
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT con.conname
    FROM pg_catalog.pg_constraint con
    WHERE con.conrelid = 'public.profiles'::regclass
      AND con.contype = 'u'
      AND con.conkey = ARRAY[(SELECT a.attnum FROM pg_catalog.pg_attribute a
                              WHERE a.attrelid = 'public.profiles'::regclass AND a.attname = 'email')]
  LOOP
    EXECUTE pg_catalog.format('ALTER TABLE public.profiles DROP CONSTRAINT %I', r.conname);
  END LOOP;
  FOR r IN
    SELECT c.relname
    FROM pg_catalog.pg_index i
    JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
    WHERE i.indrelid = 'public.profiles'::regclass
      AND i.indisunique
      AND i.indkey::text = (SELECT a.attnum::text FROM pg_catalog.pg_attribute a
                            WHERE a.attrelid = 'public.profiles'::regclass AND a.attname = 'email')
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conindid = i.indexrelid)
  LOOP
    EXECUTE pg_catalog.format('DROP INDEX public.%I', r.relname);
  END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION public.sync_profile_email()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  BEGIN
    UPDATE public.profiles
    SET email = NEW.email
    WHERE id = NEW.id
      AND email IS DISTINCT FROM NEW.email;
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'vmx: sync_profile_email could not update the profile of %: % (%)',
      NEW.id, SQLERRM, SQLSTATE;
  END;
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION public.sync_profile_email() FROM PUBLIC, anon, authenticated, service_role;

CREATE OR REPLACE TRIGGER on_auth_user_email_changed
  AFTER UPDATE OF email ON auth.users
  FOR EACH ROW
  WHEN (NEW.email IS DISTINCT FROM OLD.email)
  EXECUTE FUNCTION public.sync_profile_email();

-- ---------------------------------------------------------------------------
-- Completion tracking (promise 4). Identical copy of call-logs-schema.sql's
-- (needed on an Option B database). Calls completed before vmx keep a NULL
-- counted_duration_seconds and count as their duration (call_logs is never
-- rewritten; see call-logs-schema.sql).
-- ---------------------------------------------------------------------------
ALTER TABLE public.call_logs ADD COLUMN IF NOT EXISTS counted_duration_seconds integer;

CREATE OR REPLACE FUNCTION public.call_logs_track_completion()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  -- The user and assistant of the call's earlier event (same vapi_call_id).
  v_user   uuid;
  v_stored uuid;
BEGIN
  IF (NEW.user_id IS NULL OR NEW.assistant_id IS NULL) AND NEW.vapi_call_id IS NOT NULL THEN
    SELECT c.user_id, c.assistant_id INTO v_user, v_stored
    FROM public.call_logs c
    WHERE c.vapi_call_id = NEW.vapi_call_id;
    IF NEW.user_id IS NULL THEN
      NEW.user_id := v_user;
    END IF;
  END IF;
  -- Lock order (promises 4, 10, 14): the call's assistant comes before the
  -- call's own row. An upsert's proposed row passes here before the row it
  -- conflicts with is locked, so a deletion of the assistant -- which holds
  -- it, then waits for the calls it detaches -- is waited for here, where
  -- that cannot deadlock: committed, the assistant is gone and the call is
  -- recorded without it; rolled back, or any other lock (a request that
  -- resends a unique column locks the row as for a key change), the call
  -- keeps it. track_call_usage() then finds the lock already held here.
  -- Only the user's own assistant is locked; another's (promise 12) or a
  -- missing one leaves the call without one, alike. (Phone numbers are not
  -- locked here: a user's update of several numbers takes their limits row
  -- first, which the completion takes after the call's row.)
  IF NEW.assistant_id IS NOT NULL THEN
    PERFORM 1 FROM public.assistants a
    WHERE a.id = NEW.assistant_id AND a.user_id = NEW.user_id
    FOR KEY SHARE;
    IF NOT FOUND THEN
      NEW.assistant_id := NULL;
    END IF;
  ELSIF v_stored IS NOT NULL THEN
    -- An upsert that names no assistant keeps the stored one: the same lock.
    PERFORM 1 FROM public.assistants a
    WHERE a.id = v_stored AND a.user_id = NEW.user_id
    FOR KEY SHARE;
  END IF;
  -- (Inserted rows this trigger does not see, and rows naming a missing or
  -- another user's number, are fixed per statement by
  -- track_call_usage_insert(); the foreign key is checked at commit.)
  -- A negative duration counts nothing (promise 4: usage is never lowered by a bad event).
  NEW.counted_duration_seconds := CASE WHEN NEW.status = 'completed' THEN greatest(coalesce(NEW.duration_seconds, 0), 0) END;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION public.call_logs_track_completion() FROM PUBLIC, anon, authenticated, service_role;

CREATE OR REPLACE TRIGGER call_logs_track_completion
  BEFORE INSERT ON public.call_logs
  FOR EACH ROW
  WHEN (NEW.status = 'completed' OR NEW.counted_duration_seconds IS NOT NULL OR NEW.user_id IS NULL)
  EXECUTE FUNCTION public.call_logs_track_completion();

-- ---------------------------------------------------------------------------
-- Sign-up (promise 3): every new profile gets its free-plan limits row;
-- failures are logged with RAISE WARNING and never break the sign-up.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.create_user_limits()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  BEGIN
    INSERT INTO public.user_limits (user_id)
    VALUES (NEW.id)
    ON CONFLICT (user_id) DO NOTHING;
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'vmx: create_user_limits could not create the limits for %: % (%)',
      NEW.id, SQLERRM, SQLSTATE;
  END;
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION public.create_user_limits() FROM PUBLIC, anon, authenticated, service_role;

CREATE OR REPLACE TRIGGER on_profile_created_create_limits
  AFTER INSERT ON public.profiles
  FOR EACH ROW EXECUTE FUNCTION public.create_user_limits();

-- ---------------------------------------------------------------------------
-- Assistant usage (promises 4, 14): after an assistant is created or
-- deleted, current_assistants moves by one and a usage_logs row is written.
-- An addition under the user_limits row lock (the row enforce_assistant_limit
-- locks before an insert), never a recount from a snapshot, so concurrent
-- inserts and deletes add up at READ COMMITTED and conflict (40001, to be
-- retried) at REPEATABLE READ. Does nothing when the profile is already gone
-- (cascade from auth.users).
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.track_assistant_usage()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_user   uuid;
  v_id     uuid;
  v_name   text;
  v_change integer;
  v_count  integer;
BEGIN
  IF TG_OP = 'DELETE' THEN
    v_user := OLD.user_id; v_id := OLD.id; v_name := OLD.name; v_change := -1;
  ELSE
    v_user := NEW.user_id; v_id := NEW.id; v_name := NEW.name; v_change := 1;
  END IF;

  IF NOT EXISTS (SELECT 1 FROM public.profiles WHERE id = v_user) THEN
    RETURN NULL;
  END IF;

  UPDATE public.user_limits
  SET current_assistants = greatest(coalesce(current_assistants, 0) + v_change, 0)
  WHERE user_id = v_user
  RETURNING current_assistants INTO v_count;
  IF NOT FOUND THEN
    SELECT pg_catalog.count(*)::integer INTO v_count
    FROM public.assistants
    WHERE user_id = v_user;
    INSERT INTO public.user_limits (user_id, current_assistants, used_call_time_seconds)
    SELECT v_user, v_count,
           (SELECT coalesce(sum(coalesce(c.counted_duration_seconds, CASE WHEN c.status = 'completed' THEN coalesce(c.duration_seconds, 0) END)), 0)::integer
            FROM public.call_logs c WHERE c.user_id = v_user)
    ON CONFLICT (user_id) DO NOTHING;
  END IF;

  INSERT INTO public.usage_logs
    (user_id, action_type, resource_id, assistant_count_change, call_time_change_seconds, trigger_reason, details)
  VALUES
    (v_user,
     CASE TG_OP WHEN 'DELETE' THEN 'assistant_deleted' ELSE 'assistant_created' END,
     v_id::text,
     v_change,
     0,
     CASE TG_OP WHEN 'DELETE' THEN 'assistant deleted' ELSE 'assistant created' END,
     -- The name's start only: these rows are permanent (promise 10), the
     -- name is the user's to make as long as they like.
     pg_catalog.jsonb_build_object('assistant_name', pg_catalog.left(v_name, 200), 'assistant_count', v_count));
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION public.track_assistant_usage() FROM PUBLIC, anon, authenticated, service_role;

CREATE OR REPLACE TRIGGER track_assistant_usage
  AFTER INSERT OR DELETE ON public.assistants
  FOR EACH ROW EXECUTE FUNCTION public.track_assistant_usage();

-- ---------------------------------------------------------------------------
-- Call usage (promises 4, 10, 14). Identical copy of call-logs-schema.sql's
-- (needed on an Option B database): INSERTs per statement, set-based over
-- the transition table; UPDATEs per row (BEFORE UPDATE, with the completion
-- rules), only where status, duration, counted seconds, user or assistant
-- change. Assistant totals, used_call_time_seconds and the call_completed
-- usage_logs rows.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.track_call_usage_insert()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_dangling boolean;
  v_counted  boolean;
BEGIN
  -- Lock order (promises 10, 14): the assistants and numbers the new calls
  -- name come first, as their deletion takes them first (then the calls it
  -- detaches, then the user's limits). One being deleted is waited for, and
  -- then seen gone below; one held here cannot be deleted until commit.
  PERFORM (SELECT pg_catalog.count(*) FROM (
             SELECT 1 FROM public.assistants a
             WHERE a.id IN (SELECT n.assistant_id FROM new_calls n)
             FOR KEY SHARE) x),
          (SELECT pg_catalog.count(*) FROM (
             SELECT 1 FROM public.phone_numbers p
             WHERE p.id IN (SELECT n.phone_number_id FROM new_calls n)
             FOR KEY SHARE) y);
  -- Most INSERT statements (a webhook's "in progress" event, the INSERT half
  -- of an upsert that updated) count no seconds: one look, then return.
  SELECT bool_or((n.assistant_id IS NOT NULL AND a.id IS NULL)
                 OR (n.phone_number_id IS NOT NULL AND p.id IS NULL)),
         bool_or(n.counted_duration_seconds <> 0)
    INTO v_dangling, v_counted
  FROM new_calls n
  LEFT JOIN public.assistants a ON a.id = n.assistant_id AND a.user_id = n.user_id
  LEFT JOIN public.phone_numbers p ON p.id = n.phone_number_id AND p.user_id = n.user_id;
  -- Promise 10: a call naming an assistant or a number deleted meanwhile (a
  -- webhook after a mid-call deletion) is kept, without it. Promise 12: so
  -- is one naming another user's; an assistant's seconds, added below and
  -- taken off by this UPDATE's trigger (track_call_usage), net 0.
  IF v_dangling THEN
    UPDATE public.call_logs c
    SET assistant_id = CASE WHEN EXISTS (SELECT 1 FROM public.assistants a
                                         WHERE a.id = n.assistant_id AND a.user_id = n.user_id)
                            THEN n.assistant_id END,
        phone_number_id = CASE WHEN EXISTS (SELECT 1 FROM public.phone_numbers p
                                            WHERE p.id = n.phone_number_id AND p.user_id = n.user_id)
                               THEN n.phone_number_id END
    FROM new_calls n
    WHERE c.id = n.id
      AND ((n.assistant_id IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM public.assistants a
                            WHERE a.id = n.assistant_id AND a.user_id = n.user_id))
        OR (n.phone_number_id IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM public.phone_numbers p
                            WHERE p.id = n.phone_number_id AND p.user_id = n.user_id)));
  END IF;
  IF v_counted IS NOT TRUE THEN
    RETURN NULL;
  END IF;
  IF pg_catalog.to_regclass('public.user_limits') IS NULL THEN
    UPDATE public.assistants a
    SET total_call_duration_seconds = coalesce(a.total_call_duration_seconds, 0) + s.delta,
        updated_at = pg_catalog.now()
    FROM (SELECT n.assistant_id, sum(n.counted_duration_seconds)::integer AS delta
          FROM new_calls n
          WHERE n.assistant_id IS NOT NULL AND n.counted_duration_seconds <> 0
          GROUP BY n.assistant_id) s
    WHERE a.id = s.assistant_id;
    RETURN NULL;
  END IF;
  WITH d AS (
    SELECT n.id, n.user_id, n.assistant_id, n.vapi_call_id, n.counted_duration_seconds AS delta
    FROM new_calls n
    WHERE n.counted_duration_seconds <> 0
  ), asst AS (
    UPDATE public.assistants a
    SET total_call_duration_seconds = coalesce(a.total_call_duration_seconds, 0) + s.delta,
        updated_at = pg_catalog.now()
    FROM (SELECT d.assistant_id, sum(d.delta)::integer AS delta
          FROM d WHERE d.assistant_id IS NOT NULL GROUP BY d.assistant_id) s
    WHERE a.id = s.assistant_id
    RETURNING 1
  ), u AS (
    SELECT d.user_id, sum(d.delta)::integer AS delta, pg_catalog.count(*) AS calls,
           (pg_catalog.array_agg(d.id))[1] AS id,
           (pg_catalog.array_agg(d.vapi_call_id))[1] AS vapi_call_id,
           (pg_catalog.array_agg(d.assistant_id))[1] AS assistant_id
    FROM d
    GROUP BY d.user_id
  ), lim AS (
    UPDATE public.user_limits l
    SET used_call_time_seconds = coalesce(l.used_call_time_seconds, 0) + u.delta,
        updated_at = pg_catalog.now()
    FROM u
    WHERE l.user_id = u.user_id
      -- The assistants before the limits, as everywhere (the InitPlan runs asst first).
      AND (SELECT pg_catalog.count(*) FROM asst) >= 0
    RETURNING l.user_id
  ), new_limits AS (
    -- A user without a limits row (its sign-up trigger failed) gets one from the data.
    INSERT INTO public.user_limits (user_id, current_assistants, used_call_time_seconds)
    SELECT u.user_id,
           (SELECT pg_catalog.count(*)::integer FROM public.assistants a WHERE a.user_id = u.user_id),
           (SELECT coalesce(sum(coalesce(c.counted_duration_seconds, CASE WHEN c.status = 'completed' THEN coalesce(c.duration_seconds, 0) END)), 0)::integer
            FROM public.call_logs c WHERE c.user_id = u.user_id)
    FROM u
    WHERE NOT EXISTS (SELECT 1 FROM lim WHERE lim.user_id = u.user_id)
    ON CONFLICT (user_id) DO NOTHING
  )
  -- One audit row per call; a statement that completes several calls of
  -- one user (a bulk import of history) writes one row for them.
  INSERT INTO public.usage_logs
    (user_id, action_type, resource_id, assistant_count_change, call_time_change_seconds, trigger_reason, details)
  SELECT u.user_id, 'call_completed', CASE WHEN u.calls = 1 THEN u.id::text END, 0, u.delta,
         CASE WHEN u.calls = 1 THEN 'call completed' ELSE 'calls completed' END,
         CASE WHEN u.calls = 1
              THEN pg_catalog.jsonb_build_object('vapi_call_id', u.vapi_call_id,
                                                 'assistant_id', u.assistant_id,
                                                 'duration_seconds', u.delta)
              ELSE pg_catalog.jsonb_build_object('calls', u.calls, 'duration_seconds', u.delta)
         END
  FROM u;
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION public.track_call_usage_insert() FROM PUBLIC, anon, authenticated, service_role;

CREATE OR REPLACE FUNCTION public.track_call_usage()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  -- The call's seconds before (a call completed before vmx counts as its
  -- duration) and after.
  v_old integer := coalesce(OLD.counted_duration_seconds,
                            CASE WHEN OLD.status = 'completed' THEN coalesce(OLD.duration_seconds, 0) END, 0);
  v_new integer;
  -- The call's assistant when its deletion holds it (see below).
  v_gone uuid;
BEGIN
  IF NEW.user_id IS NULL AND NEW.vapi_call_id IS NOT NULL THEN
    SELECT c.user_id INTO NEW.user_id
    FROM public.call_logs c
    WHERE c.vapi_call_id = NEW.vapi_call_id;
  END IF;
  IF OLD.status = 'completed' AND NEW.status IS DISTINCT FROM 'completed' THEN
    NEW.status := OLD.status;
    NEW.duration_seconds := OLD.duration_seconds;
    NEW.ended_at := OLD.ended_at;
  END IF;
  -- A completion event without a duration (VAPI's status-only "ended"
  -- event), or with a negative one, brings no new duration: a call already
  -- completed keeps the one it has (promises 4, 10: usage is not erased by
  -- a replayed or partial event). A positive one corrects it.
  IF NEW.status = 'completed' AND OLD.status = 'completed'
     AND (NEW.duration_seconds IS NULL OR NEW.duration_seconds < 0) THEN
    NEW.duration_seconds := OLD.duration_seconds;
  END IF;
  NEW.counted_duration_seconds := CASE WHEN NEW.status = 'completed' THEN greatest(coalesce(NEW.duration_seconds, 0), 0)
                                       ELSE OLD.counted_duration_seconds END;
  -- (set_updated_at does not fire for the rows this trigger handles.)
  NEW.updated_at := pg_catalog.now();
  v_new := coalesce(NEW.counted_duration_seconds, 0);
  -- The call's assistant and number are the user's own and stay (promises
  -- 10, 12, 14). A deletion holds the assistant (or number) and then waits
  -- for this call's row, which this transaction holds, to detach it:
  -- waiting for the assistant here would deadlock, so one held by a
  -- deletion counts as gone (a KEY SHARE lock waits for no update of its
  -- totals, only for a deletion; SKIP LOCKED does not wait for that).
  IF NEW.assistant_id IS NOT NULL
     AND (NEW.assistant_id IS DISTINCT FROM OLD.assistant_id OR v_new <> v_old) THEN
    PERFORM 1 FROM public.assistants a
    WHERE a.id = NEW.assistant_id AND a.user_id = NEW.user_id
    FOR KEY SHARE SKIP LOCKED;
    IF NOT FOUND THEN
      IF NEW.assistant_id = OLD.assistant_id THEN
        v_gone := OLD.assistant_id;
      END IF;
      NEW.assistant_id := NULL;
    END IF;
  END IF;
  IF NEW.phone_number_id IS NOT NULL AND NEW.phone_number_id IS DISTINCT FROM OLD.phone_number_id THEN
    PERFORM 1 FROM public.phone_numbers p
    WHERE p.id = NEW.phone_number_id AND p.user_id = NEW.user_id
    FOR KEY SHARE SKIP LOCKED;
    IF NOT FOUND THEN
      NEW.phone_number_id := NULL;
    END IF;
  END IF;

  IF NEW.user_id = OLD.user_id AND NEW.assistant_id IS NOT DISTINCT FROM OLD.assistant_id THEN
    IF v_new = v_old THEN
      RETURN NEW;
    END IF;
    IF pg_catalog.to_regclass('public.user_limits') IS NULL THEN
      UPDATE public.assistants
      SET total_call_duration_seconds = coalesce(total_call_duration_seconds, 0) + (v_new - v_old),
          updated_at = pg_catalog.now()
      WHERE id = NEW.assistant_id;
      RETURN NEW;
    END IF;
    -- A webhook's completion: one statement. The assistant row is locked
    -- before the limits row, as an assistant's deletion does (the InitPlans
    -- order the two updates).
    WITH asst AS (
      UPDATE public.assistants
      SET total_call_duration_seconds = coalesce(total_call_duration_seconds, 0) + (v_new - v_old),
          updated_at = pg_catalog.now()
      WHERE id = NEW.assistant_id
      RETURNING 1
    ), lim AS (
      UPDATE public.user_limits
      SET used_call_time_seconds = coalesce(used_call_time_seconds, 0) + (v_new - v_old),
          updated_at = pg_catalog.now()
      WHERE user_id = NEW.user_id
        AND (SELECT pg_catalog.count(*) FROM asst) >= 0
      RETURNING 1
    )
    INSERT INTO public.usage_logs
      (user_id, action_type, resource_id, assistant_count_change, call_time_change_seconds, trigger_reason, details)
    SELECT NEW.user_id, 'call_completed', NEW.id::text, 0, v_new - v_old,
           CASE WHEN OLD.counted_duration_seconds IS NULL AND OLD.status IS DISTINCT FROM 'completed'
                THEN 'call completed' ELSE 'duration corrected' END,
           pg_catalog.jsonb_build_object('vapi_call_id', NEW.vapi_call_id,
                                         'assistant_id', NEW.assistant_id,
                                         'duration_seconds', v_new)
    WHERE (SELECT pg_catalog.count(*) FROM lim) >= 0
      AND EXISTS (SELECT 1 FROM public.profiles p WHERE p.id = NEW.user_id);
    RETURN NEW;
  END IF;
  -- The call moved to another assistant (or none: its assistant was deleted
  -- or is not the user's) or another user: its seconds move with it.
  UPDATE public.assistants
  SET total_call_duration_seconds = coalesce(total_call_duration_seconds, 0) - v_old,
      updated_at = pg_catalog.now()
  WHERE id = OLD.assistant_id AND v_old <> 0
    AND OLD.assistant_id IS DISTINCT FROM v_gone;
  UPDATE public.assistants
  SET total_call_duration_seconds = coalesce(total_call_duration_seconds, 0) + v_new,
      updated_at = pg_catalog.now()
  WHERE id = NEW.assistant_id AND v_new <> 0;
  IF pg_catalog.to_regclass('public.user_limits') IS NULL THEN
    RETURN NEW;
  END IF;
  IF NEW.user_id = OLD.user_id THEN
    UPDATE public.user_limits
    SET used_call_time_seconds = coalesce(used_call_time_seconds, 0) + (v_new - v_old),
        updated_at = pg_catalog.now()
    WHERE user_id = NEW.user_id AND v_new <> v_old;
  ELSE
    UPDATE public.user_limits
    SET used_call_time_seconds = coalesce(used_call_time_seconds, 0) - v_old,
        updated_at = pg_catalog.now()
    WHERE user_id = OLD.user_id AND v_old <> 0;
    UPDATE public.user_limits
    SET used_call_time_seconds = coalesce(used_call_time_seconds, 0) + v_new,
        updated_at = pg_catalog.now()
    WHERE user_id = NEW.user_id AND v_new <> 0;
  END IF;
  IF v_new <> v_old THEN
    INSERT INTO public.usage_logs
      (user_id, action_type, resource_id, assistant_count_change, call_time_change_seconds, trigger_reason, details)
    SELECT NEW.user_id, 'call_completed', NEW.id::text, 0, v_new - v_old,
           CASE WHEN OLD.counted_duration_seconds IS NULL AND OLD.status IS DISTINCT FROM 'completed'
                THEN 'call completed' ELSE 'duration corrected' END,
           pg_catalog.jsonb_build_object('vapi_call_id', NEW.vapi_call_id,
                                         'assistant_id', NEW.assistant_id,
                                         'duration_seconds', v_new)
    WHERE EXISTS (SELECT 1 FROM public.profiles p WHERE p.id = NEW.user_id);
  END IF;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION public.track_call_usage() FROM PUBLIC, anon, authenticated, service_role;

CREATE OR REPLACE TRIGGER track_call_usage_insert
  AFTER INSERT ON public.call_logs
  REFERENCING NEW TABLE AS new_calls
  FOR EACH STATEMENT EXECUTE FUNCTION public.track_call_usage_insert();

-- BEFORE UPDATE, only for rows whose status, duration, counted seconds,
-- assistant or user change (set_updated_at fires for exactly the others).
CREATE OR REPLACE TRIGGER track_call_usage
  BEFORE UPDATE ON public.call_logs
  FOR EACH ROW
  WHEN (NEW.status IS DISTINCT FROM OLD.status
        OR NEW.duration_seconds IS DISTINCT FROM OLD.duration_seconds
        OR NEW.counted_duration_seconds IS DISTINCT FROM OLD.counted_duration_seconds
        OR NEW.assistant_id IS DISTINCT FROM OLD.assistant_id
        OR NEW.user_id IS DISTINCT FROM OLD.user_id
        OR (NEW.phone_number_id IS NOT NULL AND NEW.phone_number_id IS DISTINCT FROM OLD.phone_number_id))
  EXECUTE FUNCTION public.track_call_usage();

-- ---------------------------------------------------------------------------
-- Usage repair (promises 1, 4): see the header; invoker, guarded.
-- ---------------------------------------------------------------------------
DROP FUNCTION IF EXISTS public.sync_user_usage(uuid);
CREATE FUNCTION public.sync_user_usage(user_uuid uuid)
RETURNS TABLE (assistants_count integer, total_call_seconds integer)
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_count integer;
  v_secs  integer;
BEGIN
  IF current_user IN ('authenticated', 'anon') AND user_uuid IS DISTINCT FROM auth.uid() THEN
    RAISE EXCEPTION 'may only be called for your own user id' USING ERRCODE = '42501';
  END IF;

  -- A recount that writes (service_role) holds the user's limits row first,
  -- the row every assistant insert and delete and every counted call takes
  -- (promise 14): none of them can commit between the count and the write
  -- and be undone by it. (The counts below then see all that committed.)
  IF current_user NOT IN ('authenticated', 'anon') THEN
    PERFORM 1 FROM public.user_limits l WHERE l.user_id = user_uuid FOR NO KEY UPDATE;
  END IF;
  SELECT pg_catalog.count(*)::integer INTO v_count
  FROM public.assistants a WHERE a.user_id = user_uuid;
  SELECT coalesce(sum(coalesce(c.counted_duration_seconds, CASE WHEN c.status = 'completed' THEN coalesce(c.duration_seconds, 0) END)), 0)::integer INTO v_secs
  FROM public.call_logs c WHERE c.user_id = user_uuid;

  -- Recorded usage is never lowered (promise 10): calls are permanent, so
  -- the data can only be short of it, never above, after history was lost.
  IF current_user NOT IN ('authenticated', 'anon') THEN
    UPDATE public.user_limits l
    SET current_assistants = v_count,
        used_call_time_seconds = greatest(coalesce(l.used_call_time_seconds, 0), v_secs)
    WHERE l.user_id = user_uuid
      AND (l.current_assistants IS DISTINCT FROM v_count
           OR l.used_call_time_seconds IS DISTINCT FROM greatest(coalesce(l.used_call_time_seconds, 0), v_secs));
  END IF;
  SELECT greatest(coalesce(max(l.used_call_time_seconds), 0), v_secs) INTO v_secs
  FROM public.user_limits l
  WHERE l.user_id = user_uuid;

  RETURN QUERY SELECT v_count, v_secs;
END
$$;
REVOKE ALL ON FUNCTION public.sync_user_usage(uuid) FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION public.sync_user_usage(uuid) TO authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Backfill (promises 3, 4, 8, 10, 13): every auth user gets a profile
-- (Option B: users present before) and every profile a limits row; the
-- counters are set from the data -- used_call_time_seconds never lowered
-- where vmx recorded it (see the top of this file).
-- Set-based; the counts are reported. Re-runs insert and touch no row.
-- ---------------------------------------------------------------------------
DO $$
DECLARE
  n_profiles integer;
  n_limits   integer := -(SELECT pg_catalog.count(*)::integer FROM public.user_limits);
BEGIN
  INSERT INTO public.profiles (id, email, full_name, avatar_url)
  SELECT u.id, u.email, u.raw_user_meta_data ->> 'full_name', u.raw_user_meta_data ->> 'avatar_url'
  FROM auth.users u
  WHERE NOT EXISTS (SELECT 1 FROM public.profiles p WHERE p.id = u.id)
  ON CONFLICT (id) DO NOTHING;
  GET DIAGNOSTICS n_profiles = ROW_COUNT;

  -- With the counters the data gives (used seconds: under vmx left to the
  -- vmx:concurrently section), so that the recount below has no new row to
  -- update (a second version of every row, a regression of 0.2.0).
  INSERT INTO public.user_limits (user_id, current_assistants, used_call_time_seconds)
  SELECT p.id, coalesce(a.n, 0)::integer, coalesce(u.seconds, 0)::integer
  FROM public.profiles p
  LEFT JOIN (SELECT a2.user_id, pg_catalog.count(*) AS n FROM public.assistants a2 GROUP BY a2.user_id) a
         ON a.user_id = p.id
  LEFT JOIN (SELECT c.user_id, sum(coalesce(c.counted_duration_seconds, CASE WHEN c.status = 'completed' THEN coalesce(c.duration_seconds, 0) END)) AS seconds
             FROM public.call_logs c
             WHERE pg_catalog.current_setting('vmx.concurrently', true) IS DISTINCT FROM 'on'
             GROUP BY c.user_id) u
         ON u.user_id = p.id
  WHERE NOT EXISTS (SELECT 1 FROM public.user_limits l WHERE l.user_id = p.id);
  -- (No ON CONFLICT, a speculative insertion per row: this transaction's
  -- ALTER TABLE and CREATE TRIGGER above hold user_limits exclusively.)
  -- New profiles got theirs from on_profile_created_create_limits: count all.
  n_limits := n_limits + (SELECT pg_catalog.count(*)::integer FROM public.user_limits);

  RAISE NOTICE 'vmx: created % missing profile(s) and % missing user_limits row(s) for existing users',
    n_profiles, n_limits;
END
$$;

-- Under vmx (see the header) the sum over call_logs is left to the
-- vmx:concurrently section: here only the assistant counts.
UPDATE public.user_limits l
SET current_assistants = s.n_assistants,
    used_call_time_seconds = CASE WHEN s.deferred THEN l.used_call_time_seconds ELSE s.used END,
    updated_at = pg_catalog.now()
FROM (
  SELECT p.id,
         coalesce(a.n, 0)::integer AS n_assistants,
         CASE WHEN pg_catalog.current_setting('vmx.usage_recorded_by_vmx', true) = 'true'
              THEN greatest(coalesce(l2.used_call_time_seconds, 0), coalesce(u.seconds, 0))
              ELSE coalesce(u.seconds, 0)
         END::integer AS used,
         pg_catalog.current_setting('vmx.concurrently', true) IS NOT DISTINCT FROM 'on' AS deferred
  FROM public.profiles p
  JOIN public.user_limits l2 ON l2.user_id = p.id
  LEFT JOIN (SELECT user_id, count(*) AS n FROM public.assistants GROUP BY user_id) a
         ON a.user_id = p.id
  LEFT JOIN (SELECT c.user_id, sum(coalesce(c.counted_duration_seconds, CASE WHEN c.status = 'completed' THEN coalesce(c.duration_seconds, 0) END)) AS seconds
             FROM public.call_logs c
             WHERE pg_catalog.current_setting('vmx.concurrently', true) IS DISTINCT FROM 'on'
             GROUP BY c.user_id) u
         ON u.user_id = p.id
) s
WHERE l.user_id = s.id
  AND (l.current_assistants IS DISTINCT FROM s.n_assistants
       OR (NOT s.deferred AND l.used_call_time_seconds IS DISTINCT FROM s.used));

-- Assistant totals from the data (as call-logs-schema.sql does; on an
-- Option B database the original guide never added durations). Under vmx
-- left to the vmx:concurrently section.
UPDATE public.assistants a
SET total_call_duration_seconds = s.total
FROM (
  SELECT a2.id, coalesce(sum(coalesce(c.counted_duration_seconds, CASE WHEN c.status = 'completed' THEN coalesce(c.duration_seconds, 0) END)), 0)::integer AS total
  FROM public.assistants a2
  LEFT JOIN public.call_logs c ON c.assistant_id = a2.id
  GROUP BY a2.id
) s
WHERE s.id = a.id
  AND a.total_call_duration_seconds IS DISTINCT FROM s.total
  AND pg_catalog.current_setting('vmx.concurrently', true) IS DISTINCT FROM 'on';

-- ---------------------------------------------------------------------------
-- Duplicate indexes (promise 7): an index that no constraint owns and whose
-- definition (columns, order, opclasses, expressions, predicate) equals a
-- constraint's index, or another such index with a smaller name, is dropped
-- (e.g. the legacy idx_user_limits_user_id next to UNIQUE (user_id)).
-- ---------------------------------------------------------------------------
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN
    WITH idx AS (
      SELECT i.indexrelid, i.indrelid, i.indisunique, c.relname,
             substring(pg_catalog.pg_get_indexdef(i.indexrelid) FROM ' USING .*$') AS def,
             EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                     WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid
                       AND k.contype IN ('p', 'u', 'x')) AS owned
      FROM pg_catalog.pg_index i
      JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
      WHERE i.indrelid IN ('public.profiles'::regclass, 'public.assistants'::regclass,
                           'public.phone_numbers'::regclass, 'public.call_logs'::regclass,
                           'public.user_limits'::regclass, 'public.usage_logs'::regclass,
                           'public.call_analytics'::regclass)
    )
    SELECT x.relname
    FROM idx x
    WHERE NOT x.owned
      AND EXISTS (
        SELECT 1 FROM idx y
        WHERE y.indrelid = x.indrelid
          AND y.indexrelid <> x.indexrelid
          AND y.def = x.def
          AND (y.indisunique OR NOT x.indisunique)
          AND (y.owned OR (y.indisunique = x.indisunique AND y.relname < x.relname))
      )
  LOOP
    EXECUTE pg_catalog.format('DROP INDEX public.%I', r.relname);
  END LOOP;
END
$$;

/* vmx:concurrently
-- Run by vmx after the transaction above commits, one statement at a time,
-- outside any transaction (see the header).

-- Usage from the data (promises 4, 10), while webhooks keep arriving: the
-- usage triggers have added every call since the transaction above (or
-- call-logs-schema.sql's) committed, so a counter is off from the data by a
-- constant, which one snapshot measures and an addition corrects (it
-- commutes with the triggers' additions, as a recount would not). As in
-- the transaction above (vmx.usage_recorded_by_vmx, decided there for this
-- session): usage vmx recorded is never lowered; a hand-built database's is
-- set from the data. call_logs is only read; a row is locked for the moment
-- of its update: measured first, whole, then applied in one short UPDATE.
DO $$
DECLARE
  v_users  uuid[];
  v_drifts integer[];
  v_lower  boolean := pg_catalog.current_setting('vmx.usage_recorded_by_vmx', true) IS DISTINCT FROM 'true';
BEGIN
  SELECT array_agg(d.user_id), array_agg(d.drift) INTO v_users, v_drifts
  FROM (
    SELECT l2.user_id,
           (coalesce(u.seconds, 0) - coalesce(l2.used_call_time_seconds, 0))::integer AS drift,
           l2.used_call_time_seconds IS NULL AS unset
    FROM public.user_limits l2
    LEFT JOIN (SELECT c.user_id, sum(coalesce(c.counted_duration_seconds, CASE WHEN c.status = 'completed' THEN coalesce(c.duration_seconds, 0) END)) AS seconds
               FROM public.call_logs c GROUP BY c.user_id) u
           ON u.user_id = l2.user_id
  ) d
  WHERE d.drift > 0 OR d.unset OR (d.drift < 0 AND v_lower);
  UPDATE public.user_limits l
  SET used_call_time_seconds = coalesce(l.used_call_time_seconds, 0) + d.drift,
      updated_at = pg_catalog.now()
  FROM unnest(v_users, v_drifts) AS d(user_id, drift)
  WHERE d.user_id = l.user_id;
END
$$;

-- Assistant totals, the same way (as call-logs-schema.sql's section).
-- Measured first, whole (no row locked while call_logs is read), then
-- applied in one short UPDATE.
DO $$
DECLARE
  v_ids    uuid[];
  v_drifts integer[];
BEGIN
  SELECT array_agg(d.id), array_agg(d.drift) INTO v_ids, v_drifts
  FROM (
    SELECT a2.id,
           (coalesce(sum(coalesce(c.counted_duration_seconds, CASE WHEN c.status = 'completed' THEN coalesce(c.duration_seconds, 0) END)), 0)
            - coalesce(a2.total_call_duration_seconds, 0))::integer AS drift,
           a2.total_call_duration_seconds IS NULL AS unset
    FROM public.assistants a2
    LEFT JOIN public.call_logs c ON c.assistant_id = a2.id
    GROUP BY a2.id
  ) d
  WHERE d.drift <> 0 OR d.unset;
  UPDATE public.assistants a
  SET total_call_duration_seconds = coalesce(a.total_call_duration_seconds, 0) + d.drift
  FROM unnest(v_ids, v_drifts) AS d(id, drift)
  WHERE d.id = a.id;
END
$$;
*/
