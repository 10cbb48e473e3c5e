-- supabase-compat.sql -- a small stand-in for what Supabase provides, so the
-- five schema files also run on plain PostgreSQL 15+ (CI, `vmx check`):
--   * roles anon, authenticated (NOLOGIN) and service_role (NOLOGIN, BYPASSRLS)
--   * schema auth with table auth.users (the columns the schema files use plus
--     a few more of Supabase's) and auth.uid(), auth.role(), auth.email(),
--     auth.jwt() reading request.jwt.claims (legacy request.jwt.claim.* as a
--     fallback), like Supabase's own functions.
-- vmx never applies this file to a database that already has auth.users.
-- Idempotent: running it twice changes nothing. It sets no default privileges
-- and grants nothing on auth.users to the API roles (as on Supabase).

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'anon') THEN
    CREATE ROLE anon NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'authenticated') THEN
    CREATE ROLE authenticated NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'service_role') THEN
    CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
  END IF;
END
$$;

CREATE SCHEMA IF NOT EXISTS auth;

CREATE TABLE IF NOT EXISTS auth.users (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  aud                text,
  role               text,
  email              text,
  phone              text,
  email_confirmed_at timestamptz,
  last_sign_in_at    timestamptz,
  raw_app_meta_data  jsonb DEFAULT '{}'::jsonb,
  raw_user_meta_data jsonb DEFAULT '{}'::jsonb,
  created_at         timestamptz DEFAULT now(),
  updated_at         timestamptz DEFAULT now()
);

-- The claims of the current request (PostgREST sets request.jwt.claims).
CREATE OR REPLACE FUNCTION auth.jwt() RETURNS jsonb
LANGUAGE sql STABLE
AS $$
  SELECT coalesce(
    nullif(pg_catalog.current_setting('request.jwt.claims', true), ''),
    nullif(pg_catalog.current_setting('request.jwt.claim', true), '')
  )::jsonb
$$;

CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid
LANGUAGE sql STABLE
AS $$
  SELECT coalesce(
    nullif(nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub', ''),
    nullif(pg_catalog.current_setting('request.jwt.claim.sub', true), '')
  )::uuid
$$;

CREATE OR REPLACE FUNCTION auth.role() RETURNS text
LANGUAGE sql STABLE
AS $$
  SELECT coalesce(
    nullif(nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'role', ''),
    nullif(pg_catalog.current_setting('request.jwt.claim.role', true), '')
  )::text
$$;

CREATE OR REPLACE FUNCTION auth.email() RETURNS text
LANGUAGE sql STABLE
AS $$
  SELECT coalesce(
    nullif(nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'email', ''),
    nullif(pg_catalog.current_setting('request.jwt.claim.email', true), '')
  )::text
$$;

GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION auth.uid(), auth.role(), auth.email(), auth.jwt()
  TO anon, authenticated, service_role;
