-- 0001_create_users: the people who write posts.
-- Runs in one transaction together with its history row: either all of it
-- is applied and recorded, or none of it.

CREATE TABLE users (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email        text NOT NULL,
  display_name text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT users_email_format CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
  CONSTRAINT users_display_name_not_blank CHECK (btrim(display_name) <> '')
);

-- One account per address, whatever its case: a unique index on an
-- expression, since a UNIQUE constraint can only name plain columns.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

COMMENT ON TABLE users IS 'People who can sign in and write posts.';
COMMENT ON COLUMN users.email IS 'Sign-in address; unique regardless of case (users_email_key).';
