/** A fresh PostgreSQL database for one run, next to the one BENCH_DATABASE_URL names; dropped afterwards. */
import postgres from 'postgres'
import { Skip } from './report'

const BASE = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

const admin = async (sql: string) => {
  const db = postgres(BASE, { max: 1, onnotice: () => {}, connect_timeout: 5 })
  try {
    await db.unsafe(sql)
  } finally {
    await db.end({ timeout: 2 })
  }
}

export async function tempDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `dcm_bench_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
  await admin(`create database ${name}`).catch((e) => {
    throw new Skip(`no PostgreSQL at BENCH_DATABASE_URL (${BASE.replace(/\/\/[^@/]*@/, '//…@')}): ${(e as Error).message}`)
  })
  const u = new URL(BASE)
  u.pathname = `/${name}`
  return { url: u.toString(), drop: () => admin(`drop database if exists ${name} with (force)`) }
}
