/** A fee percent as people read it: 10 → "10 %", 12.5 → "12.5 %". */
export function formatPercent(percent: number): string {
  return `${percent} %`;
}
