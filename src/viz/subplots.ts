/**
 * Side-by-side panels in one plotly figure, and the colours that tie a series across panels.
 *
 * plotly.js has no subplot helper (plotly.py's `make_subplots` builds exactly this): each panel is an
 * x/y axis pair with a `domain` (its fraction of the figure) and an `anchor` to its partner axis. A trace
 * goes to a panel by naming that pair (`{ xaxis: 'x2', yaxis: 'y2' }`).
 */
import { ConfigError } from '../config';

/** plotly's default colourway (D3 category10), so a series has the same colour in every panel. */
export const PALETTE: readonly string[] = [
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd',
  '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf',
];

/** The colour of series `i`, cycling through PALETTE. */
export function colorAt(i: number): string {
  return PALETTE[i % PALETTE.length];
}

/** `#rrggbb` with an alpha, for the faint raw line drawn under a smoothed one. */
export function withAlpha(hex: string, alpha: number): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

/** The axis pair a trace names to land in a panel. */
export type PanelAxes = { readonly xaxis: string; readonly yaxis: string };

export interface PanelTitles {
  readonly x?: string;
  readonly y?: string;
  /** Extra axis settings merged into the panel's axes, e.g. `{ y: { type: 'log' } }`. */
  readonly xAxis?: Readonly<Record<string, unknown>>;
  readonly yAxis?: Readonly<Record<string, unknown>>;
}

/** Height in px of one row of panels. */
export const PANEL_ROW_HEIGHT = 320;

/**
 * Lay out `panels.length` panels in rows of `columns` (left to right, top to bottom).
 * Returns the axis pair for each panel and the layout entries (`xaxis`, `xaxis2`, ..., `height`).
 */
export function panelGrid(
  panels: readonly PanelTitles[],
  columns = Math.min(3, panels.length),
): { axes: PanelAxes[]; layout: Record<string, unknown> } {
  if (panels.length === 0) throw new ConfigError('panels', panels, 'at least one panel');
  if (!Number.isInteger(columns) || columns < 1) throw new ConfigError('columns', columns, 'a positive integer');
  const cols = Math.min(columns, panels.length);
  const rows = Math.ceil(panels.length / cols);
  const hgap = cols > 1 ? 0.08 : 0;
  const vgap = rows > 1 ? 0.12 : 0;
  const width = (1 - hgap * (cols - 1)) / cols;
  const height = (1 - vgap * (rows - 1)) / rows;
  const layout: Record<string, unknown> = { height: PANEL_ROW_HEIGHT * rows + 60 };
  const axes = panels.map((panel, i) => {
    const row = Math.floor(i / cols);
    const col = i % cols;
    const suffix = i === 0 ? '' : String(i + 1);
    const x0 = col * (width + hgap);
    const y1 = 1 - row * (height + vgap);
    layout[`xaxis${suffix}`] = {
      domain: [x0, Math.min(1, x0 + width)],
      anchor: `y${suffix}`,
      ...(panel.x === undefined ? {} : { title: { text: panel.x } }),
      ...panel.xAxis,
    };
    layout[`yaxis${suffix}`] = {
      domain: [Math.max(0, y1 - height), y1],
      anchor: `x${suffix}`,
      ...(panel.y === undefined ? {} : { title: { text: panel.y } }),
      ...panel.yAxis,
    };
    return { xaxis: `x${suffix}`, yaxis: `y${suffix}` };
  });
  return { axes, layout };
}
