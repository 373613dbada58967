BEGIN;
CREATE TABLE public.ledger (amount numeric);
INSERT INTO public.ledger VALUES (1.5);
COMMIT;
