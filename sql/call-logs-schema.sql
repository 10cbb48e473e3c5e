-- call-logs-schema.sql (4 of 5) -- call logs, usage tracking, webhook support.
-- Creates: table public.call_logs (plus column counted_duration_seconds:
-- the duration counted for a completed call; NULL = not counted yet, except
-- on a call completed before vmx took over, which counts as its
-- duration_seconds, so taking over never rewrites call_logs), its RLS
-- policy, grants and indexes (incl. call_logs_user_id_started_at_idx);
-- triggers call_logs_track_completion (BEFORE INSERT, row), track_call_usage
-- (BEFORE UPDATE, row) and track_call_usage_insert (AFTER INSERT, statement,
-- transition table); the row triggers have a WHEN, so that an event with
-- nothing to count calls no function. They keep assistant totals, and once
-- missing-tables-schema.sql is applied also user_limits and usage_logs;
-- public.get_user_call_usage(uuid),
-- public.cleanup_demo_users_with_call_limits() and its pg_cron schedule.
-- Keeps (product.md section 1): 1 isolation (webhooks write as
-- service_role), 4 exact usage (vapi_call_id is the idempotency key), 5 demo
-- expiry, 6 cascade, 7 hygiene, 8 re-runnable, 9 every legacy column,
-- 10 usage is permanent (a call outlives its assistant: assistant_id is
-- NULL-able, ON DELETE SET NULL, and a webhook naming a deleted assistant
-- still records and counts the call), 14 exact under concurrency.
-- Replaces v0.1.0's row-level update_assistant_on_call_end(_insert) and
-- update_assistant_call_duration() (dropped).
-- Assumes files 1-3 were applied.
--
-- Taking over a live database (product.md section 3): the work that reads
-- or indexes every call -- building the three indexes, validating the
-- assistant_id foreign key, recomputing assistant totals -- is written twice.
-- Run by psql (`psql --single-transaction -f`), it all happens inside this
-- file's transaction, holding call_logs for as long as it takes. Run by vmx,
-- which sets vmx.concurrently = on for the transaction, the blocks below
-- leave it to the statements of the /* vmx:concurrently ... */ section at the
-- end of the file, which vmx runs after this transaction commits, one by one,
-- outside any transaction (CREATE INDEX CONCURRENTLY cannot run inside one),
-- before it records the file: the transaction holds call_logs' ACCESS
-- EXCLUSIVE lock for catalog changes only (milliseconds), and the section
-- takes no lock that the app's reads and webhook writes wait on for long.
-- By hand, the same: PGOPTIONS='-c vmx.concurrently=on' psql -1 -f this file,
-- then the section's statements with psql, outside a transaction.

