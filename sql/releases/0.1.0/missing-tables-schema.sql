-- missing-tables-schema.sql (5 of 5) -- user limits, usage audit, analytics.
-- Creates: tables public.user_limits, public.usage_logs (plus column
-- updated_at) and public.call_analytics with their RLS policies, grants,
-- indexes and updated_at triggers; triggers on_profile_created_create_limits
-- (profiles), track_assistant_usage (assistants), track_call_usage and
-- track_call_usage_insert (call_logs) and their functions;
-- public.sync_user_usage(uuid); backfills user_limits for every profile from
-- the data; drops exact duplicate indexes on the seven tables.
-- Keeps (product.md section 1): 1 isolation, 2 limits (users cannot write
-- their limits or plan), 3 sign-up (limits row), 4 exact usage, 6 cascade,
-- 7 hygiene, 8 re-runnable, 9 every legacy column.
-- Works after files 1-4, and also alone on a database built by hand from the
-- first four ORIGINAL files ("Option B", `vmx add-missing`): for that it
-- carries identical copies of set_updated_at() and of the completion
-- tracking of call-logs-schema.sql (column counted_duration_seconds,
-- function and trigger call_logs_track_completion).
--
-- sync_user_usage is SECURITY INVOKER: for service_role (and the owner) it
-- rewrites the user's usage in user_limits from the data; for a signed-in
-- user it only returns the recomputed values for their own id (42501 for
-- another id), since authenticated has no UPDATE on user_limits.

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
SET search_path = ''
AS $$
BEGIN
  NEW.updated_at := pg_catalog.now();
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION public.set_updated_at() FROM PUBLIC, anon, authenticated, service_role;

CREATE OR REPLACE TRIGGER set_updated_at
  BEFORE UPDATE ON public.user_limits
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE OR REPLACE TRIGGER set_updated_at
  BEFORE UPDATE ON public.usage_logs
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE OR REPLACE TRIGGER set_updated_at
  BEFORE UPDATE ON public.call_analytics
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

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
SECURITY INVOKER
SET search_path = ''
AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.status = 'completed' AND NEW.status IS DISTINCT FROM 'completed' THEN
    NEW.status := OLD.status;
    NEW.duration_seconds := OLD.duration_seconds;
    NEW.ended_at := OLD.ended_at;
  END IF;
  IF NEW.status = 'completed' THEN
    NEW.counted_duration_seconds := coalesce(NEW.duration_seconds, 0);
  ELSIF TG_OP = 'UPDATE' THEN
    NEW.counted_duration_seconds := OLD.counted_duration_seconds;
  ELSE
    NEW.counted_duration_seconds := NULL;
  END IF;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION public.call_logs_track_completion() FROM PUBLIC, anon, authenticated, service_role;

CREATE OR REPLACE TRIGGER call_logs_track_completion
  BEFORE INSERT OR UPDATE ON public.call_logs
  FOR EACH ROW EXECUTE FUNCTION public.call_logs_track_completion();

-- ---------------------------------------------------------------------------
-- Sign-up (promise 3): every new profile gets its free-plan limits row;
-- failures are logged with RAISE WARNING and never break the sign-up.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.create_user_limits()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
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
-- Assistant usage (promise 4): after an assistant is created or deleted,
-- current_assistants is recounted and a usage_logs row written. Does nothing
-- when the profile is already gone (cascade from auth.users).
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.track_assistant_usage()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
  v_user  uuid;
  v_id    uuid;
  v_name  text;
  v_count integer;
BEGIN
  IF TG_OP = 'DELETE' THEN
    v_user := OLD.user_id; v_id := OLD.id; v_name := OLD.name;
  ELSE
    v_user := NEW.user_id; v_id := NEW.id; v_name := NEW.name;
  END IF;

  IF NOT EXISTS (SELECT 1 FROM public.profiles WHERE id = v_user) THEN
    RETURN NULL;
  END IF;

  SELECT pg_catalog.count(*)::integer INTO v_count
  FROM public.assistants
  WHERE user_id = v_user;

  UPDATE public.user_limits
  SET current_assistants = v_count
  WHERE user_id = v_user;
  IF NOT FOUND THEN
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
     CASE TG_OP WHEN 'DELETE' THEN -1 ELSE 1 END,
     0,
     CASE TG_OP WHEN 'DELETE' THEN 'assistant deleted' ELSE 'assistant created' END,
     pg_catalog.jsonb_build_object('assistant_name', v_name, 'assistant_count', v_count));
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION public.track_assistant_usage() FROM PUBLIC, anon, authenticated, service_role;

CREATE OR REPLACE TRIGGER track_assistant_usage
  AFTER INSERT OR DELETE ON public.assistants
  FOR EACH ROW EXECUTE FUNCTION public.track_assistant_usage();

