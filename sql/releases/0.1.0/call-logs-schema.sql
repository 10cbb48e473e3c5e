-- call-logs-schema.sql (4 of 5) -- call logs, usage tracking, webhook support.
-- Creates: table public.call_logs (plus column counted_duration_seconds:
-- the duration counted for a completed call; NULL = not counted yet, except
-- on a call completed before vmx took over, which counts as its
-- duration_seconds, so taking over never rewrites call_logs), its RLS
-- policy, grants and indexes (incl. call_logs_user_id_started_at_idx);
-- triggers call_logs_track_completion (BEFORE), update_assistant_on_call_end
-- and update_assistant_on_call_end_insert (AFTER); public.get_user_call_usage(uuid),
-- public.cleanup_demo_users_with_call_limits() and its pg_cron schedule.
-- Keeps (product.md section 1): 1 isolation (webhooks write as
-- service_role), 4 exact usage (vapi_call_id is the idempotency key), 5 demo
-- expiry, 6 cascade, 7 hygiene, 8 re-runnable, 9 every legacy column.
-- Assumes files 1-3 were applied.

-- ---------------------------------------------------------------------------
-- Table (promises 8, 9) and the addition counted_duration_seconds (promise 4).
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.call_logs (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id            uuid NOT NULL REFERENCES public.profiles (id) ON DELETE CASCADE,
  assistant_id       uuid NOT NULL REFERENCES public.assistants (id) ON DELETE CASCADE,
  phone_number_id    uuid REFERENCES public.phone_numbers (id) ON DELETE SET NULL,
  vapi_call_id       text UNIQUE,
  caller_number      text,
  duration_seconds   integer DEFAULT 0,
  status             text CHECK (status IN ('completed', 'failed', 'no-answer', 'busy', 'in_progress', 'cancelled')),
  transcript         text,
  structured_data    jsonb,
  summary            text,
  success_evaluation text,
  started_at         timestamptz DEFAULT now(),
  ended_at           timestamptz,
  created_at         timestamptz DEFAULT now(),
  updated_at         timestamptz DEFAULT now()
);
ALTER TABLE public.call_logs ADD COLUMN IF NOT EXISTS structured_data jsonb;
ALTER TABLE public.call_logs ADD COLUMN IF NOT EXISTS summary text;
ALTER TABLE public.call_logs ADD COLUMN IF NOT EXISTS success_evaluation text;
ALTER TABLE public.call_logs ADD COLUMN IF NOT EXISTS created_at timestamptz DEFAULT now();
ALTER TABLE public.call_logs ADD COLUMN IF NOT EXISTS updated_at timestamptz DEFAULT now();
ALTER TABLE public.call_logs ADD COLUMN IF NOT EXISTS counted_duration_seconds integer;

-- ---------------------------------------------------------------------------
-- Foreign keys (promise 6).
-- ---------------------------------------------------------------------------
DO $$
DECLARE
  s record;
  c record;
  ok boolean;
