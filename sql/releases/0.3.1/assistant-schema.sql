-- assistant-schema.sql (2 of 5) -- assistants and the assistant limit.
-- Creates: table public.assistants with its RLS policies and grants; the
-- trigger enforce_assistant_limit (BEFORE INSERT) and its function;
-- public.check_user_assistant_limit(uuid).
-- triggers protect_assistant_ids (BEFORE INSERT) and
-- protect_assistant_ids_update (BEFORE UPDATE) and their function.
-- Keeps (product.md section 1): 1 isolation, 2 limits enforced by the
-- database (SQLSTATE VX001), 6 cascade, 7 hygiene, 8 re-runnable, 9 columns,
-- 11 expired demos frozen (SQLSTATE VX002), 12 no squatting or probing of
-- assistant ids, 14 exact under concurrency (one lock for inserts and deletes).
-- Assumes schema.sql was applied (profiles, set_updated_at()).

-- ---------------------------------------------------------------------------
-- Table (promises 8, 9).
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.assistants (
  id                          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id                     uuid NOT NULL REFERENCES public.profiles (id) ON DELETE CASCADE,
  name                        text NOT NULL,
  vapi_assistant_id           text UNIQUE,
  configuration               jsonb NOT NULL DEFAULT '{}'::jsonb,
  total_call_duration_seconds integer DEFAULT 0,
  created_at                  timestamptz DEFAULT now(),
  updated_at                  timestamptz DEFAULT now()
);
ALTER TABLE public.assistants ADD COLUMN IF NOT EXISTS total_call_duration_seconds integer DEFAULT 0;
ALTER TABLE public.assistants ADD COLUMN IF NOT EXISTS created_at timestamptz DEFAULT now();
ALTER TABLE public.assistants ADD COLUMN IF NOT EXISTS updated_at timestamptz DEFAULT now();

-- ---------------------------------------------------------------------------
-- Foreign key (promise 6): assistants.user_id -> profiles ON DELETE CASCADE.
-- ---------------------------------------------------------------------------
DO $$
DECLARE
  s record;
  c record;
  ok boolean;
