-- Test leads for dev, staging and pull-request databases; obviously fake (example.* domains,
-- 555 phone numbers). Never loaded into production: the seed command refuses it.
--
-- Idempotent without writing: rows already present are filtered out before the INSERT, so a
-- re-run inserts nothing and draws no identity values; ON CONFLICT covers a concurrent run.
INSERT INTO public.hermes_leads
  (lead_id, full_name, email, phone, company, service_interest, message, source,
   workflow_status, workflow_execution_id, workflow_synced_at, workflow_last_error, status)
SELECT seed.*
FROM (VALUES
  ('test-lead-0001', 'Ada Example', 'ada@example.com', '+1 555 0100', 'Example Corp',
   'Penetration testing', 'Please call me about a quote.', 'contact_form',
   'acknowledged', 'exec-test-0001', now() - interval '2 days', NULL, 'contacted'),
  ('test-lead-0002', 'Brian Sample', 'brian@example.org', NULL, 'Sample Ltd',
   'Security audit', 'Looking for an audit next quarter.', 'contact_form',
   'sent', 'exec-test-0002', now() - interval '1 day', NULL, 'new'),
  ('test-lead-0003', 'Chen Placeholder', 'chen@example.net', '+44 20 7946 0000', NULL,
   'Incident response', 'Test lead created by the workflow webhook.', 'workflow',
   'pending', NULL, NULL, NULL, 'new'),
  ('test-lead-0004', 'Dana Fixture', 'dana@example.com', NULL, 'Fixture GmbH',
   'Managed SOC', 'Failed hand-off, kept for retry tests.', 'contact_form',
   'failed', 'exec-test-0004', NULL, 'webhook returned HTTP 502', 'qualified')
) AS seed (lead_id, full_name, email, phone, company, service_interest, message, source,
           workflow_status, workflow_execution_id, workflow_synced_at, workflow_last_error, status)
WHERE NOT EXISTS (SELECT 1 FROM public.hermes_leads AS existing WHERE existing.lead_id = seed.lead_id)
ON CONFLICT (lead_id) DO NOTHING;
