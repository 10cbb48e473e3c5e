-- schema.sql (1 of 5) -- profiles, sign-up, demo expiry.
-- Creates: table public.profiles; trigger function public.set_updated_at()
-- (shared by all seven tables); public.handle_new_user() and the trigger
-- on_auth_user_created on auth.users; public.sync_profile_email() and the
-- trigger on_auth_user_email_changed on auth.users;
-- public.cleanup_expired_demos(); a profile for every existing auth user.
-- Keeps (product.md section 1): 1 isolation, 2 (no self-escalation through
-- profiles), 3 sign-up, 5 demo expiry, 6 cascade from auth.users, 7 hygiene,
-- 8 re-runnable over a hand-built database, 9 every legacy column kept,
-- 13 every account has its profile (email NULL-able and not UNIQUE, follows
-- auth.users.email; existing users backfilled).
-- Functions pin search_path to pg_catalog, pg_temp: pg_temp last, so a
-- temporary table named like a type cannot change what a function does.
-- Applied in one transaction by vmx; every statement converges when re-run.

-- ---------------------------------------------------------------------------
-- Table (promises 8, 9): legacy columns, names and types unchanged.
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.profiles (
  id              uuid PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
  email           text,
  full_name       text,
  avatar_url      text,
  is_demo_user    boolean DEFAULT true,
  demo_expires_at timestamptz DEFAULT (now() + interval '7 days'),
  created_at      timestamptz DEFAULT now(),
  updated_at      timestamptz DEFAULT now()
);
ALTER TABLE public.profiles ADD COLUMN IF NOT EXISTS full_name text;
ALTER TABLE public.profiles ADD COLUMN IF NOT EXISTS avatar_url text;
ALTER TABLE public.profiles ADD COLUMN IF NOT EXISTS is_demo_user boolean DEFAULT true;
ALTER TABLE public.profiles ADD COLUMN IF NOT EXISTS demo_expires_at timestamptz DEFAULT (now() + interval '7 days');
ALTER TABLE public.profiles ADD COLUMN IF NOT EXISTS created_at timestamptz DEFAULT now();
ALTER TABLE public.profiles ADD COLUMN IF NOT EXISTS updated_at timestamptz DEFAULT now();

-- ---------------------------------------------------------------------------
-- profiles.email (promise 13): NULL for phone-only sign-ups, and not UNIQUE,
-- so an address that another account used (or still uses) never makes a
-- sign-up fail. It follows auth.users.email (trigger below). The legacy
-- UNIQUE constraint (and any unique index on email alone) is dropped.
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

-- ---------------------------------------------------------------------------
-- Foreign key (promise 6): profiles.id -> auth.users ON DELETE CASCADE. A
-- missing FK, or one with another ON DELETE action, is dropped by its real
-- name and re-added (a constraint, not a row).
-- ---------------------------------------------------------------------------
DO $$
DECLARE
  s record;
  c record;
  ok boolean;