BEGIN
  FOR s IN
    SELECT * FROM (VALUES
      ('assistants', 'user_id', 'public.profiles', 'id', 'c')
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
-- Indexes (promise 7): every FK column leads an index. Created only when no
-- index with the same definition exists under any name (no duplicates on a
-- hand-built database).
-- ---------------------------------------------------------------------------
DO $$
DECLARE
  s record;
BEGIN
  FOR s IN
    SELECT * FROM (VALUES
      ('assistants_user_id_idx', 'assistants', 'user_id')
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
-- Row level security and policies (promises 1, 7, 8).
-- ---------------------------------------------------------------------------
ALTER TABLE public.assistants ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS "Users can view own assistants" ON public.assistants;
DROP POLICY IF EXISTS "Users can create own assistants" ON public.assistants;
DROP POLICY IF EXISTS "Users can update own assistants" ON public.assistants;
DROP POLICY IF EXISTS "Users can delete own assistants" ON public.assistants;

DROP POLICY IF EXISTS assistants_select_own ON public.assistants;
CREATE POLICY assistants_select_own ON public.assistants
  AS PERMISSIVE FOR SELECT TO authenticated
  USING (user_id = (select auth.uid()));

DROP POLICY IF EXISTS assistants_insert_own ON public.assistants;
CREATE POLICY assistants_insert_own ON public.assistants
  AS PERMISSIVE FOR INSERT TO authenticated
  WITH CHECK (user_id = (select auth.uid()));

DROP POLICY IF EXISTS assistants_update_own ON public.assistants;
CREATE POLICY assistants_update_own ON public.assistants
  AS PERMISSIVE FOR UPDATE TO authenticated
  USING (user_id = (select auth.uid()))
  WITH CHECK (user_id = (select auth.uid()));

DROP POLICY IF EXISTS assistants_delete_own ON public.assistants;
CREATE POLICY assistants_delete_own ON public.assistants
  AS PERMISSIVE FOR DELETE TO authenticated
  USING (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------
-- Grants (promises 1, 4, 7): users cannot write the call-time total.
-- ---------------------------------------------------------------------------
REVOKE ALL ON TABLE public.assistants FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT, DELETE ON TABLE public.assistants TO authenticated;
GRANT INSERT (id, user_id, name, vapi_assistant_id, configuration) ON TABLE public.assistants TO authenticated;
GRANT UPDATE (name, vapi_assistant_id, configuration) ON TABLE public.assistants TO authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE public.assistants TO service_role;

-- (The usage triggers set assistants.updated_at with their addition to the
-- call-time total: the WHEN spares that row a second function call.)
CREATE OR REPLACE TRIGGER set_updated_at
  BEFORE UPDATE ON public.assistants
  FOR EACH ROW
  WHEN (NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at)
  EXECUTE FUNCTION public.set_updated_at();

-- ---------------------------------------------------------------------------
-- Limit enforcement and frozen demos (promises 2, 11, 14): BEFORE INSERT,
-- for every role. The owner's user_limits row (before
-- missing-tables-schema.sql: the profile row) is locked FOR UPDATE, the
-- same row every assistant insert and delete writes (track_assistant_usage),
-- so concurrent inserts and deletes serialise at READ COMMITTED and fail
-- with 40001 (to be retried) at REPEATABLE READ instead of miscounting.
-- An expired demo (7 days, or 600 s of completed calls) creates nothing:
-- SQLSTATE VX002. Over the limit: SQLSTATE VX001.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.enforce_assistant_limit()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_max     integer;
  v_plan    text;
  v_used    integer;
  v_count   integer;
  v_demo    boolean;
  v_expires timestamptz;
BEGIN
  -- BEFORE triggers run before the RLS WITH CHECK: a signed-in user's row
  -- for someone else is refused here, as RLS would (42501), before anything
  -- is read, so nobody can lock or probe another user's limit. Refused, not
  -- left to RLS: the policies read auth.uid() once per statement, this per
  -- row, and a statement that changes request.jwt.claims between rows must
  -- not pass both. current_setting('role') is the SET ROLE of the caller
  -- (PostgREST's authenticated/anon), unchanged by SECURITY DEFINER.
  IF pg_catalog.current_setting('role', true) IN ('authenticated', 'anon')
     AND NEW.user_id IS DISTINCT FROM auth.uid() THEN
    RAISE EXCEPTION 'new row violates row-level security policy for table "assistants"'
      USING ERRCODE = '42501';
  END IF;

  IF pg_catalog.to_regclass('public.user_limits') IS NOT NULL THEN
    SELECT l.max_assistants, l.plan_type, l.used_call_time_seconds
      INTO v_max, v_plan, v_used
      FROM public.user_limits l
      WHERE l.user_id = NEW.user_id
      FOR UPDATE;
  END IF;
  IF v_plan IS NULL THEN
    PERFORM 1 FROM public.profiles p WHERE p.id = NEW.user_id FOR UPDATE;
  END IF;
  v_max  := coalesce(v_max, 1);
  v_plan := coalesce(v_plan, 'free');

  SELECT p.is_demo_user, p.demo_expires_at INTO v_demo, v_expires
  FROM public.profiles p
  WHERE p.id = NEW.user_id;
  IF coalesce(v_demo, false)
     AND (v_expires < pg_catalog.now() OR coalesce(v_used, 0) >= 600) THEN
    RAISE EXCEPTION 'demo expired: this demo account can no longer create assistants'
      USING ERRCODE = 'VX002',
            HINT = 'upgrade the plan; expired demo accounts are removed by the cleanup';
  END IF;

  SELECT pg_catalog.count(*)::integer INTO v_count
  FROM public.assistants a
  WHERE a.user_id = NEW.user_id;

  IF v_count >= v_max THEN
    RAISE EXCEPTION 'assistant limit reached: the % plan allows % assistant(s)', v_plan, v_max
      USING ERRCODE = 'VX001',
            HINT = 'upgrade the plan or delete an assistant';
  END IF;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION public.enforce_assistant_limit() FROM PUBLIC, anon, authenticated, service_role;

CREATE OR REPLACE TRIGGER enforce_assistant_limit
  BEFORE INSERT ON public.assistants
  FOR EACH ROW EXECUTE FUNCTION public.enforce_assistant_limit();

-- ---------------------------------------------------------------------------
-- Identifiers (promise 12), for signed-in users only (the backend writes as
-- service_role): vapi_assistant_id, which routes VAPI webhooks to an
-- account, is the backend's to set (42501 when a user sets or changes it,
-- whatever the value, so it tells nothing); a row id the user chooses is
-- ignored: every insert gets a fresh server-generated id, whether or not
-- the chosen one is held, so neither the answer nor RETURNING tells
-- anything (no existence oracle, no blocking).
-- The UPDATE trigger fires only when vapi_assistant_id changes (WHEN): the
-- usage triggers' updates of the call-time total call no function here.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.protect_assistant_ids()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  -- Promises 2, 4 and 14, whoever updates: an assistant keeps its user (its
  -- count, its calls' seconds and the limit were judged for that user).
  IF TG_OP = 'UPDATE' AND NEW.user_id IS DISTINCT FROM OLD.user_id THEN
    RAISE EXCEPTION 'an assistant keeps its user; create a new assistant for the other user instead'
      USING ERRCODE = '42501';
  END IF;
  IF pg_catalog.current_setting('role', true) NOT IN ('authenticated', 'anon') THEN
    RETURN NEW;
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.vapi_assistant_id IS NOT NULL THEN
      RAISE EXCEPTION 'vapi_assistant_id is set by the backend (service_role), not by users'
        USING ERRCODE = '42501';
    END IF;
    NEW.id := pg_catalog.gen_random_uuid();
  ELSIF NEW.vapi_assistant_id IS DISTINCT FROM OLD.vapi_assistant_id THEN
    RAISE EXCEPTION 'vapi_assistant_id is set by the backend (service_role), not by users'
      USING ERRCODE = '42501';
  END IF;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION public.protect_assistant_ids() FROM PUBLIC, anon, authenticated, service_role;

CREATE OR REPLACE TRIGGER protect_assistant_ids
  BEFORE INSERT ON public.assistants
  FOR EACH ROW EXECUTE FUNCTION public.protect_assistant_ids();
CREATE OR REPLACE TRIGGER protect_assistant_ids_update
  BEFORE UPDATE ON public.assistants
  FOR EACH ROW
  WHEN (NEW.vapi_assistant_id IS DISTINCT FROM OLD.vapi_assistant_id
        OR NEW.user_id IS DISTINCT FROM OLD.user_id)
  EXECUTE FUNCTION public.protect_assistant_ids();

-- ---------------------------------------------------------------------------
-- Limit report (promises 1, 2): invoker (RLS applies); a signed-in user may
-- ask only about themselves (SQLSTATE 42501 otherwise).
-- ---------------------------------------------------------------------------
DROP FUNCTION IF EXISTS public.check_user_assistant_limit(uuid);
CREATE FUNCTION public.check_user_assistant_limit(user_uuid uuid)
RETURNS TABLE (can_create_assistant boolean, assistant_count integer, demo_expired boolean)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_max     integer;
  v_used    integer;
  v_count   integer;
  v_expired boolean;
BEGIN
  IF current_user IN ('authenticated', 'anon') AND user_uuid IS DISTINCT FROM auth.uid() THEN
    RAISE EXCEPTION 'may only be called for your own user id' USING ERRCODE = '42501';
  END IF;

  IF pg_catalog.to_regclass('public.user_limits') IS NOT NULL THEN
    SELECT l.max_assistants, l.used_call_time_seconds INTO v_max, v_used
    FROM public.user_limits l
    WHERE l.user_id = user_uuid;
  END IF;
  v_max := coalesce(v_max, 1);

  SELECT pg_catalog.count(*)::integer INTO v_count
  FROM public.assistants a
  WHERE a.user_id = user_uuid;

  -- The same rule as enforce_assistant_limit (VX002): 7 days or 600 s used.
  SELECT coalesce(p.is_demo_user AND (p.demo_expires_at < pg_catalog.now()
                                      OR coalesce(v_used, 0) >= 600), false) INTO v_expired
  FROM public.profiles p
  WHERE p.id = user_uuid;
  v_expired := coalesce(v_expired, false);

  RETURN QUERY SELECT (v_count < v_max AND NOT v_expired), v_count, v_expired;
END
$$;
REVOKE ALL ON FUNCTION public.check_user_assistant_limit(uuid) FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION public.check_user_assistant_limit(uuid) TO authenticated, service_role;
