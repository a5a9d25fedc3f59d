/** A fresh PostgreSQL database for one bench run, dropped afterwards. */
import postgres from 'postgres'

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test'

export type TempDatabase = { url: string; drop(): Promise<void> }

/** Create `dcm_bench_<pid>_<random>` next to the database `base` points at. */
export async function tempDatabase(base = process.env.BENCH_DATABASE_URL ?? DEFAULT_DATABASE_URL): Promise<TempDatabase> {
  const name = `dcm_bench_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
  const admin = postgres(base, { max: 1, onnotice: () => {}, connect_timeout: 5 })
  try {
    await admin.unsafe(`create database ${name}`)
  } finally {
    await admin.end({ timeout: 2 })
  }
  const u = new URL(base)
  u.pathname = `/${name}`
  return {
    url: u.toString(),
    async drop() {
      const a = postgres(base, { max: 1, onnotice: () => {}, connect_timeout: 5 })
      try {
        await a.unsafe(`drop database if exists ${name} with (force)`)
      } finally {
        await a.end({ timeout: 2 })
      }
    },
  }
}
