-- Which leads the app's own database roles may use. envstack's login roles (the credentials
-- the app's server-side routes connect with) belong to the NOLOGIN group hermes_app, its
-- read-only ones to hermes_reader ("<app>_app" and "<app>_reader" for envstack:app hermes).
-- Row level security shows a role nothing without a policy, and envstack writes none: these
-- are the app's, and nobody else's.

-- The groups, unless they exist already (envstack's dev stack makes them before migrating, an
-- older envstack made them after). On Supabase, postgres may create roles; `supabase db reset`
-- starts from a server without them.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'hermes_app') THEN
    CREATE ROLE hermes_app NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'hermes_reader') THEN
    CREATE ROLE hermes_reader NOLOGIN;
  END IF;
END
$$;

-- The server-side routes record, follow up and close every lead; the read-only role (reports,
-- the read replica's URL) reads them all. The Data API's anon and authenticated roles still
-- get nothing. (Not named hermes_app_all or hermes_reader_select: envstack removes a policy of
-- such a name and an unrestricted definition as the one an older envstack version added.)
CREATE POLICY hermes_leads_app_manages ON public.hermes_leads
  FOR ALL TO hermes_app USING (true) WITH CHECK (true);
CREATE POLICY hermes_leads_reader_reads ON public.hermes_leads
  FOR SELECT TO hermes_reader USING (true);
