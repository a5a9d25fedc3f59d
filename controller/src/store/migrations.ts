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
  {
    // The store identity tells agents and workers that versions started again (a reset or restored
    // database). On PostgreSQL the head row is what a write locks and updates in one statement.
    id: 2,
    name: 'store identity and write head',
    sqlite: `
      create table store_meta (key text primary key, value text not null);
      insert into store_meta (key, value) values ('store_id', lower(hex(randomblob(16))));`,
    postgres: `
      create table store_meta (key text primary key, value text not null);
      insert into store_meta (key, value) values ('store_id', replace(gen_random_uuid()::text, '-', ''));
      create table config_head (
        id integer primary key check (id = 1),
        version integer not null,
        url text,
        timeout_ms integer,
        updated_at timestamptz,
        changed boolean not null default false
      );
      insert into config_head (id, version, url, timeout_ms, updated_at)
        select 1, coalesce(max(version), 0), null, null, null from config_versions;
      update config_head h set url = v.url, timeout_ms = v.timeout_ms, updated_at = v.updated_at
        from config_versions v where v.version = h.version;`,
  },
  {
    // Raised inside the write statement after the write head is locked: a write that got the lock
    // too late is rolled back, whatever made it wait.
    id: 3,
    name: 'write deadline assertion',
    sqlite: `select 1;`,
    postgres: `
      create or replace function dcm_assert_before(deadline timestamptz) returns boolean
      language plpgsql volatile as $$
      begin
        if clock_timestamp() >= deadline then
          raise exception 'dcm: write deadline passed' using errcode = 'DCM01';
        end if;
        return true;
      end $$;`,
  },
  {
    // Per-agent credentials: only a hash of each agent's token is stored, and kept when the agent is
    // revoked, so a revoked token is told apart from an unknown one. Agents of earlier releases have no
    // token until they register again.
    id: 4,
    name: 'agent tokens and revocation',
    sqlite: `
      alter table agents add column token_hash text;
      alter table agents add column revoked_at text;
      create unique index agents_token_hash on agents (token_hash);
      create index agents_revoked on agents (revoked_at) where revoked_at is not null;`,
    postgres: `
      alter table agents add column token_hash text;
      alter table agents add column revoked_at timestamptz;
      create unique index agents_token_hash on agents (token_hash);
      create index agents_revoked on agents (revoked_at) where revoked_at is not null;`,
  },
  {
    // Fleet operations (#11): who wrote each version and why, when the fleet had applied it; what each
    // agent fetched, applied or refused (written in batches from memory); the audit trail.
    id: 5,
    name: 'history, fleet reports and audit',
    sqlite: `
      alter table config_versions add column created_by text;
      alter table config_versions add column comment text;
      alter table config_versions add column converged_at text;
      alter table agents add column fetched_version integer;
      alter table agents add column applied_version integer;
      alter table agents add column applied_at text;
      alter table agents add column rejected_version integer;
      alter table agents add column rejected_reason text;
      create table audit (
        id integer primary key autoincrement,
        at text not null,
        actor text not null,
        action text not null,
        target text not null,
        request_id text,
        outcome text not null
      );`,
    postgres: `
      alter table config_head add column precondition_ok boolean not null default true;
      alter table config_versions add column created_by text;
      alter table config_versions add column comment text;
      alter table config_versions add column converged_at timestamptz;
      alter table agents add column fetched_version integer;
      alter table agents add column applied_version integer;
      alter table agents add column applied_at timestamptz;
      alter table agents add column rejected_version integer;
      alter table agents add column rejected_reason text;
      create table audit (
        id bigserial primary key,
        at timestamptz not null default clock_timestamp(),
        actor text not null,
        action text not null,
        target text not null,
        request_id text,
        outcome text not null
      );`,
  },
  {
    // Staged rollouts (#12): one row per rollout (its spec, the agents taking part frozen at the start in
    // cohort order, the step in force, the decisions, a lease so one replica advances it), and the health
    // agents report per version.
    id: 6,
    name: 'rollouts and worker health',
    sqlite: `
      create table rollouts (
        id integer primary key autoincrement,
        version integer not null,
        stable_version integer not null,
        state text not null,
        step integer not null default 0,
        spec text not null,
        eligible text not null,
        step_started_at text not null,
        reason text,
        rollback_version integer,
        decisions text not null default '[]',
        rev integer not null default 0,
        created_by text not null,
        created_at text not null,
        updated_at text not null,
        lease_owner text,
        lease_until text
      );
      create unique index rollouts_one_active on rollouts ((1)) where state in ('running', 'paused');
      create table agent_health (
        agent_id text not null,
        version integer not null,
        hits integer not null,
        errors integer not null,
        p99_ms integer not null,
        updated_at text not null,
        primary key (agent_id, version)
      );`,
    postgres: `
      create table rollouts (
        id serial primary key,
        version integer not null,
        stable_version integer not null,
        state text not null,
        step integer not null default 0,
        spec jsonb not null,
        eligible jsonb not null,
        step_started_at timestamptz not null,
        reason text,
        rollback_version integer,
        decisions jsonb not null default '[]',
        rev integer not null default 0,
        created_by text not null,
        created_at timestamptz not null,
        updated_at timestamptz not null,
        lease_owner text,
        lease_until timestamptz
      );
      create unique index rollouts_one_active on rollouts ((1)) where state in ('running', 'paused');
      create table agent_health (
        agent_id text not null,
        version integer not null,
        hits bigint not null,
        errors bigint not null,
        p99_ms integer not null,
        updated_at timestamptz not null,
        primary key (agent_id, version)
      );`,
  },
  {
    // Console sessions (#13): only a hash of the session cookie is stored; sign-out ends it on every
    // replica (each cookie request reads its row).
    id: 7,
    name: 'console sessions',
    sqlite: `
      create table sessions (
        id_hash text primary key,
        actor text not null,
        csrf text not null,
        expires_at text not null,
        ended_at text
      );`,
    postgres: `
      create table sessions (
        id_hash text primary key,
        actor text not null,
        csrf text not null,
        expires_at timestamptz not null,
        ended_at timestamptz
      );`,
  },
]