-- ---------------------------------------------------------------------------
-- Call usage (promise 4): when a call's counted duration changes, the
-- difference is added to used_call_time_seconds and audited ('call
-- completed' the first time, 'duration corrected' after). Two triggers so
-- the WHEN clause can mention OLD on UPDATE.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.track_call_usage()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
  delta     integer;
  v_first   boolean;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM public.profiles WHERE id = NEW.user_id) THEN
    RETURN NULL;
  END IF;

  IF TG_OP = 'INSERT' THEN
    delta := coalesce(NEW.counted_duration_seconds, 0);
    v_first := true;
  ELSE
    delta := coalesce(NEW.counted_duration_seconds, 0) - coalesce(OLD.counted_duration_seconds, CASE WHEN OLD.status = 'completed' THEN coalesce(OLD.duration_seconds, 0) ELSE 0 END);
    v_first := OLD.counted_duration_seconds IS NULL AND OLD.status IS DISTINCT FROM 'completed';
  END IF;
  -- A replay of a call completed before vmx (counted column still NULL) changes nothing.
  IF delta = 0 THEN
    RETURN NULL;
  END IF;

  UPDATE public.user_limits
  SET used_call_time_seconds = coalesce(used_call_time_seconds, 0) + delta
  WHERE user_id = NEW.user_id;
  IF NOT FOUND THEN
    INSERT INTO public.user_limits (user_id, current_assistants, used_call_time_seconds)
    SELECT NEW.user_id,
           (SELECT pg_catalog.count(*)::integer FROM public.assistants a WHERE a.user_id = NEW.user_id),
           (SELECT coalesce(sum(coalesce(c.counted_duration_seconds, CASE WHEN c.status = 'completed' THEN coalesce(c.duration_seconds, 0) END)), 0)::integer
            FROM public.call_logs c WHERE c.user_id = NEW.user_id)
    ON CONFLICT (user_id) DO NOTHING;
  END IF;

  INSERT INTO public.usage_logs
    (user_id, action_type, resource_id, assistant_count_change, call_time_change_seconds, trigger_reason, details)
  VALUES
    (NEW.user_id, 'call_completed', NEW.id::text, 0, delta,
     CASE WHEN v_first THEN 'call completed' ELSE 'duration corrected' END,
     pg_catalog.jsonb_build_object('vapi_call_id', NEW.vapi_call_id,
                                   'assistant_id', NEW.assistant_id,
                                   'duration_seconds', NEW.counted_duration_seconds));
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION public.track_call_usage() FROM PUBLIC, anon, authenticated, service_role;

CREATE OR REPLACE TRIGGER track_call_usage
  AFTER UPDATE ON public.call_logs
  FOR EACH ROW
  WHEN (NEW.counted_duration_seconds IS DISTINCT FROM OLD.counted_duration_seconds)
  EXECUTE FUNCTION public.track_call_usage();

CREATE OR REPLACE TRIGGER track_call_usage_insert
  AFTER INSERT ON public.call_logs
  FOR EACH ROW
  WHEN (NEW.counted_duration_seconds IS NOT NULL)
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
SET search_path = ''
AS $$
DECLARE
  v_count integer;
  v_secs  integer;
BEGIN
  IF current_user IN ('authenticated', 'anon') AND user_uuid IS DISTINCT FROM auth.uid() THEN
    RAISE EXCEPTION 'may only be called for your own user id' USING ERRCODE = '42501';
  END IF;

  SELECT pg_catalog.count(*)::integer INTO v_count
  FROM public.assistants a WHERE a.user_id = user_uuid;
  SELECT coalesce(sum(coalesce(c.counted_duration_seconds, CASE WHEN c.status = 'completed' THEN coalesce(c.duration_seconds, 0) END)), 0)::integer INTO v_secs
  FROM public.call_logs c WHERE c.user_id = user_uuid;

  IF current_user NOT IN ('authenticated', 'anon') THEN
    UPDATE public.user_limits l
    SET current_assistants = v_count,
        used_call_time_seconds = v_secs
    WHERE l.user_id = user_uuid
      AND (l.current_assistants IS DISTINCT FROM v_count
           OR l.used_call_time_seconds IS DISTINCT FROM v_secs);
  END IF;

  RETURN QUERY SELECT v_count, v_secs;
END
$$;
REVOKE ALL ON FUNCTION public.sync_user_usage(uuid) FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION public.sync_user_usage(uuid) TO authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Backfill (promises 3, 4, 8): every profile gets a limits row (existing
-- users after Option B), and the counters are recomputed from the data.
-- Re-runs insert and touch no row.
-- ---------------------------------------------------------------------------
INSERT INTO public.user_limits (user_id)
SELECT p.id FROM public.profiles p
ON CONFLICT (user_id) DO NOTHING;

UPDATE public.user_limits l
SET current_assistants = s.n_assistants,
    used_call_time_seconds = s.used_seconds
FROM (
  SELECT p.id,
         coalesce(a.n, 0)::integer AS n_assistants,
         coalesce(u.seconds, 0)::integer AS used_seconds
  FROM public.profiles p
  LEFT JOIN (SELECT user_id, count(*) AS n FROM public.assistants GROUP BY user_id) a
         ON a.user_id = p.id
  LEFT JOIN (SELECT c.user_id, sum(coalesce(c.counted_duration_seconds, CASE WHEN c.status = 'completed' THEN coalesce(c.duration_seconds, 0) END)) AS seconds
             FROM public.call_logs c GROUP BY c.user_id) u
         ON u.user_id = p.id
) s
WHERE l.user_id = s.id
  AND (l.current_assistants IS DISTINCT FROM s.n_assistants
       OR l.used_call_time_seconds IS DISTINCT FROM s.used_seconds);

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
