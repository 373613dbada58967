-- pg-delta: transaction=false
CREATE INDEX CONCURRENTLY users_email ON public."user;s" ("e;mail");
CREATE INDEX CONCURRENTLY counts_n ON public.counts (n);
