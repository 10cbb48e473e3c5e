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
    .also(&[CheckId::TriggerPresent]),
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
    .also(&[CheckId::TriggerPresent]),
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
];
