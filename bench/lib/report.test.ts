import { expect, test } from 'bun:test'
import { END, replaceBlock, row, START, summary, type Figure } from './report'
import { percentile } from './stats'

test('the block between the markers is replaced and everything around it kept', () => {
  const text = `# dcm\n\n${START}\nold table\n${END}\n\nmore\n`
  expect(replaceBlock(text, '| new |')).toBe(`# dcm\n\n${START}\n| new |\n${END}\n\nmore\n`)
  expect(replaceBlock(replaceBlock(text, 'a'), 'b')).toBe(replaceBlock(text, 'b'))
})

test('a text without both markers is refused', () => {
  expect(() => replaceBlock('# dcm\n', 'x')).toThrow(/no <!-- bench:start -->/)
  expect(() => replaceBlock(`${END}\n${START}\n`, 'x')).toThrow()
})

test('the summary names each figure once and marks its rows met, MISSED or –', () => {
  const figure = { label: '9 demo' } as Figure
  const rows = [row('a|b', '1', 'base', '0.90', '≥ 0.85', true), row('c', '2', '', '', '', null), row('d', '3', '', '', '< 1', false)]
  expect(summary([{ figure, outcome: { rows, params: '', details: [] } }]).split('\n').slice(2)).toEqual([
    '| 9 demo | a\\|b | 1 | base | 0.90 | ≥ 0.85 | met |',
    '|  | c | 2 |  |  |  | – |',
    '|  | d | 3 |  |  | < 1 | MISSED |',
  ])
})

test('percentiles are nearest-rank', () => {
  const xs = Array.from({ length: 200 }, (_, i) => 200 - i) // 200 … 1, unsorted on purpose
  expect([percentile(xs, 50), percentile(xs, 99), percentile(xs, 100), percentile([], 50)]).toEqual([100, 198, 200, NaN])
})
