"""Small charts drawn on the server as inline SVG: no script, no external asset, readable in any browser."""

from __future__ import annotations

from markupsafe import Markup, escape


def sparkline(values: list[float], *, width: int = 240, height: int = 36, label: str = "") -> Markup:
    """A line over equally spaced values (oldest first), with its peak written beside it."""
    peak = max(values, default=0.0)
    scale = (height - 4) / peak if peak else 0.0
    step = width / max(len(values) - 1, 1)
    points = " ".join(f"{i * step:.1f},{height - 2 - v * scale:.1f}" for i, v in enumerate(values))
    return Markup(
        f'<svg width="{width + 90}" height="{height}" role="img" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>"
        f'<line x1="0" y1="{height - 2}" x2="{width}" y2="{height - 2}" stroke="#d8dce3"/>'
        f'<polyline fill="none" stroke="#2f6feb" stroke-width="1.5" points="{points}"/>'
        f'<text x="{width + 4}" y="12" font-size="11" fill="#667085">peak {peak:.1f}/min</text></svg>'
    )


def bars(groups: list[tuple[str, list[tuple[str, float, str]]]], *, width: int = 560, bar: int = 14) -> Markup:
    """Horizontal grouped bars: [(group label, [(series, value, colour), ...]), ...], one row per series."""
    peak = max((v for _, series in groups for _, v, _ in series), default=0.0) or 1.0
    label_w, rows, y = 190, [], 0
    for group, series in groups:
        rows.append(f'<text x="0" y="{y + 11}" font-size="11" font-weight="600">{escape(group)}</text>')
        y += 14
        for name, value, colour in series:
            w = (width - label_w - 60) * value / peak
            rows.append(
                f'<text x="8" y="{y + bar - 3}" font-size="11" fill="#667085">{escape(name)}</text>'
                f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar - 2}" fill="{colour}">'
                f"<title>{escape(group)} {escape(name)}: {value:g}</title></rect>"
                f'<text x="{label_w + w + 4:.1f}" y="{y + bar - 3}" font-size="11">{value:g}</text>'
            )
            y += bar
        y += 6
    return Markup(f'<svg width="{width}" height="{y}" role="img" aria-label="bar chart">{"".join(rows)}</svg>')
