/* The users table; /* a nested comment; still inside */ and; the outer one ends here */
CREATE TABLE public."user;s" (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  "e;mail" text NOT NULL, -- a comment; with a semicolon
  note text DEFAULT 'it''s; fine'
);

COMMENT ON TABLE public."user;s" IS 'people; and their e-mail';
INSERT INTO public."user;s" ("e;mail") VALUES ('a@example.com;'), ('b@example.com');
-- a trailing comment; it is a statement of its own
