/**
 * An attention mask as a heatmap: row i = query position, column j = key position, filled where i may
 * attend to j. Transfusion's mask (paper Sec 3.3, Fig 4) is causal everywhere plus full blocks inside each
 * image, which is easy to check by eye here and easy to get subtly wrong in code.
 */
import { ConfigError, ShapeError, mergeConfig, type DeepPartial } from '../config';
import { tf } from '../engine/tf';
import { Figure } from './figure';

export interface MaskHeatmapOptions {
  /** Figure title. Default 'Attention mask'. */
  readonly title: string;
  /** One label per position (e.g. 'T', 'BOI', 'I3', 'EOI') used as tick text; empty = indices. Default []. */
  readonly layoutLabels: readonly string[];
  /** Largest side (px) of the square plot area; cells shrink as L grows. Default 520. */
  readonly size: number;
}

export const DEFAULT_MASK_HEATMAP: MaskHeatmapOptions = { title: 'Attention mask', layoutLabels: [], size: 520 };

/** `mask[i][j]` true/nonzero = query i may attend to key j. */
export type MaskInput = readonly (readonly (boolean | number)[])[] | tf.Tensor;

/** The mask as rows of 0/1; a tensor must be [L, L] (bool or numeric). */
export function maskRows(mask: MaskInput): number[][] {
  if (mask instanceof tf.Tensor) {
    if (mask.rank !== 2 || mask.shape[0] !== mask.shape[1]) throw new ShapeError('maskHeatmap mask', '[L, L]', mask.shape);
    const [length] = mask.shape;
    const values = mask.dataSync();
    return Array.from({ length }, (_, i) => Array.from({ length }, (_, j) => (values[i * length + j] ? 1 : 0)));
  }
  const length = mask.length;
  mask.forEach((row, i) => {
    if (row.length !== length) throw new ShapeError(`maskHeatmap mask row ${i}`, `[${length}] (a square mask)`, [row.length]);
  });
  return mask.map((row) => row.map((v) => (v ? 1 : 0)));
}

export function maskHeatmap(mask: MaskInput, options?: DeepPartial<MaskHeatmapOptions>): Figure {
  const opts = mergeConfig(DEFAULT_MASK_HEATMAP, options, 'maskHeatmap');
  const z = maskRows(mask);
  const length = z.length;
  if (length === 0) throw new ShapeError('maskHeatmap mask', '[L, L] with L >= 1', [0, 0]);
  const labels = opts.layoutLabels;
  if (labels.length > 0 && labels.length !== length) {
    throw new ConfigError('maskHeatmap.layoutLabels', `${labels.length} labels`, `${length} labels, one per position`);
  }
  const positions = Array.from({ length }, (_, i) => i);
  const names = labels.length > 0 ? labels : positions.map(String);
  // Tick every position while labels stay legible; beyond that plotly's automatic ticks on indices.
  const ticks = length <= 48 ? { tickmode: 'array', tickvals: positions, ticktext: names, tickfont: { size: 9 } } : {};
  const hover = z.map((row, i) => row.map((v, j) => `q ${i} (${names[i]}) -> k ${j} (${names[j]}): ${v ? 'attends' : 'masked'}`));
  const trace = {
    type: 'heatmap',
    z,
    x: positions,
    y: positions,
    text: hover,
    hoverinfo: 'text',
    zmin: 0,
    zmax: 1,
    colorscale: [[0, '#f2f2f2'], [1, '#1f4e79']],
    showscale: false,
    // Gaps outline single cells on small masks; on long sequences they would hide the cells themselves.
    ...(length <= 64 ? { xgap: 1, ygap: 1 } : {}),
  };
  const side = Math.min(opts.size, Math.max(200, length * 14));
  // Keys along the top, as a matrix is read; the title sits above the key axis, pinned to the top edge.
  return new Figure([trace], {
    title: { text: opts.title, y: 0.99, yanchor: 'top' },
    width: side + 120,
    height: side + 130,
    xaxis: { title: { text: 'key j' }, side: 'top', ticks: '', constrain: 'domain', ...ticks },
    yaxis: { title: { text: 'query i' }, autorange: 'reversed', ticks: '', scaleanchor: 'x', constrain: 'domain', ...ticks },
    margin: { t: 110, r: 20, b: 20, l: 80 },
  });
}
