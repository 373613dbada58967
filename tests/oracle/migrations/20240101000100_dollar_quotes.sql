CREATE FUNCTION public.greet(who text) RETURNS text
LANGUAGE plpgsql AS $тело$
BEGIN
  RETURN 'hello; ' || who || $é$;$é$;
END;
$тело$;

CREATE FUNCTION public.plain() RETURNS text LANGUAGE sql AS $$ SELECT 'a;b' $$;
SELECT public.greet($имя_1$wörld; ok$имя_1$);
