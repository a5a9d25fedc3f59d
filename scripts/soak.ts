/** `bun run soak -- --minutes M [--seed S]`: the soak of test/soak/soak.ts at length; exits 1 when a
 *  user would notice something (errors on valid traffic, memory growing, files or polls left open). */
import { parseArgs } from 'node:util'
import { describeSoak, ensureWrk, soak, soakProblems } from '../test/soak/soak'

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '5' }, seed: { type: 'string', default: '1' } } })
const minutes = Number(values.minutes)
if (!(minutes > 0)) {
  console.error('soak: --minutes must be a positive number')
  process.exit(2)
}
const missing = ensureWrk()
if (missing) {
  console.error(`soak: ${missing}`)
  process.exit(2)
}
const report = await soak({ minutes, seed: Number(values.seed), log: (line) => console.log(line) })
console.log(describeSoak(report))
console.log(JSON.stringify(report))
const problems = soakProblems(report)
for (const p of problems) console.error(`soak: ${p}`)
process.exit(problems.length ? 1 : 0)
