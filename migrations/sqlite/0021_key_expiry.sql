-- Keys issued at sign-in (POST /_gate/v1/credentials) stop working at expires_at
-- (epoch ms); NULL keeps the old meaning: until revoked.
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT NULL;
