/**
 * What `npm run bench` is made of: sections, each a benchmark that yields rows for one shared
 * table. A row names its section and case and carries its measurements by column name; the
 * table's columns are every name any row uses, so sections with different measurements still
 * print as one table.
 */
import { table } from '../sim/report.js';

export interface BenchRow {
  section: string;
  case: string;
  /** Measurements by column name, already formatted for people. */
  values: Record<string, string>;
}

export interface BenchSection {
  name: string;
  run(): Promise<BenchRow[]>;
}

/** One table of every row; a cell a row has no value for is left empty. */
export function benchTable(rows: readonly BenchRow[]): string {
  const columns: string[] = [];
  for (const row of rows) {
    for (const column of Object.keys(row.values)) {
      if (!columns.includes(column)) columns.push(column);
    }
  }
  return table(
    ['section', 'case', ...columns],
    rows.map((row) => [
      row.section,
      row.case,
      ...columns.map((column) => row.values[column] ?? ''),
    ]),
  );
}
