//! Break cases of the behavioural checks (`--probe`, run by `crate::verify::probes`).

use super::*;

pub const BREAKS: &[Break] = &[
    Break::fails(
        CheckId::ProbeRun,
        "probes",
        "REVOKE service_role FROM {admin}",
    )
    .probe()
    .undo("GRANT service_role TO {admin}"),
    Break::fails(
        CheckId::ProbeSignUp,
        "auth.users.on_auth_user_created",
        "DROP TRIGGER on_profile_created_create_limits ON public.profiles",
    )
    .probe()
    // Every later sign-up lacks its limits row too (promise 13).
    .also(&[CheckId::TriggerPresent, CheckId::ProbeAccountRows]),
    Break::fails(
        CheckId::ProbeIsolation,
        "public.call_logs",
        "CREATE POLICY everyone ON public.call_logs FOR SELECT TO authenticated USING (true)",
    )
    .probe()
    .also(&[CheckId::PolicyAlwaysTrue]),
    Break::fails(
        CheckId::ProbeNoSelfEscalation,
        "public.user_limits",
        "GRANT UPDATE ON public.user_limits TO authenticated;
         CREATE POLICY raise ON public.user_limits FOR UPDATE TO authenticated USING (true) WITH CHECK (true)",
    )
    .probe()
    .also(&[
        CheckId::PolicyAlwaysTrue,
        CheckId::PolicyUnneededCommand,
        CheckId::TableGrants,
        CheckId::ColumnGrants,
        CheckId::LimitsUserWritable,
    ]),
    Break::fails(
        CheckId::ProbeAssistantLimit,
        "public.assistants",
        "DROP TRIGGER enforce_assistant_limit ON public.assistants",
    )
    .probe()
    // The same trigger freezes expired demos (promise 11).
    .also(&[CheckId::TriggerPresent, CheckId::ProbeDemoFrozen]),
    Break::fails(
        CheckId::ProbeAnon,
        "anon",
        "GRANT SELECT ON public.usage_logs TO anon;
         CREATE POLICY anon_reads ON public.usage_logs FOR SELECT TO anon USING (true)",
    )
    .probe()
    .also(&[
        CheckId::TableGrants,
        CheckId::ColumnGrants,
        CheckId::PolicyForAnon,
        CheckId::PolicyAlwaysTrue,
    ]),
    Break::fails(
        CheckId::ProbeUsageCountedOnce,
        "public.call_logs",
        "DROP TRIGGER track_call_usage ON public.call_logs",
    )
    .probe()
    .also(&[CheckId::TriggerPresent]),
    Break::fails(
        CheckId::ProbeFunctionOwnIdOnly,
        "public.get_user_call_usage(uuid)",
        "CREATE OR REPLACE FUNCTION public.get_user_call_usage(user_uuid uuid)
           RETURNS TABLE (total_call_seconds bigint, total_call_minutes numeric, call_count bigint, latest_call timestamptz)
           LANGUAGE sql STABLE SET search_path = ''
           AS 'SELECT 0::bigint, 0::numeric, 0::bigint, NULL::timestamptz'",
    )
    .probe()
    // A body replaced by hand: the static check sees it too.
    .also(&[CheckId::FunctionBody]),
    Break::fails(
        CheckId::ProbeCleanupServiceOnly,
        "public.cleanup_expired_demos()",
        "GRANT EXECUTE ON FUNCTION public.cleanup_expired_demos() TO authenticated",
    )
    .probe()
    .also(&[CheckId::FunctionExecute, CheckId::DefinerExecutable]),
    Break::fails(
        CheckId::ProbeCascade,
        "auth.users",
        "ALTER TABLE public.call_logs DROP CONSTRAINT call_logs_user_id_fkey,
           ADD CONSTRAINT call_logs_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.profiles (id)",
    )
    .probe()
    .also(&[CheckId::FkOnDelete]),
    Break::fails(
        CheckId::ProbeSignUpWithoutProfile,
        "auth.users.on_auth_user_created",
        "CREATE OR REPLACE FUNCTION public.handle_new_user() RETURNS trigger LANGUAGE plpgsql
           SECURITY DEFINER SET search_path = '' AS $$
         BEGIN
           INSERT INTO public.profiles (id, email) VALUES (NEW.id, NEW.email) ON CONFLICT (id) DO NOTHING;
           RETURN NEW;
         END $$",
    )
    .probe()
    // A body replaced by hand: the static check sees it too.
    .also(&[CheckId::FunctionBody]),
    Break::fails(
        CheckId::ProbeCleanupDeletesExpired,
        "public.cleanup_expired_demos()",
        "CREATE OR REPLACE FUNCTION public.cleanup_expired_demos() RETURNS integer LANGUAGE plpgsql
           SECURITY DEFINER SET search_path = '' AS $$ BEGIN RETURN 0; END $$",
    )
    .probe()
    // A body replaced by hand: the static check sees it too.
    .also(&[CheckId::FunctionBody]),
    // Promise 10: the calls of a deleted assistant cascade away with it.
    Break::fails(
        CheckId::ProbeUsagePermanent,
        "public.call_logs.assistant_id",
        "ALTER TABLE public.call_logs DROP CONSTRAINT call_logs_assistant_id_fkey,
           ADD CONSTRAINT call_logs_assistant_id_fkey FOREIGN KEY (assistant_id) REFERENCES public.assistants (id) ON DELETE CASCADE",
    )
    .probe()
    .also(&[CheckId::FkOnDelete]),
    // Promise 11: the assistant limit without its demo-expiry check.
    Break::fails(
        CheckId::ProbeDemoFrozen,
        "public.assistants",
        "CREATE OR REPLACE FUNCTION public.enforce_assistant_limit() RETURNS trigger LANGUAGE plpgsql
           SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
         DECLARE v_max integer; v_count integer;
         BEGIN
           IF pg_catalog.current_setting('role', true) IN ('authenticated', 'anon')
              AND NEW.user_id IS DISTINCT FROM auth.uid() THEN
             RETURN NEW;
           END IF;
           SELECT l.max_assistants INTO v_max FROM public.user_limits l WHERE l.user_id = NEW.user_id FOR UPDATE;
           SELECT pg_catalog.count(*)::integer INTO v_count FROM public.assistants a WHERE a.user_id = NEW.user_id;
           IF v_count >= coalesce(v_max, 1) THEN
             RAISE EXCEPTION 'assistant limit reached' USING ERRCODE = 'VX001';
           END IF;
           RETURN NEW;
         END $$",
    )
    .probe()
    .also(&[CheckId::FunctionBody]),
    // Promise 12: users may write provider ids (a held one answers with a unique violation).
    Break::fails(
        CheckId::ProbeNoSquatting,
        "public.assistants.vapi_assistant_id",
        "DROP TRIGGER protect_assistant_ids ON public.assistants;
         DROP TRIGGER protect_assistant_ids_update ON public.assistants",
    )
    .probe()
    .also(&[CheckId::TriggerPresent]),
    // Promise 12: every number unique, verified or not: a claim of a held one is refused, a free one is not.
    Break::fails(
        CheckId::ProbeNoSquatting,
        "public.phone_numbers.phone_number",
        "DROP INDEX public.phone_numbers_verified_phone_number_key;
         ALTER TABLE public.phone_numbers ADD CONSTRAINT phone_numbers_phone_number_key UNIQUE (phone_number)",
    )
    .probe()
    .also(&[CheckId::UniqueKey]),
    // Promise 13: profiles.email no longer follows auth.users.email.
    Break::fails(
        CheckId::ProbeAccountRows,
        "auth.users.email",
        "DROP TRIGGER on_auth_user_email_changed ON auth.users",
    )
    .probe()
    .also(&[CheckId::TriggerPresent]),
    // Promise 13: a phone-only sign-up (no email) can have no profile.
    Break::fails(
        CheckId::ProbeAccountRows,
        "auth.users.phone",
        "ALTER TABLE public.profiles ALTER COLUMN email SET NOT NULL",
    )
    .probe()
    .also(&[CheckId::ColumnNotNull]),
];
