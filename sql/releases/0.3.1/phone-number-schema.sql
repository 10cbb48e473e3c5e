-- phone-number-schema.sql (3 of 5) -- phone numbers (Twilio / VAPI).
-- Creates: table public.phone_numbers (plus column verified_at) with its RLS
-- policies, grants, indexes and updated_at trigger; the trigger
-- protect_phone_numbers (BEFORE INSERT OR UPDATE) and its function.
-- Keeps (product.md section 1): 1 isolation, 6 cascade (user) and SET NULL
-- (assigned assistant), 7 hygiene, 8 re-runnable, 9 every legacy column,
-- 11 expired demos frozen (VX002), 12 no squatting or probing: a number a
-- user enters is a claim; only a number the backend verified (verified_at
-- set by service_role) is unique and routes calls; a user's pending claims
-- are capped by plan (VX003); provider ids (vapi_phone_id,
-- vapi_credential_id) are written by service_role only.
-- Assumes schema.sql and assistant-schema.sql were applied.

-- ---------------------------------------------------------------------------
-- Table (promises 8, 9). twilio_auth_token stays plain text (legacy type).
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.phone_numbers (
  id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id               uuid NOT NULL REFERENCES public.profiles (id) ON DELETE CASCADE,
  assigned_assistant_id uuid REFERENCES public.assistants (id) ON DELETE SET NULL,
  phone_number          text NOT NULL CHECK (phone_number ~ '^\+[1-9][0-9]{1,14}$'),
  friendly_name         text NOT NULL,
  provider              text DEFAULT 'twilio' CHECK (provider IN ('twilio', 'vapi')),
  vapi_phone_id         text UNIQUE,
  vapi_credential_id    text,
  twilio_account_sid    text,
  twilio_auth_token     text,
  notes                 text,
  created_at            timestamptz DEFAULT now(),
  updated_at            timestamptz DEFAULT now(),
  verified_at           timestamptz
);
ALTER TABLE public.phone_numbers ADD COLUMN IF NOT EXISTS assigned_assistant_id uuid;
ALTER TABLE public.phone_numbers ADD COLUMN IF NOT EXISTS vapi_phone_id text;
ALTER TABLE public.phone_numbers ADD COLUMN IF NOT EXISTS vapi_credential_id text;
ALTER TABLE public.phone_numbers ADD COLUMN IF NOT EXISTS twilio_account_sid text;
ALTER TABLE public.phone_numbers ADD COLUMN IF NOT EXISTS twilio_auth_token text;
ALTER TABLE public.phone_numbers ADD COLUMN IF NOT EXISTS notes text;
ALTER TABLE public.phone_numbers ADD COLUMN IF NOT EXISTS created_at timestamptz DEFAULT now();
ALTER TABLE public.phone_numbers ADD COLUMN IF NOT EXISTS updated_at timestamptz DEFAULT now();

-- ---------------------------------------------------------------------------
-- Claims and verified numbers (promise 12). verified_at (addition): set by
-- the backend (service_role) once it has proven the number is the user's;
-- NULL = an unverified claim. Only verified numbers are unique; a claim
-- never blocks anyone and a user cannot learn whether a number is held.
-- Numbers present when this column is first added were already unique and
-- routed calls: they are marked verified (once; re-runs change nothing).
-- ---------------------------------------------------------------------------
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                 WHERE a.attrelid = 'public.phone_numbers'::regclass
                   AND a.attname = 'verified_at' AND NOT a.attisdropped) THEN
    ALTER TABLE public.phone_numbers ADD COLUMN verified_at timestamptz;
    -- Marking them must not look like an edit: updated_at is kept.
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
               WHERE t.tgrelid = 'public.phone_numbers'::regclass
                 AND t.tgname = 'set_updated_at' AND t.tgenabled = 'O') THEN
      ALTER TABLE public.phone_numbers DISABLE TRIGGER set_updated_at;
      UPDATE public.phone_numbers SET verified_at = coalesce(created_at, pg_catalog.now());
      ALTER TABLE public.phone_numbers ENABLE TRIGGER set_updated_at;
    ELSE
      UPDATE public.phone_numbers SET verified_at = coalesce(created_at, pg_catalog.now());
    END IF;
  END IF;
