CREATE TABLE public.counts (n int);
CREATE FUNCTION public.bump() RETURNS int
LANGUAGE sql
BEGIN ATOMIC
  INSERT INTO public.counts VALUES (1);
  SELECT count(*)::int FROM public.counts;
END;
create procedure public.reset_counts()
language sql
begin atomic
  delete from public.counts;
end;
