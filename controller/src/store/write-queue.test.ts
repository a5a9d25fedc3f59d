import { expect, test } from 'bun:test'
import { LateWrite } from './types'
import { WriteQueue } from './write-queue'

test('writes run one at a time, in order', async () => {
  const q = new WriteQueue()
  const order: string[] = []
  const slow = q.run(Date.now() + 4000, async () => {
    await Bun.sleep(20)
    order.push('a')
  })
  const fast = q.run(Date.now() + 4000, async () => void order.push('b'))
  await Promise.all([slow, fast])
  expect(order).toEqual(['a', 'b'])
})

test('a write whose deadline passed while it waited is never run', async () => {
  const q = new WriteQueue()
  let ran = false
  const first = q.run(Date.now() + 4000, () => Bun.sleep(50))
  const late = q.run(Date.now() + 10, async () => void (ran = true))
  await first
  await expect(late).rejects.toBeInstanceOf(LateWrite)
  expect(ran).toBe(false)
})

test('a write that never settles holds up the next only until its deadline (plus a grace) has passed', async () => {
  const q = new WriteQueue()
  void q.run(Date.now() + 50, () => new Promise(() => {}))
  expect(await q.run(Date.now() + 5000, async () => 'next')).toBe('next')
})

test('beyond the queue bound a write is refused at once with 503 busy', async () => {
  const q = new WriteQueue(1)
  const held = q.run(Date.now() + 4000, () => Bun.sleep(30))
  await Bun.sleep(1) // the first has started: it no longer waits
  const waiting = q.run(Date.now() + 4000, async () => 1)
  await expect(q.run(Date.now() + 4000, async () => 2)).rejects.toMatchObject({ status: 503, code: 'busy' })
  await Promise.all([held, waiting])
})
