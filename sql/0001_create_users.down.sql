-- 0001_create_users: revert. Dropping the table drops its index and comments.
DROP TABLE users;
