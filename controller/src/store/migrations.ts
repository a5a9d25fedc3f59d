/** Schema migrations, applied in order and recorded in schema_migrations. Kept in code (not .sql files)
 *  so the compiled executable carries them. Dialect differences are spelled out per store. */
export type Migration = { id: number; name: string; sqlite: string; postgres: string }

export const migrations: Migration[] = [
  {
    id: 1,
    name: 'config versions and agents',
    sqlite: `
      create table config_versions (
        version integer primary key,
        url text not null,
        timeout_ms integer,
        updated_at text not null
      );
      create table agents (
        agent_id text primary key,
        hostname text,
        worker_url text,
        labels text not null default '{}',
        registered_at text not null,
        last_seen_at text not null
      );`,
    postgres: `
      create table config_versions (
        version integer primary key,
        url text not null,
        timeout_ms integer,
        updated_at timestamptz not null
      );
      create table agents (
        agent_id text primary key,
        hostname text,
        worker_url text,
        labels jsonb not null default '{}',
        registered_at timestamptz not null,
        last_seen_at timestamptz not null
      );`,
  },
]
