"""Database work: the environments' databases, the stack's Postgres client tools, the seeds.

- ``databases``: ``pg_dump`` backups of an environment's database (and S3), its health;
- ``postgres``: psql / pg_dump / pg_restore in the stack's Postgres container, or against a
  URL from its image;
- ``seed``: the schema and fixtures of ``db/*.sql``, loaded idempotently.

This file imports nothing: backups use ``postgres`` without loading the databases' code.
"""