-- ---------------------------------------------------------------------------
-- Table (promises 8, 9) and the addition counted_duration_seconds (promise 4).
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.call_logs (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id            uuid NOT NULL REFERENCES public.profiles (id) ON DELETE CASCADE,
  assistant_id       uuid REFERENCES public.assistants (id) ON DELETE SET NULL,
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
-- Promise 10: a call outlives its assistant (metadata-only change).
ALTER TABLE public.call_logs ALTER COLUMN assistant_id DROP NOT NULL;

-- ---------------------------------------------------------------------------
-- Foreign keys (promises 6, 10): the user's calls go with the user; an
-- assistant's calls stay when it is deleted (SET NULL).
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
      ('call_logs', 'assistant_id', 'public.assistants', 'id', 'n'),
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
      -- Under vmx, NOT VALID: a catalog change here, the scan of every call
      -- by VALIDATE CONSTRAINT in the vmx:concurrently section (which lets
      -- the app read and write meanwhile). New rows are checked at once.
      EXECUTE pg_catalog.format(
        'ALTER TABLE public.%I ADD CONSTRAINT %I FOREIGN KEY (%I) REFERENCES %s (%I) ON DELETE %s%s',
        s.tbl, s.tbl || '_' || s.col || '_fkey', s.col, s.reftbl, s.refcol,
        CASE s.action WHEN 'c' THEN 'CASCADE' ELSE 'SET NULL' END,
        CASE WHEN pg_catalog.current_setting('vmx.concurrently', true) = 'on' THEN ' NOT VALID' ELSE '' END);
    END IF;
  END LOOP;
  -- Promise 10 and ingestion speed: call_logs.assistant_id and
  -- phone_number_id are checked at commit, after the usage triggers have set
  -- one whose assistant or number was deleted meanwhile to NULL (set-based,
  -- instead of a lookup per row). Metadata only: no scan of call_logs.
  FOR c IN
    SELECT con.conname
    FROM pg_catalog.pg_constraint con
    WHERE con.conrelid = 'public.call_logs'::regclass
      AND con.contype = 'f'
      AND con.conkey IN (SELECT ARRAY[a.attnum] FROM pg_catalog.pg_attribute a
                         WHERE a.attrelid = 'public.call_logs'::regclass
                           AND a.attname IN ('assistant_id', 'phone_number_id'))
      AND NOT (con.condeferrable AND con.condeferred)
  LOOP
    EXECUTE pg_catalog.format('ALTER TABLE public.call_logs ALTER CONSTRAINT %I DEFERRABLE INITIALLY DEFERRED', c.conname);
  END LOOP;
END
$$;

-- ---------------------------------------------------------------------------
-- Indexes (promise 7 and "my latest calls"): (user_id, started_at DESC) also
-- serves the user_id FK. Created only if no equivalent index exists.
-- Taking over (see the header): an INVALID leftover of an interrupted
-- CREATE INDEX CONCURRENTLY is dropped; an equivalent valid index made by
-- hand takes the name, so the section's CREATE INDEX CONCURRENTLY IF NOT
-- EXISTS finds it instead of building a duplicate; under vmx, an index
-- missing on a table that has rows is left to that section.
-- ---------------------------------------------------------------------------
DO $$
DECLARE
  s record;
  v_other text;
BEGIN
  FOR s IN
    SELECT * FROM (VALUES
      ('call_logs_user_id_started_at_idx', 'call_logs', 'user_id, started_at DESC'),
      ('call_logs_assistant_id_idx', 'call_logs', 'assistant_id'),
      ('call_logs_phone_number_id_idx', 'call_logs', 'phone_number_id')
    ) AS v(name, tbl, cols)
  LOOP
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_index i
               WHERE i.indexrelid = pg_catalog.to_regclass('public.' || pg_catalog.quote_ident(s.name))
                 AND NOT i.indisvalid) THEN
      EXECUTE pg_catalog.format('DROP INDEX public.%I', s.name);
    END IF;
    SELECT c.relname INTO v_other
    FROM pg_catalog.pg_index i
    JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
    WHERE i.indrelid = ('public.' || s.tbl)::regclass
      AND i.indisvalid
      AND substring(pg_catalog.pg_get_indexdef(i.indexrelid) FROM ' USING .*$') = ' USING btree (' || s.cols || ')'
    ORDER BY c.relname <> s.name, c.relname
    LIMIT 1;
    IF v_other IS NULL THEN
      IF pg_catalog.current_setting('vmx.concurrently', true) IS DISTINCT FROM 'on'
         OR NOT EXISTS (SELECT 1 FROM public.call_logs) THEN
        EXECUTE pg_catalog.format('CREATE INDEX IF NOT EXISTS %I ON public.%I (%s)', s.name, s.tbl, s.cols);
      END IF;
    ELSIF v_other <> s.name
          AND pg_catalog.to_regclass('public.' || pg_catalog.quote_ident(s.name)) IS NULL
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                          WHERE k.conindid = ('public.' || pg_catalog.quote_ident(v_other))::regclass) THEN
      EXECUTE pg_catalog.format('ALTER INDEX public.%I RENAME TO %I', v_other, s.name);
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

-- (A row that track_call_usage handles -- its status, duration, counted
-- seconds, assistant or user change -- gets its updated_at there: the WHEN
-- makes exactly one of the two fire, one function call per row.)
CREATE OR REPLACE TRIGGER set_updated_at
  BEFORE UPDATE ON public.call_logs
  FOR EACH ROW
  WHEN (NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at
        AND NEW.status IS NOT DISTINCT FROM OLD.status
        AND NEW.duration_seconds IS NOT DISTINCT FROM OLD.duration_seconds
        AND NEW.counted_duration_seconds IS NOT DISTINCT FROM OLD.counted_duration_seconds
        AND NEW.assistant_id IS NOT DISTINCT FROM OLD.assistant_id
        AND NEW.user_id IS NOT DISTINCT FROM OLD.user_id)
  EXECUTE FUNCTION public.set_updated_at();

-- ---------------------------------------------------------------------------
-- Derived values (promises 4, 8): assistant totals are recomputed from the
-- data. A call completed before vmx (counted_duration_seconds NULL) counts
-- as its duration: call_logs, the largest table, is read, never rewritten,
-- so taking over holds no row lock that webhooks would queue behind.
-- The legacy and v0.1.0 AFTER row triggers are replaced below.
-- ---------------------------------------------------------------------------
DROP TRIGGER IF EXISTS update_assistant_on_call_end ON public.call_logs;
DROP TRIGGER IF EXISTS update_assistant_on_call_end_insert ON public.call_logs;
DROP FUNCTION IF EXISTS public.update_assistant_call_duration();

