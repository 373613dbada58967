CREATE VIEW public.semis AS SELECT ';' AS s, (SELECT 1) AS one;
SELECT format('%s;%s', 'a', 'b');
/* only a comment at the end; */
