-- What the workflow webhook needs beyond the first schema.

-- The webhook can record a lead without inventing an identifier.
ALTER TABLE public.hermes_leads ALTER COLUMN lead_id SET DEFAULT gen_random_uuid()::text;

-- Its callback finds the lead by the execution it started.
CREATE INDEX hermes_leads_workflow_execution_idx ON public.hermes_leads (workflow_execution_id)
  WHERE workflow_execution_id IS NOT NULL;

-- A pinned, empty search_path: objects created in other schemas cannot redirect the trigger
-- (Supabase's database linter flags functions without one).
ALTER FUNCTION public.hermes_leads_touch_updated_at() SET search_path = '';