-- Under vmx this recount is left to the vmx:concurrently section (see the
-- header), where it reads call_logs without blocking the app.
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
-- Completion tracking (promises 4, 10) of an inserted call, BEFORE INSERT,
-- and only for rows where there is something to do (WHEN: an "in progress"
-- event calls no function): a completed call's counted duration is its
-- duration; a webhook that no longer knows the user (NULL user_id) takes
-- the user of the call's earlier event; the call's assistant is locked
-- first (SECURITY DEFINER: whatever the inserting role may lock).
-- (Updates: track_call_usage below.)
-- Keep identical to the copy in missing-tables-schema.sql (Option B).
-- ---------------------------------------------------------------------------
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
-- Usage (promises 4, 10, 14). The change of a call's counted seconds is
-- added to its assistant's total and, once user_limits exists
-- (missing-tables-schema.sql), to the user's used_call_time_seconds with
-- one usage_logs row per call ('call completed' the first time, 'duration
-- corrected' after). A duplicate completion changes nothing. Additions, not
-- recounts, so concurrent statements add up at READ COMMITTED (and fail
-- with 40001, to be retried, at REPEATABLE READ).
-- Webhook speed and bulk loads (product.md section 3) together:
-- * INSERTs are counted per statement, set-based over the transition table
--   (a bulk load of history costs a few statements, not a few per row);
-- * UPDATEs -- a webhook's completion -- per row, BEFORE UPDATE, by one
--   function that also keeps a completed call completed (an event arriving
--   after 'completed' with another status is ignored: status, duration and
--   end time kept, the webhook never fails), sets the counted duration, and
--   records a call naming a deleted or another user's assistant (promises
--   10, 12) without it; only for rows whose status, duration, counted
--   seconds, assistant or user change (WHEN), so every other event calls no
--   function, and a completion calls one and runs one statement.
-- Keep identical to the copy in missing-tables-schema.sql (Option B).
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
-- Usage report (promises 1, 4): invoker, own user id only for signed-in
-- users (42501). Completed calls only.
-- ---------------------------------------------------------------------------
DROP FUNCTION IF EXISTS public.get_user_call_usage(uuid);
CREATE FUNCTION public.get_user_call_usage(user_uuid uuid)
RETURNS TABLE (total_call_seconds bigint, total_call_minutes numeric, call_count bigint, latest_call timestamptz)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
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
-- Demo expiry (promises 5, 10, 11): demo users expired or at >= 600 s of
-- completed calls (their calls, which outlive assistants, or their recorded
-- usage, which never goes down) are deleted from auth.users (cascades,
-- promise 6); returns the count. All at once; if a lock stops that (a user's
-- own request holding their rows deadlocks it, or holds them past
-- lock_timeout, 5 s here), one by one, each in its own subtransaction, and a
-- user who is still busy is left, with a WARNING, for the next run: one
-- user's request never stops everyone's cleanup.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.cleanup_demo_users_with_call_limits()
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
  IF pg_catalog.to_regclass('public.user_limits') IS NOT NULL THEN
    SELECT pg_catalog.array_agg(p.id) INTO v_ids
    FROM public.profiles p
    WHERE p.is_demo_user
      AND (p.demo_expires_at < pg_catalog.now()
           OR (SELECT coalesce(max(l.used_call_time_seconds), 0)
               FROM public.user_limits l
               WHERE l.user_id = p.id) >= 600
           OR (SELECT coalesce(sum(coalesce(c.counted_duration_seconds, CASE WHEN c.status = 'completed' THEN coalesce(c.duration_seconds, 0) END)), 0)
               FROM public.call_logs c
               WHERE c.user_id = p.id) >= 600);
  ELSE
    SELECT pg_catalog.array_agg(p.id) INTO v_ids
    FROM public.profiles p
    WHERE p.is_demo_user
      AND (p.demo_expires_at < pg_catalog.now()
           OR (SELECT coalesce(sum(coalesce(c.counted_duration_seconds, CASE WHEN c.status = 'completed' THEN coalesce(c.duration_seconds, 0) END)), 0)
               FROM public.call_logs c
               WHERE c.user_id = p.id) >= 600);
  END IF;
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
REVOKE ALL ON FUNCTION public.cleanup_demo_users_with_call_limits() FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION public.cleanup_demo_users_with_call_limits() TO service_role;

