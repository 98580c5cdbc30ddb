/**
 * The throughput chart (throughput.svg), drawn as SVG text: events/s against
 * concurrency, one line per batch size and stream, the naive relay and the
 * target as horizontal lines. The y axis is logarithmic: the naive relay and
 * the relay are two orders of magnitude apart.
 */
import type { RelayRow } from './report';

const WIDTH = 920;
const HEIGHT = 440;
const MARGIN = { top: 48, right: 360, bottom: 56, left: 72 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** The series of the chart: one per (stream, batch size), points by concurrency. */
interface Series {
  readonly label: string;
  readonly dashed: boolean;
  readonly points: readonly { readonly concurrency: number; readonly eventsPerSecond: number }[];
}

function seriesOf(rows: readonly RelayRow[]): Series[] {
  const groups = new Map<string, Series>();
  for (const row of rows) {
    const key = `${row.stream}:${row.batchSize}`;
    const label = `batch ${row.batchSize.toLocaleString('en-US')}${row.stream === 'distinct' ? ', distinct' : ''}`;
    const series = groups.get(key) ?? { label, dashed: row.stream === 'distinct', points: [] };
    groups.set(key, {
      ...series,
      points: [...series.points, { concurrency: row.concurrency, eventsPerSecond: row.eventsPerSecond }].sort(
        (a, b) => a.concurrency - b.concurrency,
      ),
    });
  }
  return [...groups.values()].sort((a, b) => Number(a.dashed) - Number(b.dashed));
}

/** Renders the chart; `naive` and `target` are events/s drawn as horizontal lines. */
export function renderThroughputChart(
  rows: readonly RelayRow[],
  naive: number,
  target: number,
  subtitle: string,
): string {
  const series = seriesOf(rows);
  const concurrencies = [...new Set(rows.map((row) => row.concurrency))].sort((a, b) => a - b);
  const values = [naive, target, ...rows.map((row) => row.eventsPerSecond)].filter((value) => value > 0);
  const low = 10 ** Math.floor(Math.log10(Math.min(...values)));
  const high = 10 ** Math.ceil(Math.log10(Math.max(...values)));
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const xMin = Math.min(...concurrencies);
  const xMax = Math.max(...concurrencies);
  const x = (value: number) =>
    MARGIN.left + (xMax === xMin ? plotWidth / 2 : ((value - xMin) / (xMax - xMin)) * plotWidth);
  const y = (value: number) =>
    MARGIN.top +
    plotHeight -
    ((Math.log10(value) - Math.log10(low)) / (Math.log10(high) - Math.log10(low))) * plotHeight;

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${MARGIN.left}" y="22" font-size="15" font-weight="bold">Relay throughput per shard</text>`,
    `<text x="${MARGIN.left}" y="38" fill="#555">${escapeXml(subtitle)}</text>`,
  );
  // Grid and y labels: every power of ten, with 2x and 5x minor lines.
  for (let decade = low; decade < high * 1.0001; decade *= 10) {
    for (const factor of [1, 2, 5]) {
      const value = decade * factor;
      if (value > high * 1.0001) continue;
      const major = factor === 1;
      parts.push(
        `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotWidth}" y1="${y(value).toFixed(1)}" y2="${y(value).toFixed(1)}" stroke="${major ? '#cccccc' : '#eeeeee'}"/>`,
      );
      if (major || plotHeight > 300) {
        parts.push(
          `<text x="${MARGIN.left - 8}" y="${(y(value) + 4).toFixed(1)}" text-anchor="end" fill="${major ? '#000' : '#888'}">${value.toLocaleString('en-US')}</text>`,
        );
      }
    }
  }
  for (const concurrency of concurrencies) {
    parts.push(
      `<line x1="${x(concurrency).toFixed(1)}" x2="${x(concurrency).toFixed(1)}" y1="${MARGIN.top}" y2="${MARGIN.top + plotHeight}" stroke="#eeeeee"/>`,
      `<text x="${x(concurrency).toFixed(1)}" y="${MARGIN.top + plotHeight + 18}" text-anchor="middle">${concurrency}</text>`,
    );
  }
  parts.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#333"/>`,
    `<text x="${MARGIN.left + plotWidth / 2}" y="${HEIGHT - 14}" text-anchor="middle">PutEvents calls in flight (concurrency)</text>`,
    `<text transform="translate(18 ${MARGIN.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">events/s (log scale)</text>`,
  );

  const legend: string[] = [];
  const legendX = MARGIN.left + plotWidth + 16;
  let legendY = MARGIN.top + 8;
  const addLegend = (color: string, dash: string, label: string) => {
    legend.push(
      `<line x1="${legendX}" x2="${legendX + 28}" y1="${legendY}" y2="${legendY}" stroke="${color}" stroke-width="2.5"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
      `<text x="${legendX + 36}" y="${legendY + 4}">${escapeXml(label)}</text>`,
    );
    legendY += 22;
  };

  for (const [label, value, color, dash] of [
    [`target ${target.toLocaleString('en-US')}/s`, target, '#000000', '2 4'],
    [`naive relay ${value2(naive)}/s`, naive, '#7f7f7f', '8 4'],
  ] as const) {
    parts.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotWidth}" y1="${y(value).toFixed(1)}" y2="${y(value).toFixed(1)}" stroke="${color}" stroke-width="2" stroke-dasharray="${dash}"/>`,
    );
    addLegend(color, dash, label);
  }
  series.forEach((line, index) => {
    const color = COLORS[index % COLORS.length] ?? '#000000';
    const dash = line.dashed ? '6 3' : '';
    const path = line.points
      .map(
        (point, position) =>
          `${position === 0 ? 'M' : 'L'}${x(point.concurrency).toFixed(1)},${y(point.eventsPerSecond).toFixed(1)}`,
      )
      .join(' ');
    parts.push(
      `<path d="${path}" fill="none" stroke="${color}" stroke-width="2.5"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
    );
    for (const point of line.points) {
      const cx = x(point.concurrency).toFixed(1);
      const cy = y(point.eventsPerSecond).toFixed(1);
      parts.push(
        `<circle cx="${cx}" cy="${cy}" r="4" fill="${color}"><title>${escapeXml(`${line.label}, concurrency ${point.concurrency}: ${value2(point.eventsPerSecond)} events/s`)}</title></circle>`,
      );
    }
    // Values go in the legend: labels at the points would collide where the lines meet.
    const values = line.points.map((point) => value2(point.eventsPerSecond)).join(' / ');
    addLegend(color, dash, `${line.label}: ${values}`);
  });
  legend.push(
    `<text x="${legendX}" y="${legendY + 8}" fill="#555" font-size="11">values at concurrency ${concurrencies.join(' / ')}</text>`,
    `<text x="${legendX}" y="${legendY + 24}" fill="#555" font-size="11">solid: many events per aggregate</text>`,
    `<text x="${legendX}" y="${legendY + 40}" fill="#555" font-size="11">dashed (distinct): one event per aggregate</text>`,
  );
  parts.push(...legend, '</svg>');
  return `${parts.join('\n')}\n`;
}

function value2(value: number): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: value < 100 ? 1 : 0 });
}