BEGIN
  FOR s IN
    SELECT * FROM (VALUES
      ('call_logs', 'user_id', 'public.profiles', 'id', 'c'),
      ('call_logs', 'assistant_id', 'public.assistants', 'id', 'c'),
      ('call_logs', 'phone_number_id', 'public.phone_numbers', 'id', 'n')
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
-- Indexes (promise 7 and "my latest calls"): (user_id, started_at DESC) also
-- serves the user_id FK. Created only if no equivalent index exists.
-- ---------------------------------------------------------------------------
DO $$
DECLARE
  s record;
BEGIN
  FOR s IN
    SELECT * FROM (VALUES
      ('call_logs_user_id_started_at_idx', 'call_logs', 'user_id, started_at DESC'),
      ('call_logs_assistant_id_idx', 'call_logs', 'assistant_id'),
      ('call_logs_phone_number_id_idx', 'call_logs', 'phone_number_id')
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
-- Row level security and policy (promise 1): users only read their calls;
-- the legacy "System can ..." policies (true for every role) are dropped.
-- ---------------------------------------------------------------------------
ALTER TABLE public.call_logs ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS "Users can view own call logs" ON public.call_logs;
DROP POLICY IF EXISTS "System can create call logs" ON public.call_logs;
DROP POLICY IF EXISTS "System can update call logs" ON public.call_logs;

DROP POLICY IF EXISTS call_logs_select_own ON public.call_logs;
CREATE POLICY call_logs_select_own ON public.call_logs
  AS PERMISSIVE FOR SELECT TO authenticated
  USING (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------
-- Grants (promises 1, 7).
-- ---------------------------------------------------------------------------
REVOKE ALL ON TABLE public.call_logs FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT ON TABLE public.call_logs TO authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE public.call_logs TO service_role;

CREATE OR REPLACE TRIGGER set_updated_at
  BEFORE UPDATE ON public.call_logs
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

-- ---------------------------------------------------------------------------
-- Derived values (promises 4, 8): assistant totals are recomputed from the
-- data. A call completed before vmx (counted_duration_seconds NULL) counts
-- as its duration: call_logs, the largest table, is read, never rewritten,
-- so taking over holds no row lock that webhooks would queue behind.
-- The legacy AFTER trigger (it only touched updated_at) is replaced below.
-- ---------------------------------------------------------------------------
DROP TRIGGER IF EXISTS update_assistant_on_call_end ON public.call_logs;

UPDATE public.assistants a
SET total_call_duration_seconds = s.total
FROM (
  SELECT a2.id, coalesce(sum(coalesce(c.counted_duration_seconds, CASE WHEN c.status = 'completed' THEN coalesce(c.duration_seconds, 0) END)), 0)::integer AS total
  FROM public.assistants a2
  LEFT JOIN public.call_logs c ON c.assistant_id = a2.id
  GROUP BY a2.id
) s
WHERE s.id = a.id
  AND a.total_call_duration_seconds IS DISTINCT FROM s.total;

-- ---------------------------------------------------------------------------
-- Completion tracking (promise 4), BEFORE INSERT OR UPDATE: an event that
-- arrives after 'completed' with another status is ignored (status,
-- duration and end time kept, the webhook never fails); a completed call's
-- counted duration is its duration. Keep identical to the copy in
-- missing-tables-schema.sql (Option B).
-- ---------------------------------------------------------------------------
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
-- Assistant totals (promise 4), AFTER, only when the counted duration
-- changed: adds the difference (a duplicate completion adds nothing, a
-- corrected duration adds the correction).
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.update_assistant_call_duration()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
  delta integer;
BEGIN
  IF TG_OP = 'INSERT' THEN
    delta := coalesce(NEW.counted_duration_seconds, 0);
  ELSE
    delta := coalesce(NEW.counted_duration_seconds, 0) - coalesce(OLD.counted_duration_seconds, CASE WHEN OLD.status = 'completed' THEN coalesce(OLD.duration_seconds, 0) ELSE 0 END);
  END IF;
  IF delta <> 0 THEN
    UPDATE public.assistants
    SET total_call_duration_seconds = coalesce(total_call_duration_seconds, 0) + delta
    WHERE id = NEW.assistant_id;
  END IF;
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION public.update_assistant_call_duration() FROM PUBLIC, anon, authenticated, service_role;

CREATE OR REPLACE TRIGGER update_assistant_on_call_end
  AFTER UPDATE ON public.call_logs
  FOR EACH ROW
  WHEN (NEW.counted_duration_seconds IS DISTINCT FROM OLD.counted_duration_seconds)
  EXECUTE FUNCTION public.update_assistant_call_duration();

CREATE OR REPLACE TRIGGER update_assistant_on_call_end_insert
  AFTER INSERT ON public.call_logs
  FOR EACH ROW
  WHEN (NEW.counted_duration_seconds IS NOT NULL)
  EXECUTE FUNCTION public.update_assistant_call_duration();

-- ---------------------------------------------------------------------------
-- Usage report (promises 1, 4): invoker, own user id only for signed-in
-- users (42501). Completed calls only.
-- ---------------------------------------------------------------------------
DROP FUNCTION IF EXISTS public.get_user_call_usage(uuid);
CREATE FUNCTION public.get_user_call_usage(user_uuid uuid)
RETURNS TABLE (total_call_seconds bigint, total_call_minutes numeric, call_count bigint, latest_call timestamptz)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = ''
AS $$
BEGIN
  IF current_user IN ('authenticated', 'anon') AND user_uuid IS DISTINCT FROM auth.uid() THEN
    RAISE EXCEPTION 'may only be called for your own user id' USING ERRCODE = '42501';
  END IF;
  RETURN QUERY
  SELECT coalesce(sum(coalesce(c.counted_duration_seconds, CASE WHEN c.status = 'completed' THEN coalesce(c.duration_seconds, 0) END)), 0)::bigint,
         round(coalesce(sum(coalesce(c.counted_duration_seconds, CASE WHEN c.status = 'completed' THEN coalesce(c.duration_seconds, 0) END)), 0) / 60.0, 2),
         count(*)::bigint,
         max(c.started_at)
  FROM public.call_logs c
  WHERE c.user_id = user_uuid
    AND coalesce(c.counted_duration_seconds, CASE WHEN c.status = 'completed' THEN coalesce(c.duration_seconds, 0) END) IS NOT NULL;
END
$$;
REVOKE ALL ON FUNCTION public.get_user_call_usage(uuid) FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION public.get_user_call_usage(uuid) TO authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Demo expiry (promise 5): demo users expired or at >= 600 s of completed
-- calls are deleted from auth.users (cascades, promise 6); returns the count.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.cleanup_demo_users_with_call_limits()
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
  deleted integer;
BEGIN
  DELETE FROM auth.users u
  USING public.profiles p
  WHERE p.id = u.id
    AND p.is_demo_user
    AND (p.demo_expires_at < pg_catalog.now()
         OR (SELECT coalesce(sum(coalesce(c.counted_duration_seconds, CASE WHEN c.status = 'completed' THEN coalesce(c.duration_seconds, 0) END)), 0)
             FROM public.call_logs c
             WHERE c.user_id = p.id) >= 600);
  GET DIAGNOSTICS deleted = ROW_COUNT;
  RETURN deleted;
END
$$;
REVOKE ALL ON FUNCTION public.cleanup_demo_users_with_call_limits() FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION public.cleanup_demo_users_with_call_limits() TO service_role;

-- ---------------------------------------------------------------------------
-- Schedule (promise 5): daily through pg_cron where installed; otherwise say
-- so and go on.
-- ---------------------------------------------------------------------------
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
    EXECUTE $cron$SELECT cron.schedule('vmx-cleanup-demo-users', '17 3 * * *',
                                        'select public.cleanup_demo_users_with_call_limits()')$cron$;
  ELSE
    RAISE NOTICE 'vmx: pg_cron is not installed; schedule public.cleanup_demo_users_with_call_limits() yourself';
  END IF;
END
$$;