-- ---------------------------------------------------------------------------
-- Schedule (promise 5): daily through pg_cron, once, only where the
-- migrating role can really use it (pg_cron installed in this database,
-- USAGE on schema cron). Otherwise -- not installed, installed in another
-- database (cron.database_name), no USAGE, or scheduling fails -- a NOTICE
-- gives the exact SQL that schedules it, and the migration goes on.
-- ---------------------------------------------------------------------------
DO $$
DECLARE
  v_job     constant text := 'vmx-cleanup-demo-users';
  v_when    constant text := '17 3 * * *';
  v_command constant text := 'select public.cleanup_demo_users_with_call_limits()';
  v_cron_db text;
  v_sql     text := pg_catalog.format('SELECT cron.schedule(%L, %L, %L);', v_job, v_when, v_command);
  v_in_db   text := pg_catalog.format('SELECT cron.schedule_in_database(%L, %L, %L, %L);',
                                      v_job, v_when, v_command, pg_catalog.current_database());
BEGIN
  -- Readable only with pg_read_all_settings; NULL when pg_cron is not preloaded.
  BEGIN
    v_cron_db := pg_catalog.current_setting('cron.database_name', true);
  EXCEPTION WHEN insufficient_privilege THEN
    v_cron_db := '?';
  END;
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
    IF pg_catalog.has_schema_privilege('cron', 'USAGE')
       AND pg_catalog.has_function_privilege('cron.schedule(text,text,text)', 'EXECUTE') THEN
      BEGIN
        PERFORM cron.schedule(v_job, v_when, v_command);
        RETURN;
      EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'vmx: pg_cron could not schedule the demo cleanup (%: %); schedule it with: %',
          SQLSTATE, SQLERRM, v_sql;
        RETURN;
      END;
    END IF;
    RAISE NOTICE 'vmx: pg_cron is installed but % may not use schema cron; schedule the demo cleanup as a role that may: %',
      current_user, v_sql;
  ELSIF v_cron_db = '?' THEN
    RAISE NOTICE 'vmx: pg_cron is not installed in database %; schedule the demo cleanup where it runs (cron.database_name) with: % -- or here, after CREATE EXTENSION pg_cron, with: %',
      pg_catalog.current_database(), v_in_db, v_sql;
  ELSIF coalesce(v_cron_db, '') <> '' AND v_cron_db <> pg_catalog.current_database() THEN
    RAISE NOTICE 'vmx: pg_cron runs in database %, not in %; schedule the demo cleanup there with: %',
      v_cron_db, pg_catalog.current_database(), v_in_db;
  ELSE
    RAISE NOTICE 'vmx: pg_cron is not installed; schedule the demo cleanup yourself, e.g. after CREATE EXTENSION pg_cron: %',
      v_sql;
  END IF;
END
$$;

/* vmx:concurrently
-- Run by vmx after the transaction above commits, one statement at a time,
-- outside any transaction (see the header).

-- Indexes (promise 7, "my latest calls"), built without blocking writes.
-- vmx drops an INVALID leftover of an interrupted build before each attempt.
CREATE INDEX CONCURRENTLY IF NOT EXISTS call_logs_user_id_started_at_idx
  ON public.call_logs (user_id, started_at DESC);
CREATE INDEX CONCURRENTLY IF NOT EXISTS call_logs_assistant_id_idx
  ON public.call_logs (assistant_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS call_logs_phone_number_id_idx
  ON public.call_logs (phone_number_id);

-- Foreign keys added NOT VALID above (promises 6, 10): every existing call
-- checked, under a lock that lets the app read and write.
DO $$
DECLARE
  c record;
BEGIN
  FOR c IN
    SELECT con.conname FROM pg_catalog.pg_constraint con
    WHERE con.conrelid = 'public.call_logs'::regclass AND con.contype = 'f' AND NOT con.convalidated
  LOOP
    EXECUTE pg_catalog.format('ALTER TABLE public.call_logs VALIDATE CONSTRAINT %I', c.conname);
  END LOOP;
END
$$;

-- Assistant totals from the data (promises 4, 8), while webhooks keep
-- arriving: the usage triggers have added every call since the transaction
-- above committed, so a total is off from the data by a constant, which one
-- snapshot measures and an addition corrects (it commutes with the
-- triggers' additions, as a recount would not). call_logs is only read;
-- an assistant row is locked for the moment of its update.
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
