CREATE TABLE public.events (id int, at timestamptz);
-- built without locking writers
CREATE UNIQUE INDEX CONCURRENTLY events_id ON public.events (id);
VACUUM (ANALYZE) public.events;
INSERT INTO public.events VALUES (1, '2024-01-01');
