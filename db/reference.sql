-- The schema and the reference values every environment holds (prod included).
-- Idempotent: running it again changes nothing (`invoke seed --env ENV`).
CREATE SCHEMA IF NOT EXISTS mirante;

CREATE TABLE IF NOT EXISTS mirante.reference_values (
    kind     text    NOT NULL,
    code     text    NOT NULL,
    label    text    NOT NULL,
    position integer NOT NULL,
    PRIMARY KEY (kind, code)
);

INSERT INTO mirante.reference_values (kind, code, label, position) VALUES
    ('llm_provider',  'primary',   'Primary LLM provider (simulated)',   1),
    ('llm_provider',  'fallback',  'Fallback LLM provider (simulated)',  2),
    ('simulate_mode', 'healthy',   'Normal latency and error rate',      1),
    ('simulate_mode', 'slow',      'Slow responses',                     2),
    ('simulate_mode', 'errors',    'A share of requests fail',           3),
    ('simulate_mode', 'down',      'Every request fails',                4),
    ('severity',      'critical',  'Pages someone now',                  1),
    ('severity',      'warning',   'Look at it during working hours',    2),
    ('severity',      'info',      'For the record',                     3),
    ('environment',   'local',     'The compose stack on a laptop',      1),
    ('environment',   'dev',       'Development cluster',                2),
    ('environment',   'staging',   'Staging cluster (reset on demand)',  3),
    ('environment',   'prod',      'Production cluster',                 4)
ON CONFLICT (kind, code) DO UPDATE
    SET label = EXCLUDED.label, position = EXCLUDED.position
    WHERE (mirante.reference_values.label, mirante.reference_values.position)
          IS DISTINCT FROM (EXCLUDED.label, EXCLUDED.position);
