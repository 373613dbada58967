-- Leads from the Hermes Security contact form, and their hand-off to the workflow
-- automation (n8n) webhook that follows each one up.

CREATE TABLE public.hermes_leads (
  id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  lead_id               text NOT NULL UNIQUE
                          CHECK (lead_id ~ '^[A-Za-z0-9_-]{6,64}$'),
  -- Contact form
  full_name             text NOT NULL CHECK (length(btrim(full_name)) BETWEEN 1 AND 200),
  email                 text NOT NULL
                          CHECK (email ~* '^[^@\s]+@[^@\s]+\.[^@\s]+$' AND length(email) <= 320),
  phone                 text CHECK (length(phone) <= 40),
  company               text CHECK (length(company) <= 200),
  service_interest      text CHECK (length(service_interest) <= 200),
  message               text CHECK (length(message) <= 5000),
  source                text NOT NULL DEFAULT 'contact_form'
                          CHECK (source IN ('contact_form', 'workflow', 'manual', 'import')),
  -- Workflow integration tracking
  workflow_status       text NOT NULL DEFAULT 'pending'
                          CHECK (workflow_status IN ('pending', 'sent', 'acknowledged', 'failed')),
  workflow_execution_id text,
  workflow_attempts     integer NOT NULL DEFAULT 0 CHECK (workflow_attempts >= 0),
  workflow_last_error   text,
  workflow_synced_at    timestamptz,
  -- Lifecycle
  status                text NOT NULL DEFAULT 'new'
                          CHECK (status IN ('new', 'contacted', 'qualified', 'converted', 'closed', 'spam')),
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE public.hermes_leads IS 'Contact-form leads and their workflow hand-off state.';

CREATE INDEX hermes_leads_email_idx ON public.hermes_leads (lower(email));
CREATE INDEX hermes_leads_status_created_idx ON public.hermes_leads (status, created_at DESC);
-- The webhook retries what has not been acknowledged yet.
CREATE INDEX hermes_leads_workflow_pending_idx ON public.hermes_leads (created_at)
  WHERE workflow_status IN ('pending', 'failed');

CREATE FUNCTION public.hermes_leads_touch_updated_at() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$$;

CREATE TRIGGER hermes_leads_updated_at
  BEFORE UPDATE ON public.hermes_leads
  FOR EACH ROW EXECUTE FUNCTION public.hermes_leads_touch_updated_at();

-- Supabase exposes public tables through its Data API; the app reaches leads only through
-- its own server-side routes, so no policy grants anonymous access.
ALTER TABLE public.hermes_leads ENABLE ROW LEVEL SECURITY;
