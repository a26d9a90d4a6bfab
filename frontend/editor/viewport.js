// Where the canvas looks when a flow opens (or is imported): the whole graph when it fits at a
// readable zoom, else the start of the graph at that zoom (labels stay legible; the rest is a
// pan or the minimap away), never a graph shrunk to unreadable boxes.

// Below this the node labels (0.82rem) fall under about 9 px.
export const READABLE_ZOOM = 0.7;
const MAX_ZOOM = 1;
const PADDING = 32;

function span(rects) {
  const x0 = Math.min(...rects.map((r) => r.x));
  const y0 = Math.min(...rects.map((r) => r.y));
  const x1 = Math.max(...rects.map((r) => r.x + r.width));
  const y1 = Math.max(...rects.map((r) => r.y + r.height));
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/**
 * The viewport ``{x, y, zoom}`` for node boxes ``rects`` (flow coordinates, ``{x, y, width,
 * height}``) on a canvas of ``box`` (``{width, height}`` in pixels): fitted and centred with a
 * zoom of at most 1 when that zoom is at least ``READABLE_ZOOM``; else at ``READABLE_ZOOM`` with
 * the graph's left edge (where flows start: they read left to right) at the canvas's left, and
 * vertically the whole graph centred if it fits, else the nodes in view centred, else their top.
 * Null when there is nothing to show or no canvas yet.
 */
export function readableViewport(rects, box) {
  if (!rects.length || !box.width || !box.height) return null;
  const all = span(rects);
  const room = { width: Math.max(box.width - 2 * PADDING, 1), height: Math.max(box.height - 2 * PADDING, 1) };
  const fit = Math.min(room.width / Math.max(all.width, 1), room.height / Math.max(all.height, 1), MAX_ZOOM);
  if (fit >= READABLE_ZOOM) {
    return {
      zoom: fit,
      x: box.width / 2 - (all.x + all.width / 2) * fit,
      y: box.height / 2 - (all.y + all.height / 2) * fit,
    };
  }
  const zoom = READABLE_ZOOM;
  const x = PADDING - all.x * zoom;
  const centre = (r) => box.height / 2 - (r.y + r.height / 2) * zoom;
  if (all.height * zoom <= room.height) return { zoom, x, y: centre(all) };
  const visible = rects.filter((r) => r.x * zoom + x < box.width);
  const first = span(visible.length ? visible : rects);
  if (first.height * zoom <= room.height) return { zoom, x, y: centre(first) };
  return { zoom, x, y: PADDING - first.y * zoom };
}
