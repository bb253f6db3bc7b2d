import { describe, expect, it } from 'vitest';
import { benchTable } from '../../../infra/bench/sections.js';

describe('the bench table', () => {
  it('has one column for every measurement any section reports, empty where a row has none', () => {
    const text = benchTable([
      { section: 'simulator', case: 'race-day · pacer', values: { synced: '30,715' } },
      { section: 'emulator', case: '1,000 due', values: { 'syncs / s': '120' } },
    ]);
    const [header, , first, second] = text.split('\n');
    expect(header).toMatch(/^\| section +\| case +\| synced +\| syncs \/ s \|$/);
    expect(first).toMatch(/^\| simulator \| race-day · pacer \| 30,715 +\| +\|$/);
    expect(second).toMatch(/^\| emulator +\| 1,000 due +\| +\| 120 +\|$/);
  });
});
