-- Sample rows for local, dev and staging (never prod): tenants and their API keys' owners,
-- so that dashboards and `invoke health` have something to show. Idempotent.
CREATE TABLE IF NOT EXISTS mirante.sample_tenants (
    id           integer     PRIMARY KEY,
    name         text        NOT NULL UNIQUE,
    plan         text        NOT NULL,
    llm_provider text        NOT NULL,
    created_at   timestamptz NOT NULL
);

INSERT INTO mirante.sample_tenants (id, name, plan, llm_provider, created_at)
SELECT n,
       format('tenant-%s', lpad(n::text, 3, '0')),
       (ARRAY['free', 'team', 'enterprise'])[1 + n % 3],
       CASE WHEN n % 4 = 0 THEN 'fallback' ELSE 'primary' END,
       timestamptz '2026-01-01 00:00:00+00' + make_interval(days => n)
FROM generate_series(1, 50) AS n
ON CONFLICT (id) DO NOTHING;