BEGIN
  FOR s IN
    SELECT * FROM (VALUES
      ('profiles', 'id', 'auth.users', 'id', 'c')
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
-- Row level security and policies (promises 1, 7, 8): the legacy policies
-- are dropped by name; ours name their role and use (select auth.uid()).
-- Users never insert or delete profiles (sign-up and cascades do).
-- ---------------------------------------------------------------------------
ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS "Users can view own profile" ON public.profiles;
DROP POLICY IF EXISTS "Users can update own profile" ON public.profiles;

DROP POLICY IF EXISTS profiles_select_own ON public.profiles;
CREATE POLICY profiles_select_own ON public.profiles
  AS PERMISSIVE FOR SELECT TO authenticated
  USING (id = (select auth.uid()));

DROP POLICY IF EXISTS profiles_update_own ON public.profiles;
CREATE POLICY profiles_update_own ON public.profiles
  AS PERMISSIVE FOR UPDATE TO authenticated
  USING (id = (select auth.uid()))
  WITH CHECK (id = (select auth.uid()));

-- ---------------------------------------------------------------------------
-- Grants (promises 1, 2, 7): explicit, revoke-then-grant so they converge.
-- A user may change only their name and avatar (not plan or demo flags).
-- ---------------------------------------------------------------------------
REVOKE ALL ON TABLE public.profiles FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT ON TABLE public.profiles TO authenticated;
GRANT UPDATE (full_name, avatar_url) ON TABLE public.profiles TO authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE public.profiles TO service_role;

-- ---------------------------------------------------------------------------
-- updated_at (promise 7: pinned search_path, invoker).
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

CREATE OR REPLACE TRIGGER set_updated_at
  BEFORE UPDATE ON public.profiles
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

-- ---------------------------------------------------------------------------
-- Sign-up (promises 3, 13): a new auth.users row gets its profile, phone-only
-- sign-ups included (email NULL); any failure is logged with RAISE WARNING
-- and never breaks the sign-up.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.handle_new_user()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  BEGIN
    INSERT INTO public.profiles (id, email, full_name, avatar_url)
    VALUES (NEW.id,
            NEW.email,
            NEW.raw_user_meta_data ->> 'full_name',
            NEW.raw_user_meta_data ->> 'avatar_url')
    ON CONFLICT (id) DO NOTHING;
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'vmx: handle_new_user could not create the profile for %: % (%)',
      NEW.id, SQLERRM, SQLSTATE;
  END;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION public.handle_new_user() FROM PUBLIC, anon, authenticated, service_role;

-- CREATE OR REPLACE TRIGGER needs only the TRIGGER privilege on auth.users
-- (which Supabase's postgres role has), not ownership.
CREATE OR REPLACE TRIGGER on_auth_user_created
  AFTER INSERT ON auth.users
  FOR EACH ROW EXECUTE FUNCTION public.handle_new_user();

-- ---------------------------------------------------------------------------
-- Email changes (promise 13): profiles.email follows auth.users.email, so
-- an old address is nobody's once changed. Never breaks the auth update.
-- Keep identical to the copy in missing-tables-schema.sql (Option B).
-- ---------------------------------------------------------------------------
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
-- Demo expiry (promise 5): service role only; returns how many users it
-- deleted (their rows go with them, promise 6). All at once; if a lock stops
-- that (a user's own request deadlocks it, or holds their rows past
-- lock_timeout, 5 s here), one by one, each in its own subtransaction, a
-- user who is still busy left, with a WARNING, for the next run.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.cleanup_expired_demos()
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_ids     uuid[];
  v_id      uuid;
  v_timeout text := pg_catalog.current_setting('lock_timeout');
  deleted   integer := 0;
  n         integer;
BEGIN
  SELECT pg_catalog.array_agg(p.id) INTO v_ids
  FROM public.profiles p
  WHERE p.is_demo_user
    AND p.demo_expires_at < pg_catalog.now();
  IF v_ids IS NULL THEN
    RETURN 0;
  END IF;

  PERFORM pg_catalog.set_config('lock_timeout', '5s', true);
  BEGIN
    DELETE FROM auth.users u WHERE u.id = ANY (v_ids);
    GET DIAGNOSTICS deleted = ROW_COUNT;
  EXCEPTION WHEN deadlock_detected OR lock_not_available OR serialization_failure THEN
    deleted := 0;
    FOREACH v_id IN ARRAY v_ids LOOP
      BEGIN
        DELETE FROM auth.users u WHERE u.id = v_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        deleted := deleted + n;
      EXCEPTION WHEN deadlock_detected OR lock_not_available OR serialization_failure THEN
        RAISE WARNING 'vmx: demo user % is busy (%): left for the next cleanup', v_id, SQLERRM;
      END;
    END LOOP;
  END;
  PERFORM pg_catalog.set_config('lock_timeout', v_timeout, true);
  RETURN deleted;
END
$$;
REVOKE ALL ON FUNCTION public.cleanup_expired_demos() FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION public.cleanup_expired_demos() TO service_role;

-- ---------------------------------------------------------------------------
-- Existing users (promise 13): every auth.users row without a profile (users
-- present before the schema, legacy sign-ups whose trigger failed, phone-only
-- users) gets one, and every profile's email is the user's current one.
-- Set-based; the count is reported. Re-runs insert and touch nothing.
-- ---------------------------------------------------------------------------
DO $$
DECLARE
  n_created integer;
  n_emails  integer;
BEGIN
  INSERT INTO public.profiles (id, email, full_name, avatar_url)
  SELECT u.id, u.email, u.raw_user_meta_data ->> 'full_name', u.raw_user_meta_data ->> 'avatar_url'
  FROM auth.users u
  WHERE NOT EXISTS (SELECT 1 FROM public.profiles p WHERE p.id = u.id)
  ON CONFLICT (id) DO NOTHING;
  GET DIAGNOSTICS n_created = ROW_COUNT;

  UPDATE public.profiles p
  SET email = u.email
  FROM auth.users u
  WHERE u.id = p.id
    AND p.email IS DISTINCT FROM u.email;
  GET DIAGNOSTICS n_emails = ROW_COUNT;

  RAISE NOTICE 'vmx: created % missing profile(s) for existing users; % profile email(s) updated from auth.users',
    n_created, n_emails;
END
$$;