END
$$;

-- The legacy UNIQUE (phone_number) is replaced by a unique index over the
-- verified numbers only.
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT con.conname
    FROM pg_catalog.pg_constraint con
    WHERE con.conrelid = 'public.phone_numbers'::regclass
      AND con.contype = 'u'
      AND con.conkey = ARRAY[(SELECT a.attnum FROM pg_catalog.pg_attribute a
                              WHERE a.attrelid = 'public.phone_numbers'::regclass AND a.attname = 'phone_number')]
  LOOP
    EXECUTE pg_catalog.format('ALTER TABLE public.phone_numbers DROP CONSTRAINT %I', r.conname);
  END LOOP;
END
$$;
CREATE UNIQUE INDEX IF NOT EXISTS phone_numbers_verified_phone_number_key
  ON public.phone_numbers (phone_number) WHERE verified_at IS NOT NULL;

-- ---------------------------------------------------------------------------
-- Foreign keys (promise 6): user_id CASCADE, assigned_assistant_id SET NULL.
-- ---------------------------------------------------------------------------
DO $$
DECLARE
  s record;
  c record;
  ok boolean;
BEGIN
  FOR s IN
    SELECT * FROM (VALUES
      ('phone_numbers', 'user_id', 'public.profiles', 'id', 'c'),
      ('phone_numbers', 'assigned_assistant_id', 'public.assistants', 'id', 'n')
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
-- Indexes (promise 7): FK columns, created only if no equivalent exists.
-- ---------------------------------------------------------------------------
DO $$
DECLARE
  s record;
BEGIN
  FOR s IN
    SELECT * FROM (VALUES
      ('phone_numbers_user_id_idx', 'phone_numbers', 'user_id'),
      ('phone_numbers_assigned_assistant_id_idx', 'phone_numbers', 'assigned_assistant_id')
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
ALTER TABLE public.phone_numbers ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS "Users can view own phone numbers" ON public.phone_numbers;
DROP POLICY IF EXISTS "Users can create own phone numbers" ON public.phone_numbers;
DROP POLICY IF EXISTS "Users can update own phone numbers" ON public.phone_numbers;
DROP POLICY IF EXISTS "Users can delete own phone numbers" ON public.phone_numbers;

-- A number may only be assigned to one of the user's own assistants.
DROP POLICY IF EXISTS phone_numbers_select_own ON public.phone_numbers;
CREATE POLICY phone_numbers_select_own ON public.phone_numbers
  AS PERMISSIVE FOR SELECT TO authenticated
  USING (user_id = (select auth.uid()));

DROP POLICY IF EXISTS phone_numbers_insert_own ON public.phone_numbers;
CREATE POLICY phone_numbers_insert_own ON public.phone_numbers
  AS PERMISSIVE FOR INSERT TO authenticated
  WITH CHECK (user_id = (select auth.uid())
              AND (assigned_assistant_id IS NULL
                   OR EXISTS (SELECT 1 FROM public.assistants a
                              WHERE a.id = phone_numbers.assigned_assistant_id
                                AND a.user_id = (select auth.uid()))));

DROP POLICY IF EXISTS phone_numbers_update_own ON public.phone_numbers;
CREATE POLICY phone_numbers_update_own ON public.phone_numbers
  AS PERMISSIVE FOR UPDATE TO authenticated
  USING (user_id = (select auth.uid()))
  WITH CHECK (user_id = (select auth.uid())
              AND (assigned_assistant_id IS NULL
                   OR EXISTS (SELECT 1 FROM public.assistants a
                              WHERE a.id = phone_numbers.assigned_assistant_id
                                AND a.user_id = (select auth.uid()))));

DROP POLICY IF EXISTS phone_numbers_delete_own ON public.phone_numbers;
CREATE POLICY phone_numbers_delete_own ON public.phone_numbers
  AS PERMISSIVE FOR DELETE TO authenticated
  USING (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------
-- Grants (promises 1, 7): INSERT every column but id and the timestamps;
-- UPDATE the same minus user_id.
-- ---------------------------------------------------------------------------
REVOKE ALL ON TABLE public.phone_numbers FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT, DELETE ON TABLE public.phone_numbers TO authenticated;
GRANT INSERT (user_id, assigned_assistant_id, phone_number, friendly_name, provider,
              vapi_phone_id, vapi_credential_id, twilio_account_sid, twilio_auth_token, notes)
  ON TABLE public.phone_numbers TO authenticated;
GRANT UPDATE (assigned_assistant_id, phone_number, friendly_name, provider,
              vapi_phone_id, vapi_credential_id, twilio_account_sid, twilio_auth_token, notes)
  ON TABLE public.phone_numbers TO authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE public.phone_numbers TO service_role;

CREATE OR REPLACE TRIGGER set_updated_at
  BEFORE UPDATE ON public.phone_numbers
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

-- ---------------------------------------------------------------------------
-- Frozen demos and identifiers (promises 11, 12). For every role: an
-- expired demo account (7 days, or 600 s of completed calls) adds no number
-- (SQLSTATE VX002); as a signed-in user it cannot change a row's number
-- either (that is a new number). For signed-in users: vapi_phone_id and
-- vapi_credential_id are the backend's to set (42501 whatever the value), a
-- number they add or change is an unverified claim (verified_at NULL), and
-- their pending claims are capped by plan (free 3, pro 20, business 50,
-- enterprise 100; SQLSTATE VX003), under the limits row's lock so that
-- concurrent or multi-row inserts cannot pass it. A row for another user is
-- refused (42501, as RLS would) before anything is read, so nothing about
-- them leaks.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.protect_phone_numbers()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_user    boolean;
  v_used    integer;
  v_expired boolean;
  v_plan    text;
  v_cap     integer;
  v_pending integer;
BEGIN
  v_user := pg_catalog.current_setting('role', true) IN ('authenticated', 'anon');
  -- Refused here, as RLS would, not left to it: the policies read auth.uid()
  -- once per statement, this per row (request.jwt.claims changed between
  -- rows must not skip the rules below).
  IF v_user AND NEW.user_id IS DISTINCT FROM auth.uid() THEN
    RAISE EXCEPTION 'new row violates row-level security policy for table "phone_numbers"'
      USING ERRCODE = '42501';
  END IF;

  -- A signed-in user changing a row's number gets a new number: frozen too
  -- (promise 11; the backend may still change it, e.g. a port). The used
  -- seconds are read under the limits row's lock: a webhook counting the
  -- last call is waited for, not read around.
  IF TG_OP = 'INSERT' OR (v_user AND NEW.phone_number IS DISTINCT FROM OLD.phone_number) THEN
    IF pg_catalog.to_regclass('public.user_limits') IS NOT NULL THEN
      SELECT l.used_call_time_seconds INTO v_used
      FROM public.user_limits l
      WHERE l.user_id = NEW.user_id
      FOR UPDATE;
    END IF;
    SELECT p.is_demo_user AND (p.demo_expires_at < pg_catalog.now() OR coalesce(v_used, 0) >= 600)
      INTO v_expired
    FROM public.profiles p
    WHERE p.id = NEW.user_id;
    IF coalesce(v_expired, false) THEN
      RAISE EXCEPTION 'demo expired: this demo account can no longer add phone numbers'
        USING ERRCODE = 'VX002',
              HINT = 'upgrade the plan; expired demo accounts are removed by the cleanup';
    END IF;
  END IF;

  IF NOT v_user THEN
    -- Promise 12 for the backend too: a number routes calls only to an
    -- assistant of its own user (a stale or reused assistant id must not
    -- send one account's callers to another account's assistant). Users
    -- are held to it by the policies.
    IF NEW.assigned_assistant_id IS NOT NULL
       AND (TG_OP = 'INSERT'
            OR NEW.assigned_assistant_id IS DISTINCT FROM OLD.assigned_assistant_id
            OR NEW.user_id IS DISTINCT FROM OLD.user_id)
       AND NOT EXISTS (SELECT 1 FROM public.assistants a
                       WHERE a.id = NEW.assigned_assistant_id AND a.user_id = NEW.user_id) THEN
      RAISE EXCEPTION 'assigned_assistant_id % is not an assistant of the number''s user', NEW.assigned_assistant_id
        USING ERRCODE = '23503';
    END IF;
    RETURN NEW;
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.vapi_phone_id IS NOT NULL THEN
      RAISE EXCEPTION 'vapi_phone_id is set by the backend (service_role), not by users'
        USING ERRCODE = '42501';
    END IF;
    IF NEW.vapi_credential_id IS NOT NULL THEN
      RAISE EXCEPTION 'vapi_credential_id is set by the backend (service_role), not by users'
        USING ERRCODE = '42501';
    END IF;
    NEW.verified_at := NULL;
  ELSE
    IF NEW.vapi_phone_id IS DISTINCT FROM OLD.vapi_phone_id THEN
      RAISE EXCEPTION 'vapi_phone_id is set by the backend (service_role), not by users'
        USING ERRCODE = '42501';
    END IF;
    IF NEW.vapi_credential_id IS DISTINCT FROM OLD.vapi_credential_id THEN
      RAISE EXCEPTION 'vapi_credential_id is set by the backend (service_role), not by users'
        USING ERRCODE = '42501';
    END IF;
    IF NEW.phone_number IS NOT DISTINCT FROM OLD.phone_number THEN
      RETURN NEW;
    END IF;
    NEW.verified_at := NULL;
  END IF;

  -- A new claim: the user's pending claims are capped by plan, counted
  -- under the lock of their limits row (before missing-tables-schema.sql:
  -- their profile), which rows inserted earlier by the same statement see.
  IF pg_catalog.to_regclass('public.user_limits') IS NOT NULL THEN
    SELECT l.plan_type INTO v_plan
    FROM public.user_limits l
    WHERE l.user_id = NEW.user_id
    FOR UPDATE;
  END IF;
  IF v_plan IS NULL THEN
    PERFORM 1 FROM public.profiles p WHERE p.id = NEW.user_id FOR UPDATE;
  END IF;
  v_plan := coalesce(v_plan, 'free');
  v_cap := CASE v_plan WHEN 'enterprise' THEN 100 WHEN 'business' THEN 50 WHEN 'pro' THEN 20 ELSE 3 END;
  SELECT pg_catalog.count(*)::integer INTO v_pending
  FROM public.phone_numbers n
  WHERE n.user_id = NEW.user_id
    AND n.verified_at IS NULL
    AND n.id IS DISTINCT FROM NEW.id;
  IF v_pending >= v_cap THEN
    RAISE EXCEPTION 'too many unverified phone numbers: the % plan allows % pending claim(s)', v_plan, v_cap
      USING ERRCODE = 'VX003',
            HINT = 'wait until the backend has verified a number, or delete an unverified one';
  END IF;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION public.protect_phone_numbers() FROM PUBLIC, anon, authenticated, service_role;

CREATE OR REPLACE TRIGGER protect_phone_numbers
  BEFORE INSERT OR UPDATE ON public.phone_numbers
  FOR EACH ROW EXECUTE FUNCTION public.protect_phone_numbers();
