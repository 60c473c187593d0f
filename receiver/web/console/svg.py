"""Small charts drawn on the server as inline SVG: no script, no external asset, readable in any browser."""

from __future__ import annotations

from markupsafe import Markup, escape


def sparkline(
    values: list[float], *, width: int = 240, height: int = 36, label: str = "", axis: list[tuple[float, str]] = ()
) -> Markup:
    """A line over equally spaced values (oldest first), with its peak written beside it and, under it, a
    time axis: `axis` is [(position 0..1 along the line, label)]."""
    peak = max(values, default=0.0)
    scale = (height - 4) / peak if peak else 0.0
    step = width / max(len(values) - 1, 1)
    points = " ".join(f"{i * step:.1f},{height - 2 - v * scale:.1f}" for i, v in enumerate(values))
    ticks = "".join(
        f'<line x1="{at * width:.1f}" y1="{height - 2}" x2="{at * width:.1f}" y2="{height + 2}" stroke="#8c959f"/>'
        f'<text x="{at * width:.1f}" y="{height + 13}" font-size="10" fill="#667085" '
        f'text-anchor="{"start" if at == 0 else "end" if at == 1 else "middle"}">{escape(text)}</text>'
        for at, text in axis
    )
    total = height + (16 if axis else 0)
    return Markup(
        f'<svg width="{width + 90}" height="{total}" role="img" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>"
        f'<line x1="0" y1="{height - 2}" x2="{width}" y2="{height - 2}" stroke="#d8dce3"/>'
        f'<polyline fill="none" stroke="#2f6feb" stroke-width="1.5" points="{points}"/>{ticks}'
        f'<text x="{width + 4}" y="12" font-size="11" fill="#667085">peak {peak:.1f}/min</text></svg>'
    )


def bars(groups: list[tuple[str, list[tuple[str, float, str]]]], *, width: int = 640, bar: int = 18) -> Markup:
    """Horizontal grouped bars: [(group label, [(series, value, colour), ...]), ...], one row per series."""
    peak = max((v for _, series in groups for _, v, _ in series), default=0.0) or 1.0
    label_w, rows, y = 220, [], 0
    for group, series in groups:
        rows.append(f'<text x="0" y="{y + 14}" font-size="14" font-weight="600">{escape(group)}</text>')
        y += 18
        for name, value, colour in series:
            w = (width - label_w - 60) * value / peak
            rows.append(
                f'<text x="8" y="{y + bar - 4}" font-size="13" fill="#404854">{escape(name)}</text>'
                f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar - 2}" fill="{colour}">'
                f"<title>{escape(group)} {escape(name)}: {value:g}</title></rect>"
                f'<text x="{label_w + w + 4:.1f}" y="{y + bar - 4}" font-size="13">{value:g}</text>'
            )
            y += bar
        y += 6
    return Markup(f'<svg width="{width}" height="{y}" role="img" aria-label="bar chart">{"".join(rows)}</svg>')
