import { expect, test } from 'bun:test'
import { END, replaceBlock, START } from './report'
import { percentile } from './stats'

test('the README block between the markers is replaced and everything around it kept', () => {
  const text = `# dcm\n\n${START}\nold table\n${END}\n\nmore\n`
  expect(replaceBlock(text, '| new |')).toBe(`# dcm\n\n${START}\n| new |\n${END}\n\nmore\n`)
  expect(replaceBlock(replaceBlock(text, 'a'), 'b')).toBe(replaceBlock(text, 'b'))
})

test('a README without both markers is refused', () => {
  expect(() => replaceBlock('# dcm\n', 'x')).toThrow(/no <!-- bench:start -->/)
  expect(() => replaceBlock(`${END}\n${START}\n`, 'x')).toThrow()
})

test('percentiles are nearest-rank', () => {
  const xs = Array.from({ length: 200 }, (_, i) => 200 - i) // 200 … 1, unsorted on purpose
  expect([percentile(xs, 50), percentile(xs, 99), percentile(xs, 100), percentile([], 50)]).toEqual([100, 198, 200, NaN])
})
